"""Vietnamese text normalisation for social posts.

Everything downstream (classifier, locator, de-dup) works on the output of :func:`clean` and
compares words with :func:`fold` or :func:`tokenize`, so that text typed without diacritics
("cay do", "ngap nuoc") matches the same phrases as text typed with them ("cây đổ", "ngập nước").

- :func:`nfc` — Unicode NFC, invisible characters removed, spaces collapsed.
- :func:`fold` — lowercase without diacritics (đ → d): the diacritics-insensitive key.
- :func:`expand_abbreviations` — "q1"/"q.1" → "quận 1", "p." → "phường", "đ." → "đường",
  "tphcm"/"tp.hcm"/"sg"/"hcm" → "thành phố hồ chí minh", "ko"/"k" → "không", ...
- :func:`clean` — the whole chain: NFC, HTML entities, URLs and @mentions removed, hashtags
  turned into their words, abbreviations expanded.
- :func:`tokenize` — word tokens with their folded form and a *mark signature*. A token matches a
  lexicon word when the folded forms are equal and the marks agree, wherever the tone mark sits
  ("hoà" = "hòa"; "ngáp" (yawn) ≠ "ngập" (flooded)); in a text typed without diacritics an unmarked
  token matches any marks ("ngap" = "ngập"). Whether a text was typed without diacritics is judged
  on the whole text (:func:`typed_without_diacritics`), so "Minh" in "Hồ Chí Minh" is not "mình".
- :func:`author_hash`, :func:`is_retweet`, :func:`text_fingerprint`.
"""
from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "nfc", "fold", "has_diacritics", "expand_abbreviations", "strip_urls", "clean",
    "Token", "tokenize", "token_matches", "mark_signature", "typed_without_diacritics",
    "author_hash", "is_retweet", "text_fingerprint", "Doc", "analyse", "doc_of_tokens",
]

_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_NEWLINE = re.compile(r" *\n *")


def nfc(text: str) -> str:
    """NFC-normalise, drop zero-width/format characters, collapse runs of spaces (keeps newlines)."""
    text = unicodedata.normalize("NFC", text)
    if not text.isascii():  # the invisible characters and the odd spaces are all outside ASCII
        text = _INVISIBLE.sub("", text)
        text = _SPACES.sub(" ", text)
    elif "  " in text or "\t" in text:
        text = _SPACES.sub(" ", text)
    if "\n" in text:
        text = _NEWLINE.sub("\n", text)
    return text.strip()


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in "đĐ":
        return "d"
    base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    return base.lower()


def _fold_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for cp in list(range(0xC0, 0x250)) + list(range(0x1E00, 0x1F00)):
        ch = chr(cp)
        f = _fold_char(ch)
        if f != ch:
            table[cp] = f
    for cp in range(0x300, 0x370):  # stray combining marks
        table[cp] = None
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        table[ord(ch)] = ch.lower()
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    """Lowercase, without diacritics, đ → d: "Đường Nguyễn Hữu Cảnh NGẬP" → "duong nguyen huu canh ngap"."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text.translate(_FOLD).lower()


@lru_cache(maxsize=65536)
def mark_signature(word: str) -> str:
    """The diacritics of a word, independent of where the tone mark sits: "" when typed without.

    "hoà" and "hòa" give the same signature; "ngập" and "ngáp" do not.
    """
    marks = sorted(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.combining(c))
    if "đ" in word.lower():
        marks.append("đ")
    return "".join(marks)


def has_diacritics(text: str) -> bool:
    return fold(text) != text.lower()


# ---- URLs, mentions, hashtags ---------------------------------------------------------------------
_URL = re.compile(r"(?:https?://|www\.)\S+|\b(?:pic\.twitter\.com|t\.co|bit\.ly|fb\.me)/\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@[\w.]+")
_HASHTAG = re.compile(r"#([^\W_][\w]*)")


def strip_urls(text: str) -> str:
    if "/" not in text and "www." not in text.lower():  # every URL pattern needs one of them
        return text
    return _URL.sub(" ", text)


def _hashtag_words(m: re.Match) -> str:
    tag = m.group(1).replace("_", " ")
    # "#NgậpNước" → "Ngập Nước"; an all-lowercase tag ("#ngapnuoc") cannot be split without a dictionary
    if not tag.isupper():
        tag = "".join(" " + c if c.isupper() and i and tag[i - 1].isalpha() and not tag[i - 1].isupper() else c
                      for i, c in enumerate(tag))
    return f" {tag} "


# ---- abbreviations ----------------------------------------------------------------------------------
# (pattern, replacement); applied in order, case-insensitively, on NFC text. Boundaries are explicit
# because "\b" treats digits as word characters ("q1") and we need "q1" to be one unit.
_W = r"[^\W_]"  # a letter or digit
_L = r"[^\W\d_]"  # a letter
_B0 = rf"(?<!{_W})"  # not preceded by a letter/digit
_B1 = rf"(?!{_W})"  # not followed by a letter/digit
_HCM = "thành phố hồ chí minh"
_ABBREVIATIONS: list[tuple[str, str]] = [
    # the city
    (rf"{_B0}(?:tp|thành phố|thanh pho)\s*\.?\s*(?:hcm|hồ chí minh|ho chi minh){_B1}", _HCM),
    (rf"{_B0}(?:tphcm|hcmc|hcm|sg){_B1}", _HCM),
    (rf"{_B0}tp\s*\.\s*(?={_L})|{_B0}tp\s+(?={_L})", "thành phố "),
    (rf"{_B0}tx\s*\.\s*(?={_L})", "thị xã "),
    # districts and wards: "q1", "q.1", "Q. 3", "Q.Bình Thạnh", "p.5", "P5", "P.Bến Thành", "F5" is not expanded
    (rf"{_B0}q\s*\.\s*(\d{{1,2}}){_B1}|{_B0}q(\d{{1,2}}){_B1}", "quận {n}"),
    (rf"{_B0}q\s*\.\s*(?={_L})", "quận "),
    (rf"{_B0}p\s*\.\s*(\d{{1,2}}){_B1}|{_B0}p(\d{{1,2}}){_B1}", "phường {n}"),
    (rf"{_B0}p\s*\.\s*(?={_L})", "phường "),
    (rf"{_B0}h\s*\.\s*(?={_L})", "huyện "),
    (rf"{_B0}x\s*\.\s*(?={_L})", "xã "),
    (rf"{_B0}kp\s*\.?\s*(\d{{1,3}}){_B1}", "khu phố {n}"),
    # roads: "đ.", "ql1a", "QL.13", "tl10"
    (rf"{_B0}đ\s*\.\s*(?={_W})", "đường "),
    (rf"{_B0}ql\s*\.?\s*(\d{{1,3}}[a-z]?){_B1}", "quốc lộ {n}"),
    (rf"{_B0}tl\s*\.?\s*(\d{{1,3}}[a-z]?){_B1}", "tỉnh lộ {n}"),
    # chat spellings; "k" only when it stands alone and is not "50 k" (thousand dong)
    (rf"{_B0}(?:ko|kh|khg|khum|hok|hong|k0){_B1}", "không"),
    (rf"(?<!\d )(?<!\d){_B0}k{_B1}(?!\s*\d)", "không"),
    (rf"{_B0}(?:dc|đc|dk|đk){_B1}(?=\s+\S)", "được"),
    (rf"{_B0}ng\s*\.\s*(?={_L})", "{ng.}"),  # "Ng. Hữu Cảnh" → "Nguyễn Hữu Cảnh" (before a capital)
    (rf"{_B0}ng{_B1}(?=\s+{_L})", "{ng}"),  # "ng đi đường" → "người đi đường" (lowercase only)
    (rf"{_B0}mn{_B1}", "mọi người"),
    (rf"{_B0}nc{_B1}", "nước"),
    (rf"{_B0}vs{_B1}", "với"),
    (rf"{_B0}r{_B1}(?!\s*\d)", "rồi"),
]
# What each pattern above needs in the lowercased text (every group: one of its strings), so that most
# patterns are skipped without a regex scan. A pattern matches only text that has all it needs.
_ABBR_NEEDS: list[tuple[tuple[str, ...], ...]] = [
    (("hcm", "minh"),), (("hcm", "sg"),), (("tp",),), (("tx",),),
    (("q",),), (("q",), (".",)), (("p",),), (("p",), (".",)), (("h",), (".",)), (("x",), (".",)), (("kp",),),
    (("đ",), (".",)), (("ql",),), (("tl",),),
    (("ko", "kh", "hok", "hong", "k0"),), (("k",),), (("dc", "đc", "dk", "đk"),), (("ng",), (".",)), (("ng",),),
    (("mn",),), (("nc",),), (("vs",),), (("r",),),
]
assert len(_ABBR_NEEDS) == len(_ABBREVIATIONS)
# re.IGNORECASE also lets "ı" match "i" and "ſ" match "s" ("K" and "İ" lowercase to k and i already)
_RE_CASE = str.maketrans({"ı": "i", "ſ": "s"})


def _replace(repl: str):
    def sub(m: re.Match) -> str:
        if repl in ("{ng.}", "{ng}"):
            after = m.string[m.end():].lstrip()
            nxt = after[:1]
            if repl == "{ng.}":
                return "Nguyễn " if nxt.isupper() else m.group(0)
            return "người" if m.group(0) == "ng" and nxt.islower() else m.group(0)
        if "{n}" in repl:
            n = next(g for g in m.groups() if g is not None)
            return repl.replace("{n}", n.lower())
        return repl
    return sub


_ABBR_COMPILED = [(re.compile(p, re.IGNORECASE), _replace(r), needs) for (p, r), needs in zip(_ABBREVIATIONS, _ABBR_NEEDS)]


def expand_abbreviations(text: str) -> str:
    """Expand the abbreviations people type ("q1", "p.", "đ.", "tphcm", "sg", "ko", ...).

    Works on text with or without diacritics; the expansion is written with diacritics.
    "dk"/"đc" (được) and "k" are expanded only as stand-alone words: "50k" and "50 k" stay.
    """
    low = text.lower().translate(_RE_CASE)
    for rx, sub, needs in _ABBR_COMPILED:
        for group in needs:
            for n in group:
                if n in low:
                    break
            else:
                break  # a group with none of its strings: the pattern cannot match
        else:
            new = rx.sub(sub, text)
            if new != text:
                text, low = new, new.lower().translate(_RE_CASE)
    return text


def clean(text: str) -> str:
    """Normalise a post for matching: NFC, entities, URLs/mentions removed, hashtags to words,
    abbreviations expanded, whitespace collapsed. Keeps case and diacritics."""
    text = nfc(html.unescape(text or ""))
    first = text
    text = strip_urls(text)
    if text.lstrip()[:2].lower() == "rt":
        text = _RT_PREFIX.sub("", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    if "#" in text:
        text = _HASHTAG.sub(_hashtag_words, text)
    text = expand_abbreviations(text)
    return text if text is first or text == first else nfc(text)


# ---- tokens -------------------------------------------------------------------------------------------
# A number like "3/2", "247/26" or "1.5" is one token; punctuation followed by a space (or the end), a
# comma, a newline, brackets and quotes are break tokens that phrase matching does not cross.
_TOKEN = re.compile(r"\d+(?:[/.,]\d+)*[^\W_]*|[^\W_]+|[.!?;:…]+(?=\s|$)|,|\n+|[()\[\]\"“”]")
_BREAK_CHARS = set(".,!?;:…\n()[]\"“”")
_WORD = re.compile(r"[^\W\d_]+")
# Below this share of words carrying diacritics, a text counts as typed without them. Vietnamese written
# with diacritics has well over half of its syllables marked (ư ơ â ê ô ă đ or a tone).
LOOSE_BELOW = 0.35


# Each distinct word is analysed once (the vocabulary of posts is small); a cache is dropped when it grows
# past _WORD_CACHE_MAX entries, so a long run cannot grow it without bound.
_WORD_CACHE_MAX = 200_000
_marked_cache: dict[str, bool] = {}  # word → written with diacritics


def typed_without_diacritics(text: str) -> bool:
    """Was this text typed without diacritics ("cay do o duong Le Loi")? Judge it on the raw text,
    before abbreviation expansion adds diacritics of its own."""
    text = strip_urls(unicodedata.normalize("NFC", text or ""))
    if "@" in text:
        text = _MENTION.sub(" ", text)
    words = _WORD.findall(text)
    if not words:
        return True
    marked = 0
    for w in words:
        m = _marked_cache.get(w)
        if m is None:
            if len(_marked_cache) >= _WORD_CACHE_MAX:
                _marked_cache.clear()
            m = _marked_cache[w] = fold(w) != w.lower()
        marked += m
    return marked / len(words) < LOOSE_BELOW


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # as written, lowercased
    fold: str  # folded (no diacritics)
    marks: str  # mark signature ("" when the word has no diacritics)
    start: int  # character offsets in the tokenised string
    end: int
    brk: bool  # a break: phrases never span it
    loose: bool = False  # written without diacritics in a text typed without them: matches any marks


_word_cache: dict[str, tuple[str, str, str]] = {}


def _word(s: str) -> tuple[str, str, str]:
    """(lowercased, folded, mark signature) of a token; (itself, None, "") for a break."""
    got = _word_cache.get(s)
    if got is None:
        if len(_word_cache) >= _WORD_CACHE_MAX:
            _word_cache.clear()
        if s[0] in _BREAK_CHARS:
            got = (s, None, "")
        else:
            low = s.lower()
            got = (low, fold(low), mark_signature(low))
        _word_cache[s] = got
    return got


@dataclass(frozen=True, slots=True)
class Doc:
    """A post analysed once for the classifier and the locator: the cleaned text and its tokens, as parallel
    tuples (the phrase matcher reads them without building an object per token)."""
    cleaned: str
    loose: bool  # typed without diacritics
    texts: tuple[str, ...]  # each token as written, lowercased
    folds: tuple[str | None, ...]  # folded form; None for a break token
    marks: tuple[str, ...]  # mark signature
    lax: tuple[bool, ...]  # Token.loose: matches any marks
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @property
    def tokens(self) -> tuple[Token, ...]:
        return tuple(Token(t, t if f is None else f, m, a, b, f is None, x)
                     for t, f, m, x, a, b in zip(self.texts, self.folds, self.marks, self.lax, self.starts, self.ends))


def _scan(text: str, loose: bool) -> Doc:
    words = []
    append = words.append
    for m in _TOKEN.finditer(text):
        s = m.group()
        low, f, mk = _word(s)  # a break token gives (itself, None, "")
        append((low, f, mk, loose and f is not None and not mk, *m.span()))
    if not words:
        return Doc(text, loose, (), (), (), (), (), ())
    return Doc(text, loose, *zip(*words))


def doc_of_tokens(tokens, cleaned: str = "") -> Doc:
    """A Doc from Token objects (for callers that tokenised themselves)."""
    tokens = list(tokens)
    return Doc(cleaned, any(t.loose for t in tokens), tuple(t.text for t in tokens),
               tuple(None if t.brk else t.fold for t in tokens), tuple(t.marks for t in tokens),
               tuple(t.loose for t in tokens), tuple(t.start for t in tokens), tuple(t.end for t in tokens))


def tokenize(text: str, loose: bool | None = None) -> list[Token]:
    """Tokens of `text`. `loose`: whether the text was typed without diacritics (default: judged on
    `text`; pass the judgement on the raw post when `text` is the cleaned, expanded form)."""
    if loose is None:
        loose = typed_without_diacritics(text)
    return list(_scan(text, loose).tokens)


def token_matches(tok: Token, word_fold: str, word_marks: str) -> bool:
    """Does a text token match a lexicon word? Folded forms are equal and the diacritics agree (wherever
    the tone mark sits) — unless the text was typed without diacritics and this word has none."""
    return (not tok.brk) and tok.fold == word_fold and (tok.loose or tok.marks == word_marks)


@lru_cache(maxsize=8192)
def analyse(text: str) -> Doc:
    """clean + tokenize, judged for diacritics on the raw text; cached (the classifier, the locator and the
    de-duplication all look at the same post)."""
    return _scan(clean(text), typed_without_diacritics(text))


# ---- authors, retweets, re-posts --------------------------------------------------------------------
def author_hash(author: str | None, salt: str) -> str | None:
    """sha256 hex of salt + author. The handle is NFC-normalised, stripped, lowercased and loses a
    leading "@" first, so "@Tram_Anh" and "tram_anh" (the same X account) hash alike."""
    if author is None or not str(author).strip():
        return None
    a = unicodedata.normalize("NFC", str(author)).strip().lstrip("@").lower()
    return hashlib.sha256((salt + a).encode("utf-8")).hexdigest()


_RT_PREFIX = re.compile(r"^\s*RT\s*:?\s*(?=@)|^\s*RT\s*:\s*", re.IGNORECASE)
_RT = re.compile(r"^\s*(?:RT\s*:?\s*@[\w.]+|RT\s*:)", re.IGNORECASE)


def is_retweet(text: str | None) -> bool:
    """True for a classic retweet/re-share: the text starts with "RT @user" or "RT:"."""
    return bool(text) and bool(_RT.match(nfc(text)))


def text_fingerprint(text: str) -> str:
    """A key for exact re-posts: the cleaned, folded text with punctuation and spacing ignored."""
    words = [f for f in analyse(text).folds if f is not None]
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()

"""Vietnamese text normalisation for social posts.

Everything downstream (classifier, locator, de-dup) works on the output of :func:`clean` and
compares words with :func:`fold` or :func:`tokenize`, so that text typed without diacritics
("cay do", "ngap nuoc") matches the same phrases as text typed with them ("cây đổ", "ngập nước").

- :func:`nfc` — Unicode NFC, invisible characters removed, spaces collapsed.
- :func:`fold` — lowercase without diacritics (đ → d): the diacritics-insensitive key.
- :func:`expand_abbreviations` — "q1"/"q.1" → "quận 1", "p." → "phường", "đ." → "đường",
  "tphcm"/"tp.hcm"/"sg"/"hcm" → "thành phố hồ chí minh", "tdm" → "Thủ Dầu Một", "ko"/"k" → "không", ...
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
from itertools import accumulate
from typing import NamedTuple, TypeVar

__all__ = [
    "nfc", "fold", "has_diacritics", "expand_abbreviations", "strip_urls", "clean",
    "Token", "tokenize", "Caseless", "token_matches", "mark_signature", "typed_without_diacritics",
    "author_hash", "is_retweet", "text_fingerprint", "Doc", "analyse", "doc_of_tokens",
]

_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
_SP = r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]"
# a run of spaces other than one plain " " (that one would be replaced by itself: most of a post's spaces)
_SPACES = re.compile(rf" {_SP}+|[\t\u00a0\u2000-\u200a\u202f\u205f\u3000]{_SP}*")
_PLAIN_SPACES = re.compile("  +")
_NEWLINE = re.compile(r" *\n *")
# an invisible character, or a space other than " " (with "  " in text: what _SPACES would change); one class and
# no alternation, so that the engine scans for it without trying a match at every position
_ODD_CHAR = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad\t\u00a0\u2000-\u200a\u202f\u205f\u3000]")

_V = TypeVar("_V")
_LAST_LOWER = ("", "")  # (text, _re_lower(text)) of the last call: one post's text is searched several times


def _re_lower(text: str) -> str:
    """Lowercase as re.IGNORECASE compares: it also lets "ı" match "i" and "ſ" match "s" ("K" and "İ" lowercase to
    k and i already). (str.replace: a translate table is slow on non-ASCII text.)"""
    global _LAST_LOWER
    last, low = _LAST_LOWER
    if last is text:
        return low
    low = text.lower()
    if "ı" in low or "ſ" in low:
        low = low.replace("ı", "i").replace("ſ", "s")
    _LAST_LOWER = (text, low)
    return low


# Memos of words and of the pieces between spaces (which recur from post to post far more than whole posts do) are
# plain dicts, read inline in the hot loops (`got = memo.get(key)`, then `_..._miss(key)` on a miss): a dict lookup,
# with no Python call, unlike lru_cache.
def _keep(memo: dict[str, _V], key: str, value: _V, bound: int) -> _V:
    """memo[key] = value, kept; the memo is emptied first when it reaches its bound."""
    if len(memo) >= bound:
        memo.clear()
    memo[key] = value
    return value


class Caseless:
    """A lowercase pattern matched regardless of case. `re` runs an IGNORECASE pattern about three times slower, so
    it runs case-sensitively on the lowercased text whenever lowercasing keeps every character in place (all but
    a few exotic texts). Positions refer to the text given; use them, as group() may be the lowercased text."""
    __slots__ = ("_low", "_any")

    def __init__(self, pattern: str):
        self._low, self._any = re.compile(pattern), re.compile(pattern, re.IGNORECASE)

    @property
    def low_pattern(self) -> re.Pattern:
        """The pattern that runs on lowercased text."""
        return self._low

    def finditer(self, text: str, pos: int = 0):
        low = _re_lower(text)
        return self._low.finditer(low, pos) if len(low) == len(text) else self._any.finditer(text, pos)

    def finditer_at(self, text: str, starts):
        """What finditer(text) gives, for a pattern whose every match begins at one of `starts` (ascending): the
        pattern is tried there only (a pattern that begins with a lookbehind is otherwise tried at every position)."""
        low = _re_lower(text)
        if len(low) != len(text):
            yield from self._any.finditer(text)
            return
        end = 0
        for pos in starts:
            if pos >= end and (m := self._low.match(low, pos)):
                yield m
                end = m.end()


def nfc(text: str) -> str:
    """NFC-normalise, drop zero-width/format characters, collapse runs of spaces (keeps newlines)."""
    text = unicodedata.normalize("NFC", text)
    if _ODD_CHAR.search(text):  # rare: most posts need neither pass
        text = _INVISIBLE.sub("", text)
        text = _SPACES.sub(" ", text)
    elif "  " in text:  # only plain spaces: what _SPACES does to them, with a pattern the engine finds faster
        text = _PLAIN_SPACES.sub(" ", text)
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
    if "/" not in text and ("." not in text or "www." not in text.lower()):  # every URL pattern needs one of them
        return text
    return _URL.sub(" ", text)


def _hashtag_words(m: re.Match) -> str:
    tag = m.group(1).replace("_", " ")
    # "#NgậpNước" → "Ngập Nước"; an all-lowercase tag ("#ngapnuoc") cannot be split without a dictionary
    if not tag.isupper() and any(map(str.isupper, tag)):
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
_HONG_BEFORE = ("le", "lê", "pham", "phạm", "nguyen", "nguyễn", "tran", "trần", "van", "văn", "thi", "thị", "ngoc", "ngọc",
                "bui", "bùi", "hoa", "song", "sông", "cau", "cầu", "chợ", "cho", "duong", "đường")
_HONG_AFTER = ("phong", "bang", "bàng", "thai", "thái", "dao", "đào", "ha", "hà", "nhung", "kong", "kông", "linh", "lĩnh",
               "son", "sơn", "quan", "quân", "lac", "lạc", "ngu", "ngự", "tham", "thắm")
_ABBREVIATIONS: list[tuple[str, str]] = [
    # the city
    (rf"{_B0}(?:tp|thành phố|thanh pho)\s*\.?\s*(?:hcm|hồ chí minh|ho chi minh){_B1}", _HCM),
    (rf"{_B0}(?:tphcm|hcmc|hcm|sg){_B1}", _HCM),
    (rf"{_B0}tp\s*\.\s*(?={_L})|{_B0}tp\s+(?={_L})", "thành phố "),
    (rf"{_B0}tx\s*\.\s*(?={_L})", "thị xã "),
    (rf"{_B0}tdm{_B1}", "Thủ Dầu Một"),
    # districts and wards: "q1", "q.1", "Q. 3", "Q.Bình Thạnh", "p.5", "P5", "P.Bến Thành", "F5" is not expanded
    (rf"{_B0}q\s*\.\s*(\d{{1,2}}){_B1}|{_B0}q(\d{{1,2}}){_B1}", "quận {n}"),
    (rf"{_B0}q\s*\.?\s*(bt|gv|pn|tb|btan|td){_B1}", "{district}"),  # "q.bt", "qgv": only after q ("bt" is also bình thường)
    (rf"{_B0}q\s*\.\s*(?={_L})", "quận "),
    (rf"{_B0}p\s*\.\s*(\d{{1,2}}){_B1}|{_B0}p(\d{{1,2}}){_B1}", "phường {n}"),
    (rf"{_B0}p\s*\.\s*(?={_L})", "phường "),
    # "p Bến Thành", "q Gò Vấp": a lone p/q before a capitalised name (not "5 p" = five minutes)
    (rf"(?<!\d )(?<!\d){_B0}p\s+(?=(?-i:[A-ZĐ]))", "phường "),
    (rf"(?<!\d )(?<!\d){_B0}q\s+(?=(?-i:[A-ZĐ]))", "quận "),
    (rf"{_B0}h\s*\.\s*(?={_L})", "huyện "),
    (rf"{_B0}x\s*\.\s*(?={_L})", "xã "),
    (rf"{_B0}kp\s*\.?\s*(\d{{1,3}}){_B1}", "khu phố {n}"),
    # roads: "đ.", "ql1a", "QL.13", "tl10"
    (rf"{_B0}đ\s*\.\s*(?={_W})", "đường "),
    (rf"{_B0}ql\s*\.?\s*(\d{{1,3}}[a-z]?){_B1}", "quốc lộ {n}"),
    (rf"{_B0}tl\s*\.?\s*(\d{{1,3}}[a-z]?){_B1}", "tỉnh lộ {n}"),
    # chat spellings; "k" only when it stands alone and is not "50 k" (thousand dong)
    (rf"{_B0}(?:ko|kh|khg|khum|hok|k0){_B1}", "không"),
    # "hong" is "không" in chat, and "Hồng" typed without diacritics in a name: "le hong phong", "hong bang"
    ("".join(f"(?<!{w} )" for w in _HONG_BEFORE) + rf"{_B0}hong{_B1}(?!\s+(?:{'|'.join(_HONG_AFTER)}){_B1})", "không"),
    (rf"(?<!\d )(?<!\d){_B0}k{_B1}(?!\s*\d)", "không"),
    (rf"{_B0}(?:dc|đc|dk|đk){_B1}(?=\s+\S)", "được"),
    (rf"{_B0}ng\s*\.\s*(?={_L})", "{ng.}"),  # "Ng. Hữu Cảnh" → "Nguyễn Hữu Cảnh" (before a capital)
    (rf"{_B0}ng{_B1}(?=\s+{_L})", "{ng}"),  # "ng đi đường" → "người đi đường" (lowercase only)
    (rf"{_B0}mn{_B1}", "mọi người"),
    (rf"{_B0}nc{_B1}", "nước"),
    (rf"{_B0}vs{_B1}", "với"),
    (rf"{_B0}r{_B1}(?!\s*\d)", "rồi"),
]
# Every pattern above starts at the beginning of a word (a run of letters/digits); these say which whole words
# can begin a match of each pattern. Each pattern is tried only where such a word starts (re.match there finds what
# re.sub would: lookbehinds see the text before the position), so most posts need no pass over the text at all.
_ABBR_FIRST_WORD: list[str] = [
    r"tp(?:hcm|hồ|ho)?|thành|thanh", r"tphcm|hcmc|hcm|sg", r"tp", r"tx", r"tdm",
    r"q\d{0,2}", r"q|q(?:bt|gv|pn|tb|btan|td)", r"q", r"p\d{0,2}", r"p", r"p", r"q", r"h", r"x", r"kp\d{0,3}",
    r"đ", r"ql(?:\d{1,3}[a-z]?)?", r"tl(?:\d{1,3}[a-z]?)?",
    r"ko|kh|khg|khum|hok|k0", r"hong", r"k", r"dc|đc|dk|đk", r"ng", r"ng",
    r"mn", r"nc", r"vs", r"r",
]
assert len(_ABBR_FIRST_WORD) == len(_ABBREVIATIONS)
# (The lookbehind keeps the engine from stopping inside words: "ng", "h", "p" end many Vietnamese words.)
_ABBR_WORDS = Caseless(rf"{_B0}(?:{'|'.join(_ABBR_FIRST_WORD)}){_B1}")
_ABBR_FIRST_RX = [re.compile(w) for w in _ABBR_FIRST_WORD]


# A piece of lowercased text between two spaces → does a word in it begin a match of _ABBR_WORDS? No match spans a
# space and a space is no letter for its boundaries, so a text has a match iff one of its pieces has: a dict lookup
# per piece instead of the pattern tried at every position of every post.
_ABBR_PIECES: dict[str, bool] = {}


def _abbr_piece(piece: str) -> bool:
    got = _ABBR_PIECES.get(piece)
    return _keep(_ABBR_PIECES, piece, _ABBR_WORDS.low_pattern.search(piece) is not None, 100_000) if got is None else got


@lru_cache(maxsize=4096)
def _abbr_patterns(word: str) -> tuple[int, ...]:
    """The patterns a match of which can begin with this word (lowercased)."""
    return tuple(i for i, rx in enumerate(_ABBR_FIRST_RX) if rx.fullmatch(word))


def _abbr_todo(text: str, after: int = -1) -> dict[int, list[int]]:
    """Pattern index (> `after`) → where the words that can begin one of its matches start, in text order."""
    low = _re_lower(text)
    if len(low) == len(text):  # Caseless would search `low`: search only its pieces that can hold a match
        words: list[tuple[int, str]] = []
        pos = 0  # where the piece starts
        for piece in low.split(" "):
            if _abbr_piece(piece):
                words += [(pos + m.start(), m.group()) for m in _ABBR_WORDS.low_pattern.finditer(piece)]
            pos += len(piece) + 1
    else:
        words = [(m.start(), m.group()) for m in _ABBR_WORDS.finditer(text)]
    todo: dict[int, list[int]] = {}
    for start, word in words:
        for i in _abbr_patterns(_re_lower(word)):
            if i > after:
                todo.setdefault(i, []).append(start)
    return todo


_DISTRICT_ABBR = {"bt": "Bình Thạnh", "gv": "Gò Vấp", "pn": "Phú Nhuận", "tb": "Tân Bình", "btan": "Bình Tân",
                  "td": "Thủ Đức"}


def _replace(repl: str):
    def sub(m: re.Match) -> str:
        if repl == "{district}":
            return "quận " + _DISTRICT_ABBR[m.group(1).lower()]
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


_ABBR_COMPILED = [(re.compile(p, re.IGNORECASE), _replace(r)) for p, r in _ABBREVIATIONS]


def expand_abbreviations(text: str) -> str:
    """Expand the abbreviations people type ("q1", "p.", "đ.", "tphcm", "sg", "ko", ...).

    Works on text with or without diacritics; the expansion is written with diacritics.
    "dk"/"đc" (được) and "k" are expanded only as stand-alone words: "50k" and "50 k" stay.
    The patterns apply in order, each to the text the earlier ones left (as one re.sub each would).
    """
    low = _re_lower(text)
    if len(low) == len(text):  # (Caseless searches the lowercased text then: its pieces are what is searched)
        for piece in low.split(" "):
            if _abbr_piece(piece):
                break
        else:
            return text
    todo = _abbr_todo(text)
    while todo:
        i = min(todo)
        rx, sub = _ABBR_COMPILED[i]
        parts: list[str] = []
        last = 0
        for pos in todo.pop(i):
            if pos >= last and (m := rx.match(text, pos)):
                parts += (text[last:pos], sub(m))
                last = m.end()
        if parts:
            new = "".join(parts) + text[last:]
            if new != text:  # positions moved, and the expansion may bring words of its own: look again
                text = new
                todo = _abbr_todo(text, i)
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
# (Words that begin with a letter, the most common, are tried first: the same tokens, found sooner.)
_TOKEN = re.compile(r"[^\W\d_][^\W_]*|\d+(?:[/.,]\d+)*[^\W_]*|[.!?;:…]+(?=\s|$)|,|\n+|[()\[\]\"“”]")
_TOKEN_SPLIT = re.compile(f"({_TOKEN.pattern})")  # the same tokens, kept between the gaps by re.split
_BREAK_CHARS = set(".,!?;:…\n()[]\"“”")
_WORD = re.compile(r"[^\W\d_]+")
# Below this share of words carrying diacritics, a text counts as typed without them. Vietnamese written
# with diacritics has well over half of its syllables marked (ư ơ â ê ô ă đ or a tone).
LOOSE_BELOW = 0.35


# Words that are written without diacritics in their own right and look like a phrase word with them ("do"
# because / "đổ" fall, "sau" after / "sâu" deep, "cho" / "chó"): never taken for the word with diacritics.
_NOT_STAND_IN = frozenset(
    "do sau cho ma la va vi thi nha ra vao khi con co ban nay nam so hay tai an anh em chi ca hai ba bao tan "
    "tin thu mua cao toi ai kia the ta tay no gi lo nhanh sang ngay lai dan nhu lam mai minh hoa lan linh".split())


# Each distinct word is analysed once (the vocabulary of posts is small; the caches are bounded).
@lru_cache(maxsize=200_000)
def _marked(word: str) -> bool:
    """Written with diacritics?"""
    return fold(word) != word.lower()


def typed_without_diacritics(text: str) -> bool:
    """Was this text typed without diacritics ("cay do o duong Le Loi")? Judge it on the raw text,
    before abbreviation expansion adds diacritics of its own."""
    if not text or text.isascii():  # no word of it carries diacritics
        return True
    text = strip_urls(unicodedata.normalize("NFC", text))
    if "@" in text:
        text = _MENTION.sub(" ", text)
    words = marked = 0
    chunks = _CHUNKS
    for chunk in text.split():
        got = chunks.get(chunk)
        if got is None:
            got = _chunk_miss(chunk)
        words += got[0]
        marked += got[1]
    return not words or marked / words < LOOSE_BELOW


# A piece of text between spaces → its number of words, and of words written with diacritics (a word never spans a
# space).
_CHUNKS: dict[str, tuple[int, int]] = {}


def _chunk_miss(chunk: str) -> tuple[int, int]:
    words = _WORD.findall(chunk)
    return _keep(_CHUNKS, chunk, (len(words), sum(map(_marked, words))), 200_000)


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # as written, lowercased
    fold: str  # folded (no diacritics)
    marks: str  # mark signature ("" when the word has no diacritics)
    start: int  # character offsets in the tokenised string
    end: int
    brk: bool  # a break: phrases never span it
    loose: bool = False  # written without diacritics in a text typed without them: matches any marks


def _analyse_word(s: str) -> tuple[str, str | None, str, bool, bool]:
    """(lowercased, folded, mark signature, matches any marks in a text typed without diacritics, may stand in
    for a word with diacritics in a text typed with them) of a token; (itself, None, "", False, False) for a break."""
    if s[0] in _BREAK_CHARS:
        return s, None, "", False, False
    low = s.lower()
    if s.isascii():  # numbers, words typed without diacritics: folded = lowercased, no marks
        return low, low, "", True, low not in _NOT_STAND_IN and not low[:1].isdigit()
    marks = mark_signature(low)
    f = fold(low)
    return low, f, marks, not marks, not marks and f not in _NOT_STAND_IN and not f[:1].isdigit()


_WORDS: dict[str, tuple[str, str | None, str, bool, bool]] = {}  # each distinct token is analysed once


def _word(s: str) -> tuple[str, str | None, str, bool, bool]:
    got = _WORDS.get(s)
    return _keep(_WORDS, s, _analyse_word(s), 200_000) if got is None else got


class Doc(NamedTuple):
    """A post analysed once for the classifier and the locator: the cleaned text and its tokens, as parallel
    tuples (the phrase matcher reads them without building an object per token). A named tuple: built without
    one object.__setattr__ per field, as a frozen dataclass would."""
    cleaned: str
    loose: bool  # typed without diacritics
    texts: tuple[str, ...]  # each token as written, lowercased
    folds: tuple[str | None, ...]  # folded form; None for a break token
    marks: tuple[str, ...]  # mark signature
    lax: tuple[bool, ...]  # Token.loose: matches any marks
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    # typed without diacritics in a text typed with them, and not a common word that is written so ("do", "sau"):
    # may stand for a word with diacritics inside a phrase (see social.phrases); all False in a loose text
    soft: tuple[bool, ...] = ()

    @property
    def tokens(self) -> tuple[Token, ...]:
        return tuple(Token(t, t if f is None else f, m, a, b, f is None, x)
                     for t, f, m, x, a, b in zip(self.texts, self.folds, self.marks, self.lax, self.starts, self.ends))


class _Piece(NamedTuple):
    """The tokens of a piece of text between two spaces, as columns (what Doc holds for a whole text). No token spans
    a space (a break token's look for a space or the end sees the same at the end of a piece), so a text's tokens
    are its pieces' tokens, and a text's columns its pieces' columns end to end."""
    texts: tuple[str, ...]
    folds: tuple[str | None, ...]
    marks: tuple[str, ...]
    lax: tuple[bool, ...]
    soft: tuple[bool, ...]
    starts: tuple[int, ...]  # in the piece
    ends: tuple[int, ...]


_NO_TOKENS = _Piece((), (), (), (), (), (), ())


def _piece_tokens(piece: str) -> _Piece:
    parts = _TOKEN_SPLIT.split(piece)  # gap, token, gap, ..., token, gap: the running sum of their lengths
    if len(parts) == 1:
        return _NO_TOKENS
    bounds = tuple(accumulate(map(len, parts)))  # gives each token's start and end
    texts, folds, marks, lax, soft = zip(*map(_word, parts[1::2]))
    return _Piece(texts, folds, marks, lax, soft, bounds[0:-1:2], bounds[1::2])


# pieces recur from post to post: the token regex, costly per character, runs only on a piece not seen yet
_PIECES: dict[str, _Piece] = {}


def _piece_miss(piece: str) -> _Piece:
    return _keep(_PIECES, piece, _piece_tokens(piece), 100_000)


def _scan(text: str, loose: bool) -> Doc:
    texts: list[str] = []
    folds: list[str | None] = []
    marks: list[str] = []
    lax: list[bool] = []  # Token.loose in a loose text, soft otherwise (see Doc)
    starts: list[int] = []
    ends: list[int] = []
    pos = 0  # where the piece starts in the text
    pieces = _PIECES
    for piece in text.split(" "):
        got = pieces.get(piece)
        if got is None:
            got = _piece_miss(piece)
        if got.texts:
            texts += got.texts
            folds += got.folds
            marks += got.marks
            lax += got.lax if loose else got.soft
            if pos:
                starts += [pos + a for a in got.starts]
                ends += [pos + b for b in got.ends]
            else:
                starts += got.starts
                ends += got.ends
        pos += len(piece) + 1
    if not texts:
        return Doc(text, loose, (), (), (), (), (), ())
    if "(" in text or ", " in text:
        keep = _outside_asides(texts, folds)
        if keep is not None:
            texts, folds, marks = [texts[i] for i in keep], [folds[i] for i in keep], [marks[i] for i in keep]
            lax, starts, ends = [lax[i] for i in keep], [starts[i] for i in keep], [ends[i] for i in keep]
    no = (False,) * len(texts)
    return Doc(text, loose, tuple(texts), tuple(folds), tuple(marks), tuple(lax) if loose else no, tuple(starts),
               tuple(ends), no if loose else tuple(lax))


# An aside naming a place does not end the sentence around it: "Cây xanh trên đường Lê Lợi (phường Bến Thành) ngã",
# "Ống nước trên đường 3/2, quận 10 bị vỡ". Its brackets and commas are then no tokens at all, neither breaks nor
# words, so that a phrase may span it. Asides are where news puts the place.
_PLACE_WORDS = frozenset({"phuong", "quan", "huyen", "xa", "tp", "tx", "ap"})
_PLACE_PAIRS = frozenset({("thanh", "pho"), ("thi", "xa"), ("thi", "tran"), ("dac", "khu"), ("khu", "pho")}) | frozenset(
    # an old district or a merged province's town named bare after a comma: "đường Nguyễn Văn Trỗi, Phú Nhuận"
    tuple(name.split()) for name in (
        "phu nhuan", "go vap", "binh thanh", "tan binh", "tan phu", "thu duc", "binh tan", "nha be", "hoc mon",
        "cu chi", "binh chanh", "can gio", "vung tau", "ba ria", "di an", "thuan an", "tan uyen", "ben cat", "phu my",
        "thu dau", "phu giao", "bau bang", "dau tieng", "long dien", "xuyen moc", "chau duc"))
_ASIDE_MAX = 10  # tokens inside the brackets
_ASIDE_MARKS = frozenset({"(", ")", ","})


def _names_a_place(folds: list[str | None], i: int) -> bool:
    """Do the tokens from i on begin with a place word ("phường", "quận", "thành phố", ...)?"""
    f = folds[i]
    return f in _PLACE_WORDS or (i + 1 < len(folds) and (f, folds[i + 1]) in _PLACE_PAIRS)


def _outside_asides(texts: list[str], folds: list[str | None]) -> list[int] | None:
    """The tokens to keep, in order, when some are the brackets and commas of an aside naming a place; else None."""
    n = len(texts)
    drop: set[int] = set()
    for i in range(n - 1):
        t = texts[i]
        if t == "(":
            for k in range(i + 1, min(n, i + _ASIDE_MAX + 2)):
                tk = texts[k]
                if tk == ")":
                    if _names_a_place(folds, i + 1):
                        drop.update(j for j in range(i, k + 1) if folds[j] is None)  # brackets and commas only
                    break
                if folds[k] is None and tk not in _ASIDE_MARKS:  # a sentence ends inside: no aside
                    break
        elif t == "," and _names_a_place(folds, i + 1):
            drop.add(i)
            # its closing comma too: "cây dầu trên đường Yersin, phường Thủ Dầu Một, đã gãy ngang thân"
            for k in range(i + 2, min(n, i + _ASIDE_MAX + 2)):
                if folds[k] is None:
                    if texts[k] == ",":
                        drop.add(k)
                    break
    return [i for i in range(n) if i not in drop] if drop else None


def doc_of_tokens(tokens, cleaned: str = "") -> Doc:
    """A Doc from Token objects (for callers that tokenised themselves)."""
    tokens = list(tokens)
    loose = any(t.loose for t in tokens)
    folds, marks = tuple(None if t.brk else t.fold for t in tokens), tuple(t.marks for t in tokens)
    return Doc(cleaned, loose, tuple(t.text for t in tokens), folds, marks,
               tuple(t.loose for t in tokens), tuple(t.start for t in tokens), tuple(t.end for t in tokens),
               (False,) * len(tokens) if loose else tuple(not t.brk and _word(t.text)[4] for t in tokens))


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
    return text is not None and bool(_RT.match(nfc(text)))


def text_fingerprint(text: str) -> str:
    """A key for exact re-posts: the cleaned, folded text with punctuation and spacing ignored."""
    words = [f for f in analyse(text).folds if f is not None]
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()

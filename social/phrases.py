"""Phrase matching on tokens: the small engine under the classifier and the locator.

A phrase is a sequence of *slots*; a slot is a set of alternative words ("mất|hư|bể") or a gap
("~3": up to three other words); a group "(đạo đức|văn hóa)" holds alternatives of several words
(:func:`parse_phrases` turns it into one phrase per alternative). Words compare with :func:`social.normalize.token_matches`:
diacritics-insensitive for text typed without diacritics, diacritics-aware otherwise.
Tokenise with the right `loose` judgement (see social.normalize.tokenize). Matches never
cross a sentence break token. A phrase matches at a token as early as it can: each gap takes as few
words as it needs (the first success of a depth-first search that tries small gaps first).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import product
from typing import Iterable, Sequence

from social.normalize import Doc, Token, doc_of_tokens, fold, mark_signature

__all__ = ["Phrase", "Match", "PhraseSet", "PhraseIndex", "parse_phrase", "parse_phrases", "spans_overlap"]

_MAX_GAP = 12


@dataclass(frozen=True)
class _Word:
    alternatives: tuple[tuple[str, str], ...]  # (folded, marks)


@dataclass(frozen=True)
class _Gap:
    max_words: int


@dataclass(frozen=True)
class Phrase:
    text: str  # as written in the lexicon
    slots: tuple[_Word | _Gap, ...]
    weight: float = 1.0
    label: str = ""  # what the phrase stands for (a category, a context kind, a place ...)


class Match:
    """One occurrence of a phrase: token span [start, end), character span, and the text as written. (A plain class:
    compiled, it is built and read as a C struct.)"""
    __slots__ = ("phrase", "start", "end", "char_start", "char_end", "text")

    def __init__(self, phrase: Phrase, start: int, end: int, char_start: int, char_end: int, text: str) -> None:
        self.phrase = phrase
        self.start = start
        self.end = end
        self.char_start = char_start
        self.char_end = char_end
        self.text = text

    def _key(self) -> tuple[Phrase, int, int, int, int, str]:
        return self.phrase, self.start, self.end, self.char_start, self.char_end, self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Match) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def overlaps(self, other: "Match") -> bool:
        return self.start < other.end and other.start < self.end

    def __repr__(self) -> str:
        return f"Match({self.phrase.text!r}, {self.start}, {self.end}, {self.text!r})"


def spans_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


_GROUP = re.compile(r"\(([^()]*)\)")


def parse_phrases(text: str, weight: float = 1.0, label: str = "") -> list[Phrase]:
    """Parse a phrase that may hold groups of several-word alternatives: "xuống cấp ~2 (đạo đức|văn hóa)" is
    "xuống cấp ~2 đạo đức" or "xuống cấp ~2 văn hóa" ("a|b" alone separates one-word alternatives). Each
    alternative becomes a Phrase of its own, all with the text as written, so they count as one phrase."""
    if "(" not in text and ")" not in text:
        return [parse_phrase(text, weight, label)]
    parts: list[list[str]] = []  # each group → its alternatives; plain text between groups → one "alternative"
    pos = 0
    for m in _GROUP.finditer(text):
        parts.append([text[pos:m.start()]])
        alts = [a.strip() for a in m.group(1).split("|")]
        if not all(alts):
            raise ValueError(f"phrase {text!r}: empty alternative in ({m.group(1)})")
        parts.append(alts)
        pos = m.end()
    parts.append([text[pos:]])
    if "(" in text[pos:] or ")" in text[pos:] or any("(" in p[0] or ")" in p[0] for p in parts[::2]):
        raise ValueError(f"phrase {text!r}: unbalanced or nested parentheses")
    out = []
    for combo in product(*parts):
        p = parse_phrase(" ".join(" ".join(combo).split()), weight, label)
        out.append(Phrase(text=text, slots=p.slots, weight=weight, label=label))
    return out


def parse_phrase(text: str, weight: float = 1.0, label: str = "") -> Phrase:
    """Parse "cây ~3 đổ|ngã" into slots. Raises ValueError on an empty phrase or a leading/trailing gap.
    (Groups of several-word alternatives, "(đạo đức|văn hóa)", need :func:`parse_phrases`.)"""
    if "(" in text or ")" in text:
        raise ValueError(f"phrase {text!r}: a group in parentheses gives several phrases: use parse_phrases")
    slots: list[_Word | _Gap] = []
    for part in text.split():
        if part.startswith("~"):
            try:
                n = int(part[1:])
            except ValueError:
                raise ValueError(f"phrase {text!r}: bad gap {part!r} (write ~N, e.g. ~3)") from None
            if not 0 <= n <= _MAX_GAP:
                raise ValueError(f"phrase {text!r}: gap {part!r} must be between ~0 and ~{_MAX_GAP}")
            slots.append(_Gap(n))
        else:
            alts = tuple((fold(w.lower()), mark_signature(w.lower())) for w in part.split("|") if w)
            if not alts:
                raise ValueError(f"phrase {text!r}: empty alternative in {part!r}")
            slots.append(_Word(alts))
    if not slots or isinstance(slots[0], _Gap) or isinstance(slots[-1], _Gap):
        raise ValueError(f"phrase {text!r}: must start and end with a word")
    return Phrase(text=text, slots=tuple(slots), weight=weight, label=label)


@dataclass
class PhraseSet:
    """A list of phrases (one section of the lexicon or of a gazetteer)."""
    phrases: list[Phrase] = field(default_factory=list)

    @classmethod
    def of(cls, items: Iterable[Phrase]) -> "PhraseSet":
        return cls(list(items))

    def add(self, phrase: Phrase) -> None:
        self.phrases.append(phrase)

    def __len__(self) -> int:
        return len(self.phrases)

    def find(self, tokens: Sequence[Token] | Doc, source: str = "") -> list[Match]:
        """All matches, in text order (several per phrase if it occurs several times)."""
        return PhraseIndex({"": self}).find_all(tokens, source)[""]


class _Node:
    """A trie node: phrases sharing their first slots share nodes. `words`: folded word → [(marks accepted,
    child)]; `gaps`: [(max words, child, child's words when child is plain)]; `ends`: (order, set name, phrase)
    of the phrases complete here."""
    __slots__ = ("words", "gaps", "ends", "inner", "plain", "_by_slot")

    def __init__(self) -> None:
        self.words: dict[str | None, list[tuple[frozenset[str], _Node]]] = {}  # (a break token, None, is never a key)
        self.gaps: list[tuple[int, _Node, frozenset[str | None] | None]] = []
        self.ends: list[tuple[int, str, Phrase]] = []
        self.inner = False  # has words or gaps after it (set once the trie is built)
        self.plain = False  # words after it, nothing else: no phrase ends here, no gap follows
        self._by_slot: dict[_Word | _Gap, _Node] = {}

    def finish(self) -> None:
        self.inner = bool(self.words or self.gaps)
        self.plain = bool(self.words) and not self.gaps and not self.ends
        for child in self._by_slot.values():
            child.finish()
        # a gap before plain words ends nowhere unless one of those words lies within its reach: one C-level
        # set test on the window instead of a lookup per skipped word
        self.gaps = [(n, child, frozenset(child.words) if child.plain else None) for n, child, *_ in self.gaps]

    def child(self, slot: _Word | _Gap) -> "_Node":
        node = self._by_slot.get(slot)
        if node is None:
            node = self._by_slot[slot] = _Node()
            if isinstance(slot, _Gap):
                self.gaps.append((slot.max_words, node, None))
            else:
                marks: dict[str, set[str]] = {}
                for f, m in slot.alternatives:
                    marks.setdefault(f, set()).add(m)
                for f, ms in marks.items():
                    self.words.setdefault(f, []).append((frozenset(ms), node))
        return node


_Step = tuple[frozenset[str], _Node]  # (marks accepted, the node after the word)
_Second = tuple[frozenset[str], frozenset[str], _Node]  # (first word's marks, second word's marks, the node after)


class _Found(dict):
    """find_all's answer: a set without matches is not stored and reads as an empty list."""
    def __missing__(self, name: str) -> list[Match]:
        return []


class _Walk:
    """One post's walk through the trie (PhraseIndex.find_all): the tokens' columns, and the phrases found at the
    token where the walk started, by their order → (order, set name, phrase, end token).

    Mixed typing: in a text typed with diacritics, a word typed without them ("cay" in "cay ngã") may stand for a
    word of a phrase when another word of that match carries its diacritics ("ngã"). `st` follows the walk: 0
    nothing yet, 1 a word matched with its diacritics (anchored), 2 a word stood in, not anchored yet; a phrase
    completed in state 2 does not count. (A class, not a closure: compiled, a method call is a C call.)"""

    def __init__(self, folds: tuple[str | None, ...], marks: tuple[str, ...], lax: tuple[bool, ...],
                 soft: tuple[bool, ...]) -> None:
        self.folds, self.marks, self.lax, self.soft = folds, marks, lax, soft
        self.n = len(folds)
        self.found: dict[int, tuple[int, str, Phrase, int]] = {}

    def reach(self, node: _Node, j: int, st: int) -> None:
        """The walk has matched up to `node`, before token j: record the phrases complete here (the first success
        in depth-first order is a phrase's match), then go on (words first, then gaps, small first)."""
        found, folds, n = self.found, self.folds, self.n
        if st != 2:
            for entry in node.ends:
                if entry[0] not in found:
                    found[entry[0]] = (*entry, j)
        if not node.inner:
            return
        if j < n and node.words:
            cands = node.words.get(folds[j])  # None (a break) is never a key
            if cands:
                self.step(cands, j, st)
        for max_words, child, after in node.gaps:
            if after is not None and after.isdisjoint(folds[j:j + max_words + 1]):
                continue
            for skip in range(max_words + 1):
                k = j + skip
                if k > n or (skip and folds[k - 1] is None):
                    break
                if child.plain:  # the usual "a ~N b": try b here, without a walk through the gap's node
                    cands = child.words.get(folds[k]) if k < n else None
                    if cands:
                        self.step(cands, k, st)
                else:
                    self.reach(child, k, st)


    def step(self, cands: list[tuple[frozenset[str], _Node]], k: int, st: int) -> None:
        """Token k is the word of `cands` (the words after a node): go on from each node it reaches with its marks."""
        marks = self.marks
        for ms, c in cands:
            if self.lax[k] or marks[k] in ms:
                self.reach(c, k + 1, 1 if marks[k] else st)
            elif self.soft[k]:
                self.reach(c, k + 1, 1 if st == 1 else 2)


class PhraseIndex:
    """Several named PhraseSets matched in one pass over a post (the hot path of classify and locate):
    ``find_all(doc) → {set name: [Match, ...]}``, each list in text order and, at one token, in the order
    the phrases were given. The phrases form one trie, so a token costs one dict lookup, and phrases with a
    common beginning are walked together."""

    def __init__(self, sets: dict[str, PhraseSet]):
        self.names = list(sets)
        self._root = _Node()
        seen: set[int] = set()
        order = 0
        for name, ps in sets.items():
            for p in ps.phrases:
                if id(p) in seen:  # the same phrase in two sets counts for the first
                    continue
                seen.add(id(p))
                node = self._root
                for slot in p.slots:
                    node = node.child(slot)
                node.ends.append((order, name, p))
                order += 1
        self._root.finish()
        # first word → (its children that are not plain, {second word → the plain children's next steps}): most
        # first words are common ("đường", "cây") and begin phrases whose second word is rarely there, so the
        # second word is looked up once for all of them.
        # (precise types: compiled, the walk then reads nodes and tuples without generic lookups)
        self._roots: dict[str | None, tuple[list[_Step], dict[str | None, list[_Second]] | None]] = {}
        for f, cands in self._root.words.items():
            others = [(ms, child) for ms, child in cands if not child.plain]
            nxt: dict[str | None, list[_Second]] = {}
            for ms, child in cands:
                if child.plain:
                    for f2, cands2 in child.words.items():
                        nxt.setdefault(f2, []).extend((ms, ms2, c) for ms2, c in cands2)
            self._roots[f] = (others, nxt or None)

    def find_all(self, doc: Doc | Sequence[Token], source: str = "") -> dict[str, list[Match]]:
        if not isinstance(doc, Doc):
            doc = doc_of_tokens(doc, source)
        out = _Found()
        folds, marks, lax, soft, starts, ends = doc.folds, doc.marks, doc.lax, doc.soft, doc.starts, doc.ends
        n = len(folds)
        text = doc.cleaned
        walk = _Walk(folds, marks, lax, soft)
        found = walk.found
        roots = self._roots
        for i, f in enumerate(folds):
            plan = roots.get(f)  # None (a break) is never a key
            if plan is None:
                continue
            others, nxt = plan
            j = i + 1
            if others:
                lx, mk, sf = lax[i], marks[i], soft[i]
                for ms, child in others:
                    if lx or mk in ms:
                        st = 1 if mk else 0
                    elif sf and child.inner:  # a word standing in never makes a one-word phrase
                        st = 2
                    else:
                        continue
                    if child.inner:
                        walk.reach(child, j, st)
                    else:  # a one-word phrase: no call
                        for entry in child.ends:
                            if entry[0] not in found:
                                found[entry[0]] = (*entry, j)
            # longer phrases: only when their second word is here (most first words are common, their phrases rare)
            seconds = nxt.get(folds[j]) if nxt is not None and j < n else None
            if seconds:
                lx, mk, sf = lax[i], marks[i], soft[i]
                for ms, ms2, c in seconds:
                    if lx or mk in ms:
                        st = 1 if mk else 0
                    elif sf:
                        st = 2
                    else:
                        continue
                    if lax[j] or marks[j] in ms2:
                        walk.reach(c, j + 1, 1 if marks[j] else st)
                    elif soft[j]:
                        walk.reach(c, j + 1, 1 if st == 1 else 2)
            if found:
                cs = starts[i]
                for order in (sorted(found) if len(found) > 1 else found):
                    _, name, phrase, end = found[order]
                    ce = ends[end - 1]
                    m = Match(phrase, i, end, cs, ce, text[cs:ce])
                    if name in out:
                        out[name].append(m)
                    else:
                        out[name] = [m]
                found.clear()
        return out

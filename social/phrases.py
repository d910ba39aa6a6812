"""Phrase matching on tokens: the small engine under the classifier and the locator.

A phrase is a sequence of *slots*; a slot is a set of alternative words ("mất|hư|bể") or a gap
("~3": up to three other words). Words compare with :func:`social.normalize.token_matches`:
diacritics-insensitive for text typed without diacritics, diacritics-aware otherwise.
Tokenise with the right `loose` judgement (see social.normalize.tokenize). Matches never
cross a sentence break token.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from social.normalize import Token, fold, mark_signature

__all__ = ["Phrase", "Match", "PhraseSet", "parse_phrase", "spans_overlap"]

_MAX_GAP = 8


@dataclass(frozen=True)
class _Word:
    alternatives: tuple[tuple[str, str], ...]  # (folded, marks)

    def matches(self, tok: Token) -> bool:
        if tok.brk:
            return False
        for f, m in self.alternatives:
            if tok.fold == f and (tok.loose or tok.marks == m):
                return True
        return False


@dataclass(frozen=True)
class _Gap:
    max_words: int


@dataclass(frozen=True)
class Phrase:
    text: str  # as written in the lexicon
    slots: tuple[_Word | _Gap, ...]
    weight: float = 1.0
    label: str = ""  # what the phrase stands for (a category, a context kind, a place ...)

    @property
    def first_folds(self) -> tuple[str, ...]:
        first = self.slots[0]
        assert isinstance(first, _Word)
        return tuple(f for f, _ in first.alternatives)


@dataclass(frozen=True)
class Match:
    phrase: Phrase
    start: int  # token index of the first word
    end: int  # token index after the last word
    char_start: int
    char_end: int
    text: str  # the matched text as written in the post

    def overlaps(self, other: "Match") -> bool:
        return spans_overlap((self.start, self.end), (other.start, other.end))


def spans_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def parse_phrase(text: str, weight: float = 1.0, label: str = "") -> Phrase:
    """Parse "cây ~3 đổ|ngã" into slots. Raises ValueError on an empty phrase or a leading/trailing gap."""
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


def _match_at(slots: Sequence[_Word | _Gap], tokens: Sequence[Token], i: int) -> int | None:
    """Match slots starting exactly at token i; return the end index (exclusive) of the shortest match."""
    if not slots:
        return i
    slot = slots[0]
    if isinstance(slot, _Gap):
        for skip in range(slot.max_words + 1):
            j = i + skip
            if j > len(tokens):
                break
            if skip and tokens[j - 1].brk:
                break
            end = _match_at(slots[1:], tokens, j)
            if end is not None:
                return end
        return None
    if i < len(tokens) and slot.matches(tokens[i]):
        return _match_at(slots[1:], tokens, i + 1)
    return None


@dataclass
class PhraseSet:
    """Many phrases, indexed by the folded forms of their first word."""
    phrases: list[Phrase] = field(default_factory=list)
    _index: dict[str, list[Phrase]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, items: Iterable[Phrase]) -> "PhraseSet":
        ps = cls()
        for p in items:
            ps.add(p)
        return ps

    def add(self, phrase: Phrase) -> None:
        self.phrases.append(phrase)
        for f in set(phrase.first_folds):
            self._index.setdefault(f, []).append(phrase)

    def __len__(self) -> int:
        return len(self.phrases)

    def find(self, tokens: Sequence[Token], source: str = "") -> list[Match]:
        """All matches, in text order (several per phrase if it occurs several times)."""
        out: list[Match] = []
        for i, tok in enumerate(tokens):
            if tok.brk:
                continue
            for phrase in self._index.get(tok.fold, ()):
                end = _match_at(phrase.slots, tokens, i)
                if end is not None:
                    cs, ce = tokens[i].start, tokens[end - 1].end
                    out.append(Match(phrase, i, end, cs, ce, source[cs:ce] if source else ""))
        return out

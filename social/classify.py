"""A Vietnamese keyword/phrase classifier for posts: which category, and is it a *current report*?

The phrases live in social/lexicon.yaml (see the syntax there). For a post:

1. the text is cleaned (social.normalize.clean) and tokenised;
2. each category's cues are matched, minus those overlapping one of the category's "not" phrases
   (other senses: "ngập việc", "cây xăng") or whose first or last word a global mask takes ("ngã tư",
   "xa lộ Hà Nội"); the category with the highest cue weight wins (it needs one cue of weight >= 1; on a
   tie, the one named first; then the lexicon's precedence pairs);
3. context phrases add up: report markers ("sáng nay", "đang", "trước nhà", a date) raise the score,
   forecasts/warnings, advice, the past, habits, news about the 1022 system or policy lower it; hedges
   ("có thể", "sẽ") count only in a sentence that names the incident; asking whom to report costs more in the
   clause that names it; another city sinks the post unless Ho Chi Minh City shares the incident's sentence
   (or the other city does not); a cue inside a question ("có ngập không") or a denial does not count, and a
   question without a strong cue lowers the score;
4. confidence = logistic(score); is_report = score > 0 (confidence above 0.5).

It is a transparent baseline: every decision comes with the phrases and signals that made it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from pathlib import Path
from typing import Iterable

import yaml
from pydantic import ValidationError

from social import HERE  # (not __file__: mypyc gives a compiled module another)
from social.errors import LexiconError
from social.lexicon_schema import LexiconFile, Scoring
from social.normalize import Caseless, analyse, fold
from social.phrases import Match, Phrase, PhraseIndex, PhraseSet, parse_phrases

__all__ = ["Classification", "Classifier", "Lexicon", "LexiconError", "load_lexicon", "default_classifier",
           "classify", "LEXICON_PATH"]

LEXICON_PATH = HERE / "lexicon.yaml"
WEIGHTS = {"strong": 2.0, "cues": 1.0, "weak": 0.5}


# ---- compiled lexicon -----------------------------------------------------------------------------------
@dataclass
class Lexicon:
    version: str
    scoring: Scoring
    cues: dict[str, PhraseSet]  # category → cue phrases (weight on each phrase)
    nots: dict[str, PhraseSet]  # category → other senses
    masks: PhraseSet
    name_parts: PhraseSet  # hide context markers only (a cue may span a name: "cây dầu trước số 5 Lê Văn Sỹ gãy")
    context: PhraseSet  # label = kind, weight = contribution
    other_places: PhraseSet
    hcmc_markers: PhraseSet

    @property
    def categories(self) -> list[str]:
        return list(self.cues)


def _compile(items: Iterable[str], where: str, weight: float = 1.0, label: str = "") -> list[Phrase]:
    out = []
    for i, text in enumerate(items):
        try:
            out += parse_phrases(str(text), weight=weight, label=label)
        except ValueError as e:
            raise LexiconError(f"{where}[{i}]: {e}") from None
    return out


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    path = Path(path) if path else LEXICON_PATH
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise LexiconError(f"{path}: cannot read: {e}") from None
    try:
        f = LexiconFile.model_validate(raw or {})
    except ValidationError as e:
        problems = "; ".join(".".join(str(p) for p in err["loc"]) + ": " + err["msg"] for err in e.errors())
        raise LexiconError(f"{path}: {problems}") from None
    cues, nots = {}, {}
    for code, cat in f.categories.items():
        phrases: list[Phrase] = []
        for tier, w in WEIGHTS.items():
            phrases += _compile(getattr(cat, tier), f"{path}: categories.{code}.{tier}", w, code)
        if not any(p.weight >= 1.0 for p in phrases):
            raise LexiconError(f"{path}: categories.{code}: needs at least one strong cue or cue")
        cues[code] = PhraseSet.of(phrases)
        nots[code] = PhraseSet.of(_compile(cat.not_, f"{path}: categories.{code}.not", 0.0, code))
    context: list[Phrase] = []
    for gi, g in enumerate(f.context):
        context += _compile(g.phrases, f"{path}: context[{gi}].phrases", g.weight, g.kind)
    return Lexicon(
        version=f.version, scoring=f.scoring, cues=cues, nots=nots,
        masks=PhraseSet.of(_compile(f.masks, f"{path}: masks")),
        name_parts=PhraseSet.of(_compile(f.name_parts, f"{path}: name_parts")),
        context=PhraseSet.of(context),
        other_places=PhraseSet.of(_compile(f.other_places, f"{path}: other_places", label="other_place")),
        hcmc_markers=PhraseSet.of(_compile(f.hcmc_markers, f"{path}: hcmc_markers", label="hcmc")),
    )


# ---- result -------------------------------------------------------------------------------------------
# (A dataclass for its ==, repr and fields, with an __init__ of its own: compiled, that builds it ~25x faster than the
# generated one of a frozen dataclass. Read it as a value; nothing changes it after it is made.)
@dataclass(init=False)
class Classification:
    category: str | None  # None: no category cue at all
    is_report: bool  # a current report of an incident in Ho Chi Minh City
    confidence: float  # 0..1, how sure that this is a current report of `category`
    phrases: tuple[str, ...]  # the category cues as written in the post
    signals: tuple[str, ...] = ()  # context that moved the score, "kind:text" (e.g. "forecast:dự báo")
    score: float = 0.0  # the logit behind confidence
    category_scores: dict[str, float] = field(default_factory=dict)

    def __init__(self, category: str | None, is_report: bool, confidence: float, phrases: tuple[str, ...],
                 signals: tuple[str, ...] = (), score: float = 0.0, category_scores: dict[str, float] | None = None):
        self.category = category
        self.is_report = is_report
        self.confidence = confidence
        self.phrases = phrases
        self.signals = signals
        self.score = score
        self.category_scores = {} if category_scores is None else category_scores


# Dates and clock times: "28/10", "4-11", "ngày 14/9", "lúc 10 giờ", "11 giờ 15", "22h". The pattern starts with
# the digit and checks what precedes it afterwards (a lookbehind of the digit's own lookbehind), so the engine
# jumps from digit to digit instead of trying every position.
_DATE = Caseless(r"\d(?:(?<=(?<![\w/.])\d)(?:(?<=[0-3])\d)?\s*[/-]\s*(?:0?[1-9]|1[0-2])(?![\w/])"
                 r"|(?<=(?<!\w)\d)\d?\s*(?:giờ|h)(?:\s*\d{1,2})?(?!\w))")
_DIGIT = re.compile(r"\d")
# A year named as the time of the event ("hồi năm 2018", "vào năm 2020", "năm 2019", "hồi tháng 9/2023"), on folded text; not the
# year of a full date ("ngày 12 tháng 10 năm 2025").
_PAST_YEAR = re.compile(r"(?<![^\W_])(?:(?:hoi|vao|trong|cuoi|dau|giua)\s+(?:nam\s+|thang\s+\d{1,2}\s*(?:[/-]|\s+nam)\s*)?|nam\s+)"
                        r"(?:19|20)\d\d(?!\d)")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")  # what _PAST_YEAR needs in the text
_MONTH_BEFORE = re.compile(r"thang\s*\d{1,2}\s*$")
_NOT_DATE_BEFORE = re.compile(r"(?:đường|duong|hẻm|hem|số|so|kiệt|ngõ)\s*$", re.IGNORECASE)
_QUESTION_MARK = re.compile(r"\?\s*$|\?\s")
_start = attrgetter("start")
_PLACE_PREFIX = {"phuong", "xa", "duong", "quan", "hem", "khu", "pho", "huyen", "cau", "cho", "benh", "truong"}


# What may follow the "không" of a question ("có ngập không mọi người", "có ai biết không ạ"); any other word
# makes it a negation: "có 10 trụ đèn không sáng" says the lamps are out, it asks nothing.
_AFTER_QUESTION = frozenset({"a", "vay", "z", "ha", "nhi", "ta", "nhe", "nha", "ne", "mn", "ae", "moi", "ca", "anh",
                             "chi", "em", "ban", "cac", "troi", "the", "day", "ko", "khong", "hong", "chua"})
_QUESTION_END = frozenset({"khong", "chua", "hong"})


def _negation(doc, m: Match) -> bool:
    """Is question `m` ("có ... không") a negation instead, the word after its "không" being a verb or an adjective?"""
    folds = doc.folds
    if folds[m.end - 1] not in _QUESTION_END or m.end >= len(folds):
        return False
    nxt = folds[m.end]
    return nxt is not None and nxt not in _AFTER_QUESTION


_SENTENCE_END = frozenset({".", "!", "?", "…", "\n"})


def _between(a: Match, b: Match) -> range:
    """The tokens between two matches (none when they overlap)."""
    return range(a.end, b.start) if a.end <= b.start else range(b.end, a.start)


def _same_sentence(doc, a: Match, b: Match) -> bool:
    """No end of a sentence ("." "!" "?" "…" a newline; a comma does not end one) between two matches."""
    texts, folds = doc.texts, doc.folds
    for k in _between(a, b):
        if folds[k] is None and texts[k][0] in _SENTENCE_END:
            return False
    return True


def _same_clause(folds: tuple[str | None, ...], a: Match, b: Match) -> bool:
    """No break token (end of a sentence, a comma, a bracket) between two matches."""
    for k in _between(a, b):
        if folds[k] is None:
            return False
    return True


def _asked(doc, j: int) -> bool:
    """Does a "?" end the clause at most three words after token j ("còn ngập không mọi người?")?"""
    folds, texts = doc.folds, doc.texts
    if j < len(folds) and folds[j - 1] in _QUESTION_END and folds[j] in _AFTER_QUESTION:
        return True  # "còn ngập ko ae, ..." : a particle after the "không" asks, with or without "?"
    for k in range(j, min(j + 4, len(folds))):
        if folds[k] is None:
            return "?" in texts[k]
    return j == len(folds) and folds[j - 1] in _QUESTION_END  # "còn ngập không" ending the post


class Classifier:
    def __init__(self, lexicon: Lexicon | None = None, categories: Iterable[str] | None = None):
        self.lexicon = lexicon or load_lexicon()
        known = set(categories) if categories is not None else None
        self.categories = [c for c in self.lexicon.categories if known is None or c in known]
        lx = self.lexicon
        sets = {"masks": lx.masks, "name_parts": lx.name_parts, "context": lx.context, "other_places": lx.other_places, "hcmc": lx.hcmc_markers}
        for code in self.categories:
            sets[f"cue:{code}"] = lx.cues[code]
            sets[f"not:{code}"] = lx.nots[code]
        self._index = PhraseIndex(sets)
        self._keys = [(code, f"cue:{code}", f"not:{code}") for code in self.categories]
        self._order = {c: i for i, c in enumerate(self.categories)}

    @property
    def version(self) -> str:
        return self.lexicon.version

    def classify(self, text: str) -> Classification:
        sc = self.lexicon.scoring
        doc = analyse(text)
        cleaned, folds = doc.cleaned, doc.folds
        found = self._index.find_all(doc)
        masks = found.get("masks", [])  # (.get: no Python __missing__ call for a set without matches)

        context = found.get("context", [])
        hiders = masks + found["name_parts"] if "name_parts" in found else masks
        if hiders:  # a mask hides the words inside it ("vẫn" of "Lê Văn Sỹ"), not a marker that is the mask itself
            # ("ngã tư") nor one whose gap spans it ("có ai biết ... đường Thùy Vân ... sửa chưa"): its first or last word
            context = [m for m in context if not any((h.start <= m.start < h.end or h.start < m.end <= h.end)
                                                     and (m.start, m.end) != (h.start, h.end) for h in hiders)]
        if any(m.phrase.label == "question" for m in context):
            context = [m for m in context if m.phrase.label != "question" or not _negation(doc, m)]
        questions = [m for m in context if m.phrase.label == "question"]
        yes_no = [m for m in context if m.phrase.label == "yes_no"]
        if yes_no:  # only those that a "?" closes are questions; the others say nothing
            asked = [m for m in yes_no if _asked(doc, m.end)]
            questions += asked
            context = [m for m in context if m.phrase.label != "yes_no" or m in asked]

        # 1. category cues (a cue inside a question is asked about, not reported)
        scores: dict[str, float] = {}
        matched: dict[str, list[Match]] = {}
        top: dict[str, float] = {}  # the heaviest cue's weight
        mask_spans = [(h.start, h.end) for h in masks]
        for code, cue_key, not_key in [k for k in self._keys if k[1] in found]:
            ms = found[cue_key]
            hidden = questions + found.get(not_key, [])
            # (plain loops, for/else: a generator per cue costs more than the tests it runs)
            if hidden or mask_spans:
                spans = [(h.start, h.end) for h in hidden]
                shown = []
                for m in ms:
                    a, b = m.start, m.end
                    for s, e in spans:  # a question or another sense: anywhere in the cue
                        if a < e and s < b:
                            break
                    else:
                        for s, e in mask_spans:  # a mask takes the cue's first or last word ("cây xanh ở ngã tư"),
                            if s <= a < e or s < b <= e:  # not a gap's ("camera ở ngã tư Hàng Xanh bị lệch")
                                break
                        else:
                            shown.append(m)
                ms = shown
            if len(ms) > 1:
                # a cue inside a longer cue of at least its weight ("ngập" in "ngập sâu") adds nothing
                weighed = [(o.start, o.end, o.phrase.weight) for o in ms]
                outside = []
                for m, (a, b, w) in zip(ms, weighed):
                    for s, e, wo in weighed:
                        if s <= a and b <= e and e - s > b - a and wo >= w:
                            break
                    else:
                        outside.append(m)
                ms = outside
            best: dict[str, Match] = {}
            for m in ms:
                best.setdefault(m.phrase.text, m)
            if best:
                weights = [m.phrase.weight for m in best.values()]
                heaviest = max(weights)
                if heaviest >= 1.0:
                    scores[code] = min(sc.cue_cap, sum(weights))
                    top[code] = heaviest
                    matched[code] = sorted(best.values(), key=_start) if len(best) > 1 else list(best.values())
        if not scores:
            return Classification(None, False, 0.0, (), tuple(f"question:{m.text}" for m in questions))
        order = self._order
        # the most evidence; then the heaviest cue; then the category named first (a headline names its subject)
        category = (max(scores, key=lambda c: (scores[c], top[c], -matched[c][0].start, -order[c])) if len(scores) > 1
                    else next(iter(scores)))
        strong = {c for c in scores if top[c] >= WEIGHTS["strong"]}
        # the order the lexicon gives, when the first of the pair has as much evidence, or a strong cue of its own named
        # before the second's ("tử vong do điện giật khi đi qua vũng nước ngập" is the electrocution)
        for winner, loser in sc.precedence:
            if category == loser and winner in scores and (
                    scores[winner] >= scores[loser]
                    or (winner in strong and loser in strong and matched[winner][0].start <= matched[loser][0].start)):
                category = winner

        # 2. context
        signals: list[str] = []
        seen: set[str] = set()
        report = negative = 0.0
        question = bool(questions)
        # the cues that say which sentence is about the incident (not a weak one: "đơn vị cây xanh")
        cues = [c for c in matched[category] if c.phrase.weight >= 1.0]
        for m in context:
            if m.phrase.text in seen:
                continue
            seen.add(m.phrase.text)
            if m.phrase.label == "report":
                report += m.phrase.weight
            elif m.phrase.label == "ask_whom" and any(_same_clause(folds, m, c) for c in matched[category]):
                negative += sc.ask_about_cue  # "làm sao để báo đèn đường hư": a how-to question, nothing described
            elif m.phrase.label == "hedge" and not any(_same_sentence(doc, m, c) for c in cues):
                # "sẽ", "có thể" of the authority's plan in a later sentence ("đơn vị cho biết sẽ cử người"): not about
                # whether the incident is there
                continue
            elif m.phrase.label not in ("question", "yes_no"):
                negative += m.phrase.weight
            signals.append(f"{m.phrase.label}:{m.text}")
        digit = _DIGIT.search(cleaned)  # a date or a time starts with a digit: search from the first
        for d in (_DATE.finditer(cleaned, digit.start()) if digit else ()):
            # the longest of those words has 5 letters: the end of what comes before is enough
            end = d.start()
            while end and cleaned[end - 1].isspace():
                end -= 1
            if not _NOT_DATE_BEFORE.search(cleaned[max(0, end - 5):end]):
                report += sc.date_marker
                signals.append(f"report:{cleaned[d.start():d.end()]}")
                break
        if digit and _YEAR.search(cleaned, digit.start()):  # (folding the text costs more than the search)
            low = fold(cleaned)
            for y in _PAST_YEAR.finditer(low):
                if not _MONTH_BEFORE.search(low[max(0, y.start() - 12):y.start()]):
                    negative += sc.past_year
                    signals.append(f"past:{y.group(0)}")
                    break
        if "?" in cleaned and _QUESTION_MARK.search(cleaned):
            question = True
        report = min(sc.report_cap, report)
        negative = max(sc.context_floor, negative)

        # 3. place: another city?
        places = [m for m in found.get("other_places", ())
                  if not (masks and any(m.overlaps(h) for h in masks))
                  and not (m.start > 0 and folds[m.start - 1] in _PLACE_PREFIX)]
        place_adj = 0.0
        if places:
            # the city named only in a denial ("không phải Sài Gòn đâu") or only beside the story, while the other
            # place shares a sentence with the incident ("Long An mất điện cả xã. Sài Gòn mình sống sướng"): elsewhere
            hcmc = [h for h in found.get("hcmc", ()) if not any(h.overlaps(q) for q in questions)]
            in_hcmc = bool(hcmc) and (any(_same_sentence(doc, h, c) for h in hcmc for c in cues)
                                      or not any(_same_sentence(doc, p, c) for p in places for c in cues))
            place_adj = sc.other_place_with_hcmc if in_hcmc else sc.other_place
            signals.append(f"other_place:{places[0].text}" + ("(+hcmc)" if in_hcmc else ""))
        q_adj = sc.question_without_report if (question and category not in strong) else 0.0
        if q_adj:
            signals.append("question")

        score = sc.bias + scores[category] + report + negative + place_adj + q_adj
        confidence = 1.0 / (1.0 + math.exp(-score))
        return Classification(
            category=category,
            is_report=score > 0,
            confidence=round(confidence, 4),
            phrases=tuple(dict.fromkeys([m.text for m in matched[category]])),
            signals=tuple(signals),
            score=round(score, 3),
            category_scores=dict(sorted(scores.items(), key=lambda kv: -kv[1])) if len(scores) > 1 else scores,
        )


@lru_cache(maxsize=1)
def default_classifier() -> Classifier:
    return Classifier()


def classify(text: str) -> Classification:
    """Classify with the shipped lexicon (loaded once)."""
    return default_classifier().classify(text)

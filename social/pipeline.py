"""Post → Candidate: normalise, drop retweets and re-posts, classify, locate, build the candidate.

    pipeline = SocialPipeline(categories, threshold=0.5, salt=os.environ["WATCH1022_AUTHOR_SALT"])
    candidate = pipeline.process(post)      # Candidate, or None
    outcome = pipeline.evaluate(post)       # the same decision with its reason, for logs and tools

The candidate id comes from ("social", "platform:post_id"), so processing the same post again gives the
same candidate (the bridge stays idempotent). The author is kept only as a salted hash.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from models.candidate import CITY_TZ, Candidate, PostEvidence
from social.classify import Classification, Classifier
from social.locate import Locator, Place
from social.normalize import author_hash, is_retweet, nfc, text_fingerprint
from social.sources import Post

__all__ = ["SocialPipeline", "Outcome", "DETECTOR_NAME", "DETECTOR_BACKEND"]

DETECTOR_NAME = "social-keyword"
DETECTOR_BACKEND = "lexicon"
_EVIDENCE_MAX = 10000
_QUOTE_MAX = 160


@dataclass(frozen=True)
class Outcome:
    """What the pipeline decided about one post."""
    candidate: Candidate | None
    reason: str  # "candidate", "retweet", "repost", "no_category", "not_report", "below_threshold", "invalid: ..."
    classification: Classification | None = None
    place: Place | None = None


def _category_names(categories) -> dict[str, str]:
    """code → Vietnamese name, from a CategoriesFile, a list of Category, a {code: Category} mapping or codes."""
    if hasattr(categories, "categories"):
        categories = categories.categories
    if isinstance(categories, Mapping):
        categories = list(categories.values())
    out: dict[str, str] = {}
    for c in categories:
        if isinstance(c, str):
            out[c] = c
        else:
            out[c.code] = c.name_vi
    return out


class SocialPipeline:
    def __init__(self, categories, threshold: float = 0.5, salt: str = "", *,
                 classifier: Classifier | None = None, locator: Locator | None = None):
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold {threshold} is outside 0..1")
        self.names = _category_names(categories)
        self.threshold = float(threshold)
        self.salt = salt
        self.classifier = classifier or Classifier(categories=self.names)
        self.locator = locator or Locator()
        self._seen: dict[str, str] = {}  # text fingerprint → source_ref of the first post with that text

    @property
    def model_version(self) -> str:
        return self.classifier.version

    def process(self, post: Post) -> Candidate | None:
        return self.evaluate(post).candidate

    def evaluate(self, post: Post) -> Outcome:
        if is_retweet(post.text):
            return Outcome(None, "retweet")
        fp = text_fingerprint(post.text)
        first = self._seen.setdefault(fp, post.ref)
        if first != post.ref:
            return Outcome(None, "repost")

        cls = self.classifier.classify(post.text)
        if cls.category is None or cls.category not in self.names:
            return Outcome(None, "no_category", cls)
        if not cls.is_report:
            return Outcome(None, "not_report", cls)
        if cls.confidence < self.threshold:
            return Outcome(None, "below_threshold", cls)

        place = self.locator.locate(post.text)
        if place.level == "city" and post.place:  # the text says nothing usable: try the platform's place tag
            tagged = self.locator.locate(post.place)
            if tagged.level != "city":
                place = tagged
        try:
            candidate = self._candidate(post, cls, place)
        except ValueError as e:  # pydantic's ValidationError is a ValueError
            return Outcome(None, f"invalid: {e}", cls, place)
        return Outcome(candidate, "candidate", cls, place)

    def _summary(self, cls: Classification, place: Place, text: str) -> str:
        what = self.names.get(cls.category, cls.category)
        what = what[0].lower() + what[1:] if what else what
        quote = " ".join(text.split())
        if len(quote) > _QUOTE_MAX:
            quote = quote[: _QUOTE_MAX - 1].rstrip() + "…"
        return f"Bài đăng báo {what} tại {place.describe()}: “{quote}”"

    def _candidate(self, post: Post, cls: Classification, place: Place) -> Candidate:
        text = nfc(post.text)
        attributes: dict[str, str | int | float | bool | None] = {
            "phrases": "; ".join(cls.phrases),
            "signals": "; ".join(cls.signals)[:500] or None,
            "location_precision": place.level,
            "district": place.district,
            "ward_legacy": place.ward_legacy,
            "place_text": "; ".join(place.matched) or None,
            "platform": post.platform,
            "score": cls.score,
        }
        return Candidate.create(
            source="social",
            source_ref=post.ref,
            category=cls.category,
            confidence=cls.confidence,
            observed_at=post.posted_at.astimezone(CITY_TZ),
            location=place.to_location(),
            summary=self._summary(cls, place, text),
            evidence=[PostEvidence(url=post.url, text=text[:_EVIDENCE_MAX],
                                   author_hash=author_hash(post.author, self.salt), posted_at=post.posted_at)],
            detector={"name": DETECTOR_NAME, "backend": DETECTOR_BACKEND,
                      "model_version": self.model_version, "threshold": self.threshold},
            attributes={k: v for k, v in attributes.items() if v is not None},
        )

    def run(self, posts: Iterable[Post]) -> list[Candidate]:
        """Process many posts; the candidates, in order."""
        return [c for c in (self.process(p) for p in posts) if c is not None]

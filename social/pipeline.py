"""Post → Candidate: normalise, drop retweets, collapse re-posts, classify, locate, build the candidate.

    pipeline = SocialPipeline(categories, threshold=0.5, salt=os.environ["WATCH1022_AUTHOR_SALT"])
    candidates = pipeline.process_batch(posts)   # one candidate per report, every post of it as evidence
    candidate = pipeline.process(post)           # the same for one post: Candidate, or None
    outcome = pipeline.evaluate(post)            # the decision with its reason, for logs and tools

Re-posts: a post whose cleaned, folded text equals an earlier one (exact re-post), or whose folded word set
overlaps an earlier report of the same category by at least `near_threshold` (Jaccard) within
`near_window`, joins that report's *cluster* instead of making a new report (two named streets that differ
keep posts apart). ``process_batch`` raises one candidate per cluster touched by the batch, with every post
of the cluster as evidence: a cluster born in the batch gets the id of its first post; a cluster from an
earlier batch gets a follow-up candidate (id of the batch's first post of it, ``attributes.duplicate_of`` =
the first candidate's id) at the same category and place, which the bridge merges into the same incident.

The candidate id comes from ("social", "platform:post_id"), so processing the same post again gives the
same candidate (the bridge stays idempotent). The author is kept only as a salted hash. Posts with a
category cue that are not raised (not a current report, or below the threshold) go to `misses` (a callable
taking a dict; see :class:`MissLog`) for the review of what was missed.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable, Mapping

from models.candidate import CITY_TZ, Candidate, PostEvidence
from social.classify import Classification, Classifier
from social.locate import Locator, Place
from social.normalize import analyse, author_hash, is_retweet, nfc, text_fingerprint
from social.sources import Post

__all__ = ["SocialPipeline", "Outcome", "MissLog", "DETECTOR_NAME", "DETECTOR_BACKEND", "word_set", "jaccard"]

DETECTOR_NAME = "social-keyword"
DETECTOR_BACKEND = "lexicon"
_EVIDENCE_MAX = 10000
_QUOTE_MAX = 160
_EVIDENCE_POSTS = 25  # at most this many posts as evidence on one candidate (the first ones)
_PRECISION_RANK = {"exact": 3, "street": 2, "ward": 1, "city": 0}


def word_set(text: str) -> frozenset[str]:
    """The folded words of a post (URLs, mentions, punctuation dropped): the key for near-duplicates."""
    return frozenset(f for f in analyse(text).folds if f is not None)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass
class _Cluster:
    """One report and every post that made it."""
    category: str
    words: frozenset[str]
    last_at: datetime
    posts: list[Post]
    cls: Classification
    place: Place
    first_id: str  # the id of the cluster's first candidate
    refs: set[str] = field(default_factory=set)


class MissLog:
    """Posts that were not raised although they had a category cue, one JSON line each (append-only)."""

    def __init__(self, path: str | Path, salt: str = ""):
        self.path, self.salt = Path(path), salt
        self._lock = threading.Lock()

    def __call__(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")


@dataclass(frozen=True)
class Outcome:
    """What the pipeline decided about one post."""
    candidate: Candidate | None
    reason: str  # "candidate", "retweet", "repost", "no_category", "not_report", "below_threshold", "invalid: ..."
    classification: Classification | None = None
    place: Place | None = None
    duplicate_of: str | None = None  # for a re-post: the source_ref of the cluster's first post


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
                 classifier: Classifier | None = None, locator: Locator | None = None,
                 near_threshold: float = 0.6, near_window: timedelta = timedelta(hours=6),
                 misses: Callable[[dict], None] | None = None):
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold {threshold} is outside 0..1")
        self.names = _category_names(categories)
        self.threshold = float(threshold)
        self.salt = salt
        self.classifier = classifier or Classifier(categories=self.names)
        self.locator = locator or Locator()
        self.near_threshold = near_threshold
        self.near_window = near_window
        self.misses = misses
        self._seen: dict[str, str] = {}  # text fingerprint → source_ref of the first post with that text
        self._clusters: list[_Cluster] = []  # reports of the last near_window, oldest first
        self._cluster_of: dict[str, _Cluster] = {}  # source_ref → its cluster
        self._emitted: dict[str, Candidate | None] = {}  # source_ref → what processing it gave (replays)
        self._lock = threading.RLock()  # the webhook calls from several threads

    @property
    def model_version(self) -> str:
        return self.classifier.version

    # ---- one post -------------------------------------------------------------------------------------
    def evaluate(self, post: Post) -> Outcome:
        with self._lock:
            return self._evaluate(post)

    def _evaluate(self, post: Post) -> Outcome:
        if is_retweet(post.text):
            return Outcome(None, "retweet")
        if post.ref in self._cluster_of:  # a replay of a post already in a report
            c = self._cluster_of[post.ref]
            first = c.posts[0].ref
            return Outcome(None, "candidate" if first == post.ref else "repost", c.cls, c.place,
                           None if first == post.ref else first)
        fp = text_fingerprint(post.text)
        first = self._seen.setdefault(fp, post.ref)
        if first != post.ref:
            cluster = self._cluster_of.get(first)
            if cluster is not None:
                self._join(cluster, post, word_set(post.text))
            return Outcome(None, "repost", duplicate_of=first)

        cls = self.classifier.classify(post.text)
        if cls.category is None or cls.category not in self.names:
            return Outcome(None, "no_category", cls)
        if not cls.is_report:
            self._miss(post, cls, "not_report")
            return Outcome(None, "not_report", cls)
        if cls.confidence < self.threshold:
            self._miss(post, cls, "below_threshold")
            return Outcome(None, "below_threshold", cls)

        place = self.locator.locate(post.text)
        if place.level == "city" and post.place:  # the text says nothing usable: try the platform's place tag
            tagged = self.locator.locate(post.place)
            if tagged.level != "city":
                place = tagged
        words = word_set(post.text)
        near = self._near(cls.category, words, place, post.posted_at)
        if near is not None:
            self._join(near, post, words)
            return Outcome(None, "repost", cls, place, near.posts[0].ref)
        try:
            candidate = self._candidate([post], cls, place, post.ref)
        except ValueError as e:  # pydantic's ValidationError is a ValueError
            return Outcome(None, f"invalid: {e}", cls, place)
        cluster = _Cluster(cls.category, words, post.posted_at, [post], cls, place, candidate.id, {post.ref})
        self._clusters.append(cluster)
        self._cluster_of[post.ref] = cluster
        return Outcome(candidate, "candidate", cls, place)

    def _near(self, category: str, words: frozenset[str], place: Place, at: datetime) -> _Cluster | None:
        self._clusters = [c for c in self._clusters if abs(at - c.last_at) <= self.near_window * 4]
        best, best_j = None, self.near_threshold
        for c in self._clusters:
            if c.category != category or abs(at - c.last_at) > self.near_window:
                continue
            if place.street and c.place.street and place.street != c.place.street:
                continue  # the same words about two different streets are two reports
            j = jaccard(words, c.words)
            if j >= best_j:
                best, best_j = c, j
        return best

    def _join(self, cluster: _Cluster, post: Post, words: frozenset[str]) -> None:
        if post.ref in cluster.refs:
            return
        cluster.posts.append(post)
        cluster.refs.add(post.ref)
        cluster.words = cluster.words | words if len(cluster.words) < 200 else cluster.words
        cluster.last_at = max(cluster.last_at, post.posted_at)
        self._cluster_of[post.ref] = cluster

    def _miss(self, post: Post, cls: Classification, reason: str) -> None:
        if self.misses is None:
            return
        try:
            self.misses({"ref": post.ref, "url": post.url, "posted_at": post.posted_at.isoformat(),
                         "author_hash": author_hash(post.author, self.salt), "text": nfc(post.text)[:2000],
                         "reason": reason, "category": cls.category, "confidence": cls.confidence,
                         "score": cls.score, "threshold": self.threshold, "phrases": list(cls.phrases),
                         "signals": list(cls.signals), "model_version": self.model_version})
        except OSError:
            pass  # the misses log is for review; never let it stop the pipeline

    # ---- batches ----------------------------------------------------------------------------------------
    def process_batch(self, posts: Iterable[Post]) -> list[Candidate]:
        """One candidate per report touched by these posts, each with all of its posts as evidence."""
        with self._lock:
            touched: dict[int, tuple[_Cluster, Post, bool]] = {}  # id(cluster) → (cluster, first post here, born here)
            replays: list[Candidate] = []
            for post in posts:
                if post.ref in self._emitted:  # a replay: the same answer as the first time
                    if self._emitted[post.ref] is not None:
                        replays.append(self._emitted[post.ref])
                    continue
                known = self._cluster_of.get(post.ref)
                out = self._evaluate(post)
                cluster = self._cluster_of.get(post.ref) if known is None else None
                self._emitted.setdefault(post.ref, None)
                if cluster is not None and id(cluster) not in touched:
                    touched[id(cluster)] = (cluster, post, out.reason == "candidate")
            result = list(replays)
            for cluster, first_here, born in touched.values():
                ref = cluster.posts[0].ref if born else first_here.ref
                try:
                    cand = self._candidate(cluster.posts, cluster.cls, cluster.place, ref,
                                           None if born else cluster.first_id)
                except ValueError:
                    continue
                self._emitted[ref] = cand
                result.append(cand)
            return result

    def process(self, post: Post) -> Candidate | None:
        out = self.process_batch([post])
        return out[0] if out else None

    def run(self, posts: Iterable[Post]) -> list[Candidate]:
        """Process many posts as one batch; the candidates, in order."""
        return self.process_batch(posts)

    def _summary(self, cls: Classification, place: Place, text: str) -> str:
        what = self.names.get(cls.category, cls.category)
        what = what[0].lower() + what[1:] if what else what
        quote = " ".join(text.split())
        if len(quote) > _QUOTE_MAX:
            quote = quote[: _QUOTE_MAX - 1].rstrip() + "…"
        return f"Bài đăng báo {what} tại {place.describe()}: “{quote}”"

    def _candidate(self, posts: list[Post], cls: Classification, place: Place, ref: str,
                   duplicate_of: str | None = None) -> Candidate:
        post = next(p for p in posts if p.ref == ref) if any(p.ref == ref for p in posts) else posts[0]
        text = nfc(posts[0].text)
        attributes: dict[str, str | int | float | bool | None] = {
            "phrases": "; ".join(cls.phrases),
            "signals": "; ".join(cls.signals)[:500] or None,
            "location_precision": place.level,
            "district": place.district,
            "ward_legacy": place.ward_legacy,
            "place_text": "; ".join(place.matched) or None,
            "platform": post.platform,
            "score": cls.score,
            "reports": len(posts),
            "duplicate_of": duplicate_of,
            "sources": "; ".join(p.ref for p in posts[:_EVIDENCE_POSTS])[:2000],
        }
        return Candidate.create(
            source="social",
            source_ref=ref,
            category=cls.category,
            confidence=cls.confidence,
            observed_at=min(p.posted_at for p in posts).astimezone(CITY_TZ) if duplicate_of is None
            else post.posted_at.astimezone(CITY_TZ),
            location=place.to_location(),
            summary=self._summary(cls, place, text),
            evidence=[PostEvidence(url=p.url, text=nfc(p.text)[:_EVIDENCE_MAX],
                                   author_hash=author_hash(p.author, self.salt), posted_at=p.posted_at)
                      for p in posts[:_EVIDENCE_POSTS]],
            detector={"name": DETECTOR_NAME, "backend": DETECTOR_BACKEND,
                      "model_version": self.model_version, "threshold": self.threshold},
            attributes={k: v for k, v in attributes.items() if v is not None},
        )


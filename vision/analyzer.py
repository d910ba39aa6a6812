"""The analyzer interface and its registry.

An analyzer looks at one frame inside one zone and answers with an Observation: a score 0..1 for
its category, whether that score passes the zone's threshold, and what it saw (a pixel mask and/or
boxes, plus numbers for the candidate's attributes). It decides nothing over time: confirmation
across looks is vision.confirm's job, raising candidates is monitors.runner's.

Two modes (AnalyzeContext.mode):

* "camera": the instance belongs to one (camera, zone, category) and may keep per-camera state, e.g. a
  dry/clear baseline of the zone learned in calm periods (vision.baseline). The runner tells it whether
  an episode is active (`episode_active`): a baseline is only updated while none is, so standing water
  or a tree is never learned as "normal". Until the baseline is ready (the camera's first looks) the
  analyzer answers as in single-image mode and says so in detail["mode"].
* "single": one image, no state read or written (used by `watch1022 eval` and for arbitrary photos).

A new analyzer or backend is one module plus one entry in ANALYZERS. Entries are "module:Class"
strings resolved on first use, so a learned backend's heavy imports (onnxruntime, …) only happen
for cameras that ask for it.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from models.candidate import Box
from vision.zones import Zone


@dataclass
class AnalyzeContext:
    """What an analyzer may know besides the pixels."""
    camera_id: str
    observed_at: datetime | None = None
    threshold: float = 0.5
    mode: str = "camera"  # "camera" (per-camera state and baseline) | "single" (one image, no state)
    episode_active: bool = False  # the runner's confirmation state for this check: freezes baselines

    @property
    def single(self) -> bool:
        return self.mode == "single"


@dataclass
class Observation:
    category: str
    zone: str
    score: float  # 0..1
    positive: bool  # score >= threshold
    threshold: float
    detail: dict[str, Any] = field(default_factory=dict)  # numbers worth keeping as attributes
    mask: np.ndarray | None = None  # uint8 h×w (full frame), 255 where the category was seen
    boxes: list[Box] = field(default_factory=list)  # relative boxes

    def summary(self) -> str:
        sign = ">=" if self.positive else "<"
        return f"{self.category}@{self.zone}: {self.score:.2f} {sign} {self.threshold:.2f}"


class Analyzer(ABC):
    """One instance per (camera, zone, category): a backend may keep per-camera state (a baseline)."""

    category: str = ""
    backend: str = ""
    model_version: str = ""
    candidate_category: str | None = None  # category of the candidates it raises (default: category)

    def reset(self) -> None:
        """Forget per-camera state (baseline, history), e.g. after an operator re-aims the camera."""

    @abstractmethod
    def analyze(self, image: np.ndarray, zone: Zone, ctx: AnalyzeContext) -> Observation:
        """image: BGR uint8 h×w×3. Must not modify it."""

    def summary_vi(self, obs: Observation) -> str:
        """One Vietnamese phrase for the candidate's summary: what was seen, for an operator."""
        return f"phát hiện dấu hiệu '{obs.category}' tại vùng '{obs.zone}' (điểm {obs.score:.2f})"


class UnknownAnalyzer(LookupError):
    pass


# category -> backend -> "module:Class"
ANALYZERS: dict[str, dict[str, str]] = {
    "flooding": {"classical": "vision.flooding:FloodingAnalyzer",
                 "learned": "vision.learned:LearnedFloodingAnalyzer"},  # ONNX classify model (model: version)
    "fallen_tree": {"classical": "vision.fallen_tree:FallenTreeAnalyzer",
                    "learned": "vision.learned:LearnedFallenTreeAnalyzer"},
    "camera_health": {"classical": "vision.camera_health:CameraHealthAnalyzer"},
}


def analyzer_class(category: str, backend: str = "classical") -> type[Analyzer]:
    backends = ANALYZERS.get(category)
    if backends is None:
        raise UnknownAnalyzer(f"no analyzer for category {category!r} (known: {', '.join(sorted(ANALYZERS))})")
    target = backends.get(backend)
    if target is None:
        raise UnknownAnalyzer(f"analyzer {category!r} has no backend {backend!r} (known: {', '.join(sorted(backends))})")
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def make_analyzer(category: str, backend: str = "classical", **options: Any) -> Analyzer:
    return analyzer_class(category, backend)(**options)

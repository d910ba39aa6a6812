"""Camera health as a detector: frozen picture, black or blinded (white-out), defocused/blurred, moved
away from its reference view. Whether the camera answers at all (offline) is the monitor's business
(monitors.health); this analyzer judges the pixels it gets.

One instance per camera zone (use a zone covering the frame, or any zone: the checks look at the whole
frame). Per-camera state: the previous thumbnail (frozen) and a calm reference (sharpness and an edge
thumbnail for "moved"), learned from the first looks and updated slowly only while healthy. In single-
image mode only black/blinded and an extreme lack of sharpness can be judged.

score = the strongest issue's score; detail["issue"] names it (or "ok") and each issue's score is kept.
Candidates are raised in the core's category `camera_fault`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from vision.analyzer import AnalyzeContext, Analyzer, Observation
from vision.zones import Zone

ISSUES_VI = {"frozen": "hình bị đứng (không đổi)", "black": "hình đen", "blinded": "hình bị lóa trắng",
             "defocused": "hình mờ, mất nét", "moved": "camera bị lệch hướng so với ảnh tham chiếu"}


@dataclass(frozen=True)
class CameraHealthParams:
    thumb_width: int = 160
    frozen_diff: float = 0.25  # mean abs difference (grey levels) below which two looks are the same picture
    frozen_after: int = 2  # identical looks in a row (besides the first) → frozen
    black_mean: float = 20.0
    blinded_mean: float = 235.0
    flat_std: float = 10.0  # black/white-out frames are also flat
    sharp_ratio: float = 0.35  # sharpness below this share of the reference → defocused
    sharp_abs: float = 4.0  # single image: mean gradient magnitude (thumbnail) this low → defocused
    moved_px: float = 0.02  # shift (share of the width) beyond which the camera has moved
    moved_response: float = 0.08  # phase-correlation peak needed to trust the shift
    warmup: int = 3
    rate: float = 0.05


def _sharpness(gray: np.ndarray) -> float:
    g = gray.astype(np.float32)
    return float(np.abs(cv2.Laplacian(g, cv2.CV_32F, ksize=3)).mean())


class CameraHealthAnalyzer(Analyzer):
    category = "camera_health"
    candidate_category = "camera_fault"
    backend = "classical"
    model_version = "camera_health-classical-1"

    def __init__(self, params: CameraHealthParams | None = None, **overrides):
        self.params = replace(params or CameraHealthParams(), **overrides)
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None
        self._same = 0
        self._ref_edges: np.ndarray | None = None
        self._ref_sharp = 0.0
        self._count = 0

    def summary_vi(self, obs: Observation) -> str:
        issue = obs.detail.get("issue", "")
        return f"camera có dấu hiệu hỏng: {ISSUES_VI.get(issue, issue)}"

    def analyze(self, image: np.ndarray, zone: Zone, ctx: AnalyzeContext) -> Observation:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a BGR image, got shape {image.shape}")
        p = self.params
        h, w = image.shape[:2]
        tw = p.thumb_width
        th = max(8, round(tw * h / w))
        gray = cv2.cvtColor(cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        g = gray.astype(np.float32)
        mean, std = float(g.mean()), float(g.std())
        scores: dict[str, float] = {}
        scores["black"] = 1.0 if (mean <= p.black_mean and std <= p.flat_std) else 0.0
        scores["blinded"] = 1.0 if (mean >= p.blinded_mean and std <= p.flat_std) else 0.0
        flat = scores["black"] or scores["blinded"]
        sharp = _sharpness(gray)
        edges = cv2.GaussianBlur(np.abs(cv2.Laplacian(g, cv2.CV_32F, ksize=3)), (0, 0), 1.5)
        shift = (0.0, 0.0)
        response = 0.0
        if ctx.single:
            scores["defocused"] = 0.0 if flat else float(np.clip((p.sharp_abs - sharp) / p.sharp_abs * 2, 0, 1))
        else:
            if self._prev is not None and self._prev.shape == g.shape and not flat:
                same = float(np.abs(g - self._prev).mean()) <= p.frozen_diff
                self._same = self._same + 1 if same else 0
            self._prev = g
            scores["frozen"] = 1.0 if self._same >= p.frozen_after else 0.0
            if self._count >= p.warmup and self._ref_edges is not None and self._ref_edges.shape == edges.shape:
                ratio = sharp / max(self._ref_sharp, 1e-3)
                scores["defocused"] = 0.0 if flat else float(np.clip((p.sharp_ratio * 1.5 - ratio) / p.sharp_ratio, 0, 1))
                win = cv2.createHanningWindow(edges.shape[::-1], cv2.CV_32F)
                shift, response = cv2.phaseCorrelate(self._ref_edges, edges, win)
                dist = math.hypot(*shift) / tw
                scores["moved"] = 0.0 if (flat or response < p.moved_response) else \
                    float(np.clip(dist / p.moved_px - 0.5, 0, 1))
            else:
                scores["defocused"] = 0.0 if flat else float(np.clip((p.sharp_abs - sharp) / p.sharp_abs * 2, 0, 1))
        issue, score = max(scores.items(), key=lambda kv: kv[1])
        if score <= 0:
            issue = "ok"
        if not ctx.single and not ctx.episode_active and score < 0.25:  # learn the healthy view
            if self._ref_edges is None or self._ref_edges.shape != edges.shape:
                self._ref_edges, self._ref_sharp, self._count = edges.copy(), sharp, 1
            else:
                a = 1.0 / (self._count + 1) if self._count < p.warmup else p.rate
                cv2.accumulateWeighted(edges, self._ref_edges, a)
                self._ref_sharp = (1 - a) * self._ref_sharp + a * sharp
                self._count += 1
        detail = {"issue": issue, "sharpness": round(sharp, 2), "brightness": round(mean, 1),
                  **{f"{k}_score": round(v, 3) for k, v in scores.items()}}
        if response:
            detail.update(shift_px=round(math.hypot(*shift) * w / tw, 1), shift_response=round(float(response), 3))
        return Observation(category=self.category, zone=zone.name, score=round(score, 4),
                           positive=score >= ctx.threshold, threshold=ctx.threshold, detail=detail)

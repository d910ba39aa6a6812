"""The model store: versioned learned models, each with its metrics, and which one is current.

    <model_dir>/<version>/model.onnx    what cameras run (ONNX Runtime, no torch)
    <model_dir>/<version>/weights.pt    the PyTorch weights, for fine-tuning (`watch1022 train --base`)
    <model_dir>/<version>/model.json    version, created_at, task, classes, imgsz, training data fingerprint,
                                        base version, metrics on the held-out split, the ONNX file's sha256
    <model_dir>/current.json            {"version", "promoted_at", "forced", "reason"}: the promoted model

A camera zone with `backend: learned` and `model: current` (or no model) runs the promoted version; a
named version pins it. Files are written to a temporary name and renamed, so a reader never sees half a
model, and a version folder is never rewritten once complete.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from models.candidate import now_city

CURRENT = "current"
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MODEL_DIR_ENV = "WATCH1022_MODEL_DIR"


class ModelStoreError(LookupError):
    """A model version that is missing, malformed or not promoted yet; the message is for an operator."""


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ModelStore:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    # ---- reading -----------------------------------------------------------------------------
    def versions(self) -> list[dict[str, Any]]:
        """model.json of every complete version, oldest first."""
        out = []
        if self.directory.is_dir():
            for d in self.directory.iterdir():
                if d.is_dir() and VERSION_RE.match(d.name) and (d / "model.json").is_file() \
                        and (d / "model.onnx").is_file():
                    try:
                        out.append(json.loads((d / "model.json").read_text(encoding="utf-8")))
                    except (OSError, ValueError):
                        continue
        return sorted(out, key=lambda m: (m.get("created_at", ""), m.get("version", "")))

    def current(self) -> str | None:
        p = self.directory / "current.json"
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError):
            return None

    def resolve(self, version: str | None = CURRENT) -> str:
        """A concrete version for `version` ("current" or None → the promoted one)."""
        if version in (None, "", CURRENT):
            cur = self.current()
            if cur is None:
                raise ModelStoreError(f"no model is promoted in {self.directory} (train one with `watch1022 train`, "
                                      "then `watch1022 models promote VERSION`)")
            version = cur
        if not VERSION_RE.match(version):
            raise ModelStoreError(f"{version!r} is not a model version")
        d = self.directory / version
        if not (d / "model.onnx").is_file() or not (d / "model.json").is_file():
            known = ", ".join(m["version"] for m in self.versions()) or "none"
            raise ModelStoreError(f"model {version!r} is not in {self.directory} (known: {known})")
        return version

    def path(self, version: str | None = CURRENT, name: str = "model.onnx") -> Path:
        return self.directory / self.resolve(version) / name

    def info(self, version: str | None = CURRENT) -> dict[str, Any]:
        v = self.resolve(version)
        return json.loads((self.directory / v / "model.json").read_text(encoding="utf-8"))

    # ---- writing -----------------------------------------------------------------------------
    def new_version(self, onnx_path: str | Path) -> str:
        """A version name: the city's date and time and the start of the ONNX file's sha256."""
        stamp = now_city().strftime("%Y%m%d-%H%M%S")
        return f"{stamp}-{file_sha256(onnx_path)[:8]}"

    def add(self, onnx_path: str | Path, meta: dict[str, Any], weights_path: str | Path | None = None,
            version: str | None = None) -> str:
        """Copy a model into the store under a new version; returns the version."""
        version = version or self.new_version(onnx_path)
        if not VERSION_RE.match(version):
            raise ModelStoreError(f"{version!r} is not a valid version name")
        final = self.directory / version
        if final.exists():
            raise ModelStoreError(f"model {version!r} already exists in {self.directory}")
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.directory, prefix=".tmp-"))
        try:
            shutil.copyfile(onnx_path, tmp / "model.onnx")
            if weights_path is not None:
                shutil.copyfile(weights_path, tmp / "weights.pt")
            meta = {**meta, "version": version, "onnx_sha256": file_sha256(tmp / "model.onnx")}
            meta.setdefault("created_at", now_city().isoformat(timespec="seconds"))
            _write_json(tmp / "model.json", meta)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return version

    def set_current(self, version: str, forced: bool = False, reason: str = "") -> None:
        v = self.resolve(version)
        _write_json(self.directory / "current.json",
                    {"version": v, "promoted_at": now_city().isoformat(timespec="seconds"), "forced": forced,
                     "reason": reason})


def default_model_dir(config_dir: str | Path | None = None) -> Path:
    """$WATCH1022_MODEL_DIR, else vision.yaml's model_dir (relative to the project root)."""
    env = os.environ.get(MODEL_DIR_ENV)
    if env:
        return Path(env)
    from configs.loader import CONFIG_DIR, PROJECT_ROOT, load_file
    from configs.schema import VisionFile
    p = Path(config_dir or CONFIG_DIR) / "vision.yaml"
    conf = load_file(p, VisionFile) if p.exists() else VisionFile()
    d = Path(conf.model_dir)
    return d if d.is_absolute() else PROJECT_ROOT / d


def vision_settings(config_dir: str | Path | None = None):
    from configs.loader import CONFIG_DIR, load_file
    from configs.schema import VisionFile
    p = Path(config_dir or CONFIG_DIR) / "vision.yaml"
    return load_file(p, VisionFile) if p.exists() else VisionFile()

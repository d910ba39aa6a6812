"""`watch1022 export-dataset`: the frames of reviewed camera candidates as a YOLO classification dataset,
labelled by the operators' verdicts (the model lifecycle's first step).

    incident verdict accepted | resolved  → the incident's category (flooding, fallen_tree)
    incident verdict rejected             → normal (a false alarm: exactly what the model must unlearn)
    duplicate, or no verdict yet          → skipped

Each image is the crop of the candidate's zone (its bounding box), as the learned analyzer sees it: the
zone's polygon comes from the camera registry (zones table) or cameras.yaml, by the candidate's
camera_id and zone attributes; a frame whose zone is unknown is kept whole and counted as `uncropped`.
The raw frame is exported, not the annotated evidence: the one the evidence store keeps beside it
(vision.evidence: `<sha>.raw`), or the candidate's `raw_frame_uri` attribute. Evidence stored before raw
frames were kept has only the annotated frame (drawn zone outline and labels, which the crop partly keeps):
it is exported as it is and counted as `annotated_only`.

Only categories the learned models know are exported (camera_fault and the social categories are not).
Each candidate goes to train / val / test by a hash of a candidate id (70 / 15 / 15): the id of the candidate
that opened its incident (the incident's watch_id), so every frame of one episode (near-identical looks
of one camera) lands in the same split and the held-out split never leaks into training; a re-export puts
every frame in the same split as before. Images are copied
from the evidence store under their content hash; manifest.json has the counts and what was skipped.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models.tables import CandidateRow, Incident, Verdict
from models.tables import Zone as ZoneRow

LEARNED_CLASSES = ("flooding", "fallen_tree")
POSITIVE_VERDICTS = {"accepted", "resolved"}
NEGATIVE_VERDICTS = {"rejected"}
SPLIT_SHARES = (("train", 70), ("val", 15), ("test", 15))


def split_of(candidate_id: str) -> str:
    """Deterministic split by the candidate id's sha256 (buckets 0..99)."""
    bucket = int(hashlib.sha256(candidate_id.encode("utf-8")).hexdigest()[:8], 16) % 100
    acc = 0
    for name, share in SPLIT_SHARES:
        acc += share
        if bucket < acc:
            return name
    return SPLIT_SHARES[-1][0]


def label_for(category: str, verdict: str | None) -> str | None:
    if category not in LEARNED_CLASSES or verdict is None:
        return None
    if verdict in POSITIVE_VERDICTS:
        return category
    if verdict in NEGATIVE_VERDICTS:
        return "normal"
    return None  # duplicate (the frame is another incident's) or unknown


def _final_verdicts(s: Session) -> dict[int, str]:
    """The latest verdict per incident (operators may reopen and decide again)."""
    out: dict[int, str] = {}
    for v in s.scalars(select(Verdict).order_by(Verdict.recorded_at, Verdict.id)):
        out[v.incident_id] = v.verdict
    return out


def _zone_polygons(session: Session, configured: dict[tuple[str, str], list] | None) -> dict[tuple[str, str], list]:
    zones = dict(configured or {})
    for z in session.scalars(select(ZoneRow)):  # the live registry wins over the file
        zones[(z.camera_id, z.name)] = z.polygon
    return zones


def _write_crop(src: Path, dst: Path, polygon: list | None) -> bool:
    """Copy src to dst, cropped to the polygon's bounding box when known; True if cropped."""
    if polygon:
        import cv2

        from vision.evaluate import read_image
        from vision.learned import zone_crop
        from vision.zones import Zone
        img = read_image(src)
        if img is not None:
            ok, buf = cv2.imencode(".jpg", zone_crop(img, Zone("zone", polygon)), [cv2.IMWRITE_JPEG_QUALITY, 92])
            if ok:
                dst.write_bytes(buf.tobytes())
                return True
    shutil.copyfile(src, dst)
    return False


def _raw_uri(store, uri: str, attrs: dict) -> str | None:
    """The raw frame of an evidence frame: linked beside it in the store, else the candidate's raw_frame_uri."""
    try:
        raw = store.raw_of(uri)
    except ValueError:
        raw = None
    if raw is None and attrs.get("raw_frame_uri"):
        try:
            p = store.path(str(attrs["raw_frame_uri"]))
        except ValueError:
            return None
        raw = str(attrs["raw_frame_uri"]) if p.is_file() else None
    return raw


def export_dataset(session: Session, evidence_dir: str | Path, out: str | Path,
                   zones: dict[tuple[str, str], list] | None = None) -> dict[str, Any]:
    """zones: (camera_id, zone name) → relative polygon, from cameras.yaml (the zones table adds to it)."""
    evidence_dir = Path(evidence_dir).resolve()
    out = Path(out)
    verdicts = _final_verdicts(session)
    polygons = _zone_polygons(session, zones)
    counts: dict[str, dict[str, int]] = {s: {} for s, _ in SPLIT_SHARES}
    skipped = {"no_verdict": 0, "duplicate": 0, "other_category": 0, "no_frame": 0, "missing_file": 0}
    uncropped = 0
    annotated_only = 0
    from vision.evidence import EvidenceStore
    store = EvidenceStore(evidence_dir)
    items = []
    rows = session.scalars(select(CandidateRow).where(CandidateRow.source == "camera")
                           .options(selectinload(CandidateRow.evidence)).order_by(CandidateRow.id))
    for cand in rows:
        verdict = verdicts.get(cand.incident_id) if cand.incident_id is not None else None
        if verdict is None and cand.incident_id is not None:  # status may carry the verdict without a row
            inc = session.get(Incident, cand.incident_id)
            if inc is not None and inc.status in POSITIVE_VERDICTS | NEGATIVE_VERDICTS | {"duplicate"}:
                verdict = inc.status
        if cand.category not in LEARNED_CLASSES:
            skipped["other_category"] += 1
            continue
        if verdict is None:
            skipped["no_verdict"] += 1
            continue
        label = label_for(cand.category, verdict)
        if label is None:
            skipped["duplicate"] += 1
            continue
        frames = [e for e in cand.evidence if e.kind == "frame" and e.uri]
        if not frames:
            skipped["no_frame"] += 1
            continue
        inc = session.get(Incident, cand.incident_id) if cand.incident_id is not None else None
        split_key = inc.watch_id if inc is not None else cand.id
        split = split_of(split_key)
        attrs = (cand.payload or {}).get("attributes") or {}
        polygon = polygons.get((str(attrs.get("camera_id")), str(attrs.get("zone"))))
        for ev in frames:
            src = (evidence_dir / ev.uri).resolve()
            if evidence_dir not in src.parents or not src.is_file():
                skipped["missing_file"] += 1
                continue
            raw_uri = _raw_uri(store, ev.uri, attrs)
            raw = raw_uri is not None
            if raw:
                src = (evidence_dir / raw_uri).resolve()
            else:
                annotated_only += 1
            sha = hashlib.sha256(src.read_bytes()).hexdigest() if raw or not ev.sha256 else ev.sha256
            name = f"{sha}{src.suffix.lower() or '.jpg'}"
            dst = out / split / label / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                if not _write_crop(src, dst, polygon):
                    uncropped += 1
                counts[split][label] = counts[split].get(label, 0) + 1
            items.append({"candidate_id": cand.id, "incident_id": cand.incident_id, "verdict": verdict,
                          "label": label, "split": split, "split_key": split_key, "file": f"{split}/{label}/{name}",
                          "frame": "raw" if raw else "annotated", "evidence_uri": ev.uri})
    for s, _ in SPLIT_SHARES:  # every class folder exists, so the layout is a complete YOLO dataset
        for c in (*LEARNED_CLASSES, "normal"):
            (out / s / c).mkdir(parents=True, exist_ok=True)
    manifest = {"images": sum(sum(c.values()) for c in counts.values()), "counts": counts, "skipped": skipped,
                "uncropped": uncropped, "annotated_only": annotated_only,
                "labels": {"accepted/resolved": "incident category", "rejected": "normal", "duplicate": "skipped"},
                "split": "sha256(incident's opening candidate id) % 100: train < 70 <= val < 85 <= test", "items": items}
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest

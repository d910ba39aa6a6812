"""Per-camera episodes on generated sequences: how many incidents the monitor confirms, how fast, and
how many episodes it raises for nothing, per condition (day, night, IR, and the dusk and dawn
transitions) and scenario.

    python -m vision.episodes --seeds 1001-1020 [--json]

Each (seed, condition, scenario) is one camera watched look by look: `WARMUP` calm looks (its calm
reference is learned), then the scenario's event: water rising and receding, a tree falling and
being cleared, or a rain spell / wet road / nothing ("calm") with no event at all. Under "dusk" the
light falls while the scenario runs: day looks while the reference is learned, then `DUSK_LOOKS` dusk
looks (the event starts with them: a flood rises as the light falls), then night; "dawn" is the same
mirrored (after a day and a night: night, dusk, day). Every camera goes through both every day, so a
false episode there would be raised daily. Frames come from vision.scenes and go through the monitor's
own per-look code (monitors.runner.CameraMonitor.step: both classical
analyzers on the camera's road zone, episode_active from the confirmation, K-of-N confirmation with
the default K=3 of N=5), so what is measured is what a camera would raise.

Per condition × scenario: episodes confirmed / sequences (a start of the scenario's category while its
event is drawn), the median looks from the first look the event is really there (label) to the
confirming one, and false episodes (any other start: the other category, outside the event, or a
second start of one event). Generated frames are drawings: seeds 951–970 (and lower) are for tuning,
1001–1020 are kept for checking.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from vision.scenes import camera_geometry, render_frame


SCENARIOS = ("flood", "tree", "wet_road", "rain", "calm")
CATEGORY = {"flood": "flooding", "tree": "fallen_tree"}  # scenarios with an event to confirm
WARMUP = 6  # calm looks before the event (the reference needs baseline_warmup = 3)
RISE = (0.08, 0.25, 0.65, 0.8, 0.9, 0.95, 0.95, 0.9, 0.8, 0.4, 0.15)  # water level per look
TREE_LOOKS = 8  # looks the tree lies on the road before it is cleared
SPELL = 10  # looks of rain / wet road
AFTER = 5  # calm looks at the end (an episode must be able to end)
DUSK_LOOKS = 8  # transitions: looks at dusk light, from the event's start
# condition -> render_frame time: one for the whole sequence, or phases (time, looks; the last one lasts). In a
# transition the event starts with the dusk phase; at dawn the camera has seen yesterday's daylight first
CONDITIONS = {"day": "day", "night": "night", "ir": "ir",
              "dusk": (("day", WARMUP), ("dusk", DUSK_LOOKS), ("night", 0)),
              "dawn": (("day", WARMUP), ("night", WARMUP), ("dusk", DUSK_LOOKS), ("day", 0))}
CITY = timezone(timedelta(hours=7))


def script(scenario: str) -> list[dict]:
    """render_frame arguments per look (time of day left out)."""
    calm: list[dict] = [{} for _ in range(WARMUP)]
    if scenario == "flood":  # rain while the water rises
        event = [{"water": lv, "rain": i < 5} for i, lv in enumerate(RISE)]
    elif scenario == "tree":
        calm = [{"shadows": True} for _ in range(WARMUP)]
        event = [{"tree": True, "shadows": True} for _ in range(TREE_LOOKS)]
    elif scenario == "wet_road":  # rain, then a wet reflective road that never floods
        event = [{"rain": i < SPELL // 2, "wet": True} for i in range(SPELL)]
    elif scenario == "rain":
        event = [{"rain": True} for _ in range(SPELL)]
    elif scenario == "calm":
        event = [{} for _ in range(SPELL)]
    else:
        raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    return calm + event + [dict(calm[0]) for _ in range(AFTER)]


def timeline(condition: str, scenario: str) -> list[dict]:
    """render_frame arguments per look, time of day included: a transition's dusk phase starts with the
    scenario's event (calm looks are added before it when the phases before dusk outlast the warm-up)."""
    looks = script(scenario)
    phases = CONDITIONS[condition]
    if isinstance(phases, str):
        return [{**kw, "time": phases} for kw in looks]
    lead = sum(n for t, n in phases[:[t for t, _ in phases].index("dusk")]) - WARMUP
    looks = [dict(looks[0]) for _ in range(lead)] + looks
    times = [t for t, n in phases[:-1] for _ in range(n)]
    return [{**kw, "time": times[i] if i < len(times) else phases[-1][0]} for i, kw in enumerate(looks)]


@dataclass
class Sequence:
    seed: int
    condition: str
    scenario: str
    confirmed_after: int | None = None  # looks from the event's first labelled look to the confirming one
    false_episodes: int = 0
    starts: list[tuple[int, str]] = field(default_factory=list)  # (look, category)


def _camera(seed: int):
    from configs.schema import CameraConf
    zone = camera_geometry(seed).zone_polygon()
    return CameraConf(id=f"gen-{seed}", name=f"generated {seed}", kind="image_folder", url="generated",
                      location={"lat": 10.776, "lon": 106.701},
                      zones=[{"name": "road", "polygon": zone, "analyzers": {c: {} for c in CATEGORY.values()}}])


def run_sequence(seed: int, condition: str, scenario: str, evidence_dir: str | Path) -> Sequence:
    # The monitor's per-look code, not a copy of it (a measuring tool: no vision module imports this one).
    from monitors.sources import Frame, FrameSource
    from monitors.runner import CameraMonitor
    from vision.evidence import EvidenceStore

    looks = timeline(condition, scenario)
    labels = []
    t0 = datetime(2026, 7, 1, 19, 0, tzinfo=CITY)

    class Generated(FrameSource):
        kind = "generated"

        def __init__(self):
            self.i = 0

        def read(self):
            if self.i >= len(looks):
                return None
            img, label = render_frame(seed, self.i, **looks[self.i])
            labels.append(label)
            self.i += 1
            return Frame(img, t0 + timedelta(seconds=60 * self.i), f"look_{self.i - 1:03d}")

    monitor = CameraMonitor(_camera(seed), Generated(), evidence_store=EvidenceStore(evidence_dir))
    out = Sequence(seed, condition, scenario)
    look = 0
    while (result := monitor.step()).status != "ended":
        for key, transition in result.transitions:
            if transition == "started":
                out.starts.append((look, key.split("/", 1)[1]))
        look += 1
    category = CATEGORY.get(scenario)
    event = [i for i, kw in enumerate(looks) if kw.get("water") or kw.get("tree")]
    present = [i for i, lb in enumerate(labels) if lb.label == category]
    for i, cat in out.starts:
        if cat == category and out.confirmed_after is None and event and event[0] <= i <= event[-1]:
            out.confirmed_after = i - present[0] + 1 if present else None
        else:
            out.false_episodes += 1
    return out


def _camera_runs(seed: int, conditions, scenarios, evidence_dir: str) -> list[Sequence]:
    return [run_sequence(seed, c, s, evidence_dir) for c in conditions for s in scenarios]


def measure(seeds, conditions=tuple(CONDITIONS), scenarios=SCENARIOS, jobs: int = 1) -> dict:
    """{condition: {scenario: {"sequences", "confirmed", "looks_median", "false_episodes", ...}}}.
    jobs > 1: cameras (seeds) in that many processes."""
    with tempfile.TemporaryDirectory(prefix="episodes-") as evidence:
        args = [(s, tuple(conditions), tuple(scenarios), evidence) for s in seeds]
        if jobs > 1:
            with ProcessPoolExecutor(jobs) as pool:
                per_seed = list(pool.map(_camera_runs, *zip(*args)))
        else:
            per_seed = [_camera_runs(*a) for a in args]
    runs = [r for rs in per_seed for r in rs]
    table: dict = {}
    for cond in conditions:
        for scen in scenarios:
            these = [r for r in runs if r.condition == cond and r.scenario == scen]
            looks = [r.confirmed_after for r in these if r.confirmed_after is not None]
            row = {"sequences": len(these), "false_episodes": sum(r.false_episodes for r in these)}
            if scen in CATEGORY:
                row["confirmed"] = len(looks)
                row["looks_median"] = statistics.median(looks) if looks else None
                row["missed_seeds"] = [r.seed for r in these if r.confirmed_after is None]
            row["false_seeds"] = [r.seed for r in these if r.false_episodes]
            table.setdefault(cond, {})[scen] = row
    return table


def format_table(table: dict) -> str:
    lines = [f"{'condition':<10}{'scenario':<10}{'confirmed':>11}{'looks':>7}{'false':>7}"]
    for cond, rows in table.items():
        for scen, r in rows.items():
            conf = f"{r['confirmed']}/{r['sequences']}" if "confirmed" in r else "-"
            looks = r.get("looks_median")
            lines.append(f"{cond:<10}{scen:<10}{conf:>11}{'-' if looks is None else f'{looks:g}':>7}"
                         f"{r['false_episodes']:>7}")
    return "\n".join(lines)


def parse_seeds(text: str) -> list[int]:
    """'1001-1020' or '951,953,960-962'."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vision.episodes", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="951-970", help="camera seeds: 1001-1020 or 951,953,960-962")
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--jobs", type=int, default=1, help="processes (cameras are shared out by seed)")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = ap.parse_args(argv)
    table = measure(parse_seeds(args.seeds), args.conditions.split(","), args.scenarios.split(","), args.jobs)
    print(json.dumps(table) if args.json else format_table(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

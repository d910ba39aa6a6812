"""The social text path compiled with mypyc (scripts/build_social.py) answers exactly as the plain Python one, and
is never used once a source has changed since it was compiled.

Each side runs in a process of its own (a module is imported once per process): WATCH1022_PURE_PYTHON=1 makes
one of them plain Python. Skipped where the build is missing, except with CI=true: scripts/setup.sh builds it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import social

ROOT = Path(__file__).resolve().parents[1]

needs_build = pytest.mark.skipif(
    social.RUNNING != "compiled" and os.environ.get("CI") != "true",
    reason=f"social text path not compiled here ({social.RUNNING})")

# Every labelled post that ships, the real texts, and the benchmark's generated posts: answers of every field
_ANSWERS = r"""
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import social
from social.classify import classify
from social.locate import default_locator
from social.normalize import analyse
import importlib.util
spec = importlib.util.spec_from_file_location("bench_social", Path(sys.argv[1]) / "bench" / "social.py")
bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)
texts = []
for f in sorted((Path(sys.argv[1]) / "samples" / "social").glob("*.jsonl")):
    for line in f.read_text(encoding="utf-8").split("\n"):
        try:
            texts.append(json.loads(line)["text"])
        except (ValueError, KeyError, TypeError):  # blank lines, and posts.jsonl's malformed line (the dead letter)
            pass
texts += bench.make_posts(1500, seed=7)
loc = default_locator()
out = []
for t in texts:
    c = classify(t)
    p = loc.locate(t)
    d = analyse(t)
    out.append([c.category, c.is_report, c.confidence, list(c.phrases), list(c.signals), c.score,
                c.category_scores, p.lat, p.lon, p.ward, p.street, p.address, p.district, p.precision, p.level,
                p.ward_legacy, list(p.matched), p.landmark, p.cross_street, p.other_area, d.cleaned, list(d.folds)])
print(json.dumps({"running": social.RUNNING, "compiled": social.running_compiled(), "answers": out}))
"""


def _answers(pure: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "WATCH1022_PURE_PYTHON"}
    if pure:
        env["WATCH1022_PURE_PYTHON"] = "1"
    r = subprocess.run([sys.executable, "-c", _ANSWERS, str(ROOT)], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.splitlines()[-1])


@needs_build
def test_the_build_is_current_and_in_use():
    assert social.RUNNING == "compiled", social.RUNNING
    assert social.running_compiled()
    from social import classify, locate, normalize, phrases
    for m in (classify, locate, normalize, phrases):
        assert not m.__file__.endswith(".py"), m.__file__


@needs_build
def test_compiled_and_plain_python_answer_alike():
    compiled, pure = _answers(pure=False), _answers(pure=True)
    assert compiled["compiled"] and not pure["compiled"], (compiled["running"], pure["running"])
    assert len(compiled["answers"]) > 2000
    diffs = [i for i, (a, b) in enumerate(zip(compiled["answers"], pure["answers"])) if a != b]
    assert not diffs, f"{len(diffs)} posts differ, first: {compiled['answers'][diffs[0]]} vs {pure['answers'][diffs[0]]}"
    assert len(compiled["answers"]) == len(pure["answers"])


@needs_build
def test_an_edited_source_runs_as_python_not_as_the_stale_build(tmp_path):
    copy = tmp_path / "social"
    shutil.copytree(ROOT / "social", copy, ignore=shutil.ignore_patterns("__pycache__"))
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import social; from social import phrases; "
             "print(social.RUNNING); print(phrases.__file__)")
    env = {k: v for k, v in os.environ.items() if k != "WATCH1022_PURE_PYTHON"}

    def run() -> list[str]:
        r = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], env=env, capture_output=True, text=True,
                           cwd=tmp_path, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout.splitlines()

    running, path = run()
    assert running == "compiled" and path.startswith(str(copy)) and not path.endswith(".py")
    with open(copy / "phrases.py", "a", encoding="utf-8") as f:
        f.write("\n# edited after the build\n")
    running, path = run()
    assert "sources changed" in running
    assert path == str(copy / "phrases.py")

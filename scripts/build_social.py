"""Compile the social text path (normalise → phrase matching → classify → locate) with mypyc.

    python scripts/build_social.py [--force] [--check]

The four modules stay plain Python, the only source; this builds C extensions from them next to them
(social/*.so, git-ignored) and writes social/.compiled.json with the hash of each source it compiled. At import,
social/__init__.py uses the compiled modules only while every source still has the hash it was compiled from:
an edited module runs as Python until the next build, never as a stale binary. Same behaviour either way (the
test suite checks the two give identical answers); compiled, the bench runs ~1.7x faster (bench/social.py).

Run by scripts/setup.sh. Exits 0 without work when the build is current; --check only says whether it is.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from social import COMPILED, COMPILED_GROUP, STAMP, compiled_state, source_hashes  # noqa: E402

_SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify
tmp = sys.argv[1]  # C sources and objects go there, not to the project's build/
setup(name="watch1022-social-hotpath", script_args=["build_ext", "--inplace", "--build-temp", tmp, "--build-lib", tmp],
      ext_modules=mypycify(sys.argv[2:], opt_level="3", group_name={group!r}, target_dir=tmp))
"""


def build() -> None:
    files = [f"social/{m.rsplit('.', 1)[1]}.py" for m in COMPILED]
    hashes = source_hashes()  # before compiling: a source edited meanwhile then reads as stale
    STAMP.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="social-mypyc-") as tmp:
        script = Path(tmp) / "setup_mypyc.py"
        script.write_text(_SETUP.format(group=COMPILED_GROUP))
        # mypy checks the modules first: their annotations are what the compiled code enforces at run time
        cmd = [sys.executable, str(script), tmp, "--ignore-missing-imports", "--follow-imports=silent", *files]
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
            raise SystemExit(f"build_social: mypyc failed (exit {r.returncode}); the social path runs as plain Python")
    STAMP.write_text(json.dumps({"python": sys.version.split()[0], "sources": hashes}, indent=1) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="build even when the build is current")
    ap.add_argument("--check", action="store_true", help="only say whether the build is current (exit 1 if not)")
    args = ap.parse_args()
    state = compiled_state()
    if args.check:
        print(f"social hot path: {state}")
        return 0 if state == "compiled" else 1
    if state == "compiled" and not args.force:
        print("social hot path: compiled build is current")
        return 0
    build()
    print(f"social hot path: compiled with mypyc ({', '.join(COMPILED)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

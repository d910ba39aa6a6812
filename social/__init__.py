"""Social-media monitoring: post sources, Vietnamese normalisation, classifier, locator, and the
pipeline that turns a post into a Candidate (see social/README.md).

The text path (normalize, phrases, classify, locate) may also be compiled with mypyc
(scripts/build_social.py, run by scripts/setup.sh). The compiled modules are used only while each source
still has the hash recorded when it was compiled, so an edited module runs as Python, never as a stale
binary; WATCH1022_PURE_PYTHON=1 runs them as Python anyway.
"""
from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMPILED = ("social.normalize", "social.phrases", "social.classify", "social.locate")
COMPILED_GROUP = "social._hotpath"  # mypyc's shared library: social/_hotpath__mypyc.*.so
STAMP = HERE / ".compiled.json"


def source_hashes() -> dict[str, str]:
    return {m: hashlib.sha256((HERE / f"{m.rsplit('.', 1)[1]}.py").read_bytes()).hexdigest() for m in COMPILED}


def compiled_state() -> str:
    """"compiled" when the built modules match their sources; otherwise why they are not used."""
    if os.environ.get("WATCH1022_PURE_PYTHON", "") not in ("", "0"):
        return "pure Python (WATCH1022_PURE_PYTHON is set)"
    try:
        stamp = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return "pure Python (not compiled: run scripts/build_social.py)"
    if stamp.get("python") != sys.version.split()[0]:
        return f"pure Python (compiled for Python {stamp.get('python')})"
    if stamp.get("sources") != source_hashes():
        return "pure Python (the sources changed since they were compiled: run scripts/build_social.py)"
    return "compiled"


class _PythonSource(importlib.abc.MetaPathFinder):
    """Imports the text path's modules from their .py files, past any compiled module beside them."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in COMPILED:
            return None
        return importlib.util.spec_from_file_location(fullname, HERE / f"{fullname.rsplit('.', 1)[1]}.py")


RUNNING = compiled_state()
if RUNNING != "compiled":
    sys.meta_path.insert(0, _PythonSource())


def running_compiled() -> bool:
    """Is the text path running compiled (checked on the module actually imported)?"""
    from social import phrases
    return not phrases.__file__.endswith(".py")

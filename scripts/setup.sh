#!/usr/bin/env bash
# Set up 1022 Watch in .venv/ (idempotent): a virtual environment with the project and its test tools,
# pinned by constraints.txt so every machine installs the same versions.
# --test-tools is for the test suite: it adds the `train` extra (PyTorch + ultralytics, several GB, for the
# training tests) and, from Debian's packages, what the tests drive as real peers when it is missing:
# Chromium (the console's browser tests) and ffmpeg (an RTSP server for the camera tests).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "1022 Watch needs Python 3.11 or newer as '$PY' (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv

extras=test,compile
[ "${1:-}" = "--test-tools" ] && extras=test,compile,train

# Re-install only when the dependency declarations (or the extras asked for) changed since the last set-up.
stamp=.venv/.watch1022-installed
want=$( (cat pyproject.toml constraints.txt; echo "$extras") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  pip=(.venv/bin/python -m pip --disable-pip-version-check)
  "${pip[@]}" install --quiet --upgrade pip
  "${pip[@]}" install --quiet -c constraints.txt -e ".[$extras]"
  # ultralytics asks for the GUI build opencv-python, which overwrites the cv2 of opencv-python-headless
  # (and needs libGL): keep the headless build only.
  if "${pip[@]}" show --quiet opencv-python >/dev/null 2>&1; then
    "${pip[@]}" uninstall --quiet -y opencv-python
    "${pip[@]}" install --quiet --force-reinstall --no-deps -c constraints.txt opencv-python-headless
  fi
  echo "$want" > "$stamp"
fi

# The social text path compiled with mypyc (~45 s, only when its sources changed); plain Python if that fails.
.venv/bin/python scripts/build_social.py || echo "warning: the social text path runs as plain Python (slower)" >&2

if [ "${1:-}" = "--test-tools" ]; then
  missing=""
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
  command -v ffmpeg >/dev/null 2>&1 || missing="$missing ffmpeg"
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing Debian packages for the tests:$missing" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
      echo "warning:$missing missing and cannot be installed here (needs root and apt-get); the tests that" \
           "drive them will be skipped (and fail with CI=true)" >&2
    fi
  fi
fi

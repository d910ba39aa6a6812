#!/usr/bin/env bash
# Set up 1022 Watch in .venv/ (idempotent): a virtual environment with the project and its test tools,
# pinned by constraints.txt so every machine installs the same versions.
# --test-tools also installs, from Debian's packages, what the tests drive as real peers when it is missing:
# Chromium (the console's browser tests) and ffmpeg (an RTSP server for the camera tests).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "1022 Watch needs Python 3.11 or newer as '$PY' (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv

# Re-install only when the dependency declarations changed since the last set-up.
stamp=.venv/.watch1022-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
  echo "$want" > "$stamp"
fi

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

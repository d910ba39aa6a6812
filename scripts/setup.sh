#!/usr/bin/env bash
# Set up 1022 Watch in .venv/ (idempotent): a virtual environment with the project and its test tools,
# pinned by constraints.txt so every machine installs the same versions.
# --browser also installs Debian's Chromium (for the console's browser tests) when it is missing.
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

if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the console browser tests..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: chromium is missing and cannot be installed here (needs root and apt-get); the console" \
         "browser tests will be skipped (and fail with CI=true)" >&2
  fi
fi

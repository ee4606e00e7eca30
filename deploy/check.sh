#!/usr/bin/env bash
# Deploy checks (run by `make test` after pytest): the Helm chart, the Kubernetes manifests it renders,
# the Prometheus rules and their unit tests, and a policy scan. Exits non-zero when any check fails.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CHART=deploy/helm/agora
TOOLS=$ROOT/.tools
HELM=$TOOLS/bin/helm
export PATH="$TOOLS/bin:$PATH"   # checkov runs the helm it finds on PATH
KUBE_VERSIONS=${KUBE_VERSIONS:-"1.37.0 1.29.0"}   # the newest Kubernetes and the oldest the chart supports
failed=()

if [ -t 1 ]; then section() { printf '\n\033[1m=== %s ===\033[0m\n' "$*"; }; else section() { printf '\n=== %s ===\n' "$*"; }; fi
run() {  # run NAME CMD...: records a failure instead of stopping, so every check reports
  local name=$1; shift
  if "$@"; then echo "ok: $name"; else echo "FAILED: $name"; failed+=("$name"); fi
}

section "tools"
bash deploy/install-tools.sh || { echo "FAILED: installing the check tools"; exit 1; }
"$HELM" version --short

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

section "helm lint --strict"
run "helm lint (default values)" "$HELM" lint --strict "$CHART"
run "helm lint (values-production.yaml)" "$HELM" lint --strict "$CHART" -f "$CHART/values-production.yaml"

section "helm template | kubernetes-validate --strict"
# CRD-based kinds (ServiceMonitor, PrometheusRule) have no schema here: their rules are checked by promtool.
strip_crds() {
  "$TOOLS/venv/bin/python" - "$1" "$2" <<'PYEOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kept = [d for d in docs if d.get("apiVersion", "").split("/")[0] != "monitoring.coreos.com"]
yaml.safe_dump_all(kept, open(sys.argv[2], "w"), sort_keys=False)
print(f"{len(kept)} manifests ({len(docs) - len(kept)} monitoring.coreos.com CRD objects left to promtool)")
PYEOF
}
validate_values() {
  local label=$1; shift
  "$HELM" template agora "$CHART" --namespace agora "$@" > "$work/$label.yaml" || return 1
  strip_crds "$work/$label.yaml" "$work/$label-core.yaml" || return 1
  local v rc=0
  for v in $KUBE_VERSIONS; do
    echo "-- Kubernetes $v"
    "$TOOLS/bin/kubernetes-validate" --strict --quiet -k "$v" "$work/$label-core.yaml" || rc=1
  done
  return $rc
}
run "manifests valid (default values)" validate_values default
run "manifests valid (values-production.yaml)" validate_values production -f "$CHART/values-production.yaml"

section "schema rejects bad values"
reject() {  # the chart must refuse to render with this --set
  if "$HELM" template agora "$CHART" --set "$1" >/dev/null 2>&1; then echo "accepted bad value: $1"; return 1; fi
}
bad_values() {
  local rc=0 v
  for v in image.tag=latest services.users.port=80 gateway.ratePerSecond=0 config.logLevel=LOUD \
           containerSecurityContext.readOnlyRootFilesystem=false podSecurityContext.runAsNonRoot=false \
           secrets.jwtSecret=too-short unknownKey=1 serviceDefaults.autoscaling.maxReplicas=0 \
           'gateway.corsOriginRegex=a;b' ingress.mode=sideways config.kafkaBootstrap=; do
    reject "$v" || rc=1
  done
  return $rc
}
run "values.schema.json rejects bad values" bad_values

section "promtool check rules / test rules"
run "promtool check rules" promtool check rules deploy/prometheus/rules/*.yml
run "promtool test rules" promtool test rules deploy/prometheus/tests/*.test.yml
prometheus_rule_matches() {  # the chart's PrometheusRule carries exactly the rule file's groups
  "$TOOLS/venv/bin/python" - "$work/default.yaml" deploy/prometheus/rules/agora-rules.yml <<'PYEOF'
import sys, yaml
rule = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "PrometheusRule")
assert rule["spec"]["groups"] == yaml.safe_load(open(sys.argv[2]))["groups"], "PrometheusRule differs from the rule file"
PYEOF
}
run "PrometheusRule = deploy/prometheus/rules" prometheus_rule_matches

section "checkov (helm, offline)"
# Skipped checks and their reasons: deploy/helm/agora/.checkov.yaml
run "checkov" "$TOOLS/bin/checkov" --quiet --compact --framework helm --skip-download \
  --config-file "$CHART/.checkov.yaml" -d "$CHART"

section "summary"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'deploy checks FAILED: %s\n' "${failed[*]}"
  exit 1
fi
echo "deploy checks passed"

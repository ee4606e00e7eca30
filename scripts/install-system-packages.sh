#!/usr/bin/env bash
# Debian packages Agora runs locally: nginx (the API gateway) and Prometheus with promtool (monitoring and
# rule checks). Installed only if missing; needs root (CI and these machines run as root).
set -euo pipefail
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The packages may start system services; Agora runs its own instances on its own ports.
  for svc in nginx prometheus prometheus-node-exporter; do
    (command -v systemctl >/dev/null && $SUDO systemctl stop "$svc" 2>/dev/null) || true
    $SUDO pkill -f "^/usr/bin/prometheus( |$)" 2>/dev/null || true
  done
fi

#!/usr/bin/env bash
# Debian packages Agora runs locally: nginx (the API gateway; Debian's `nginx` has auth_request, realip and
# headers built in), Prometheus with promtool (monitoring and rule checks) and redis-server (the points
# leaderboards). Installed only if missing;
# needs root (CI and these machines run as root). Quiet when there is nothing to do.
set -euo pipefail
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
{ command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; } || need+=(prometheus)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || need+=(redis-server)
[ ${#need[@]} -eq 0 ] && exit 0

echo "==> installing Debian packages: ${need[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
# The packages' maintainer scripts would start system services: forbid that (Agora runs its own instances
# on its own ports); policy-rc.d exit 101 = "action not allowed".
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && made_policy=1
fi
cleanup() { [ "$made_policy" = 1 ] && $SUDO rm -f "$policy"; return 0; }
trap cleanup EXIT
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confold "${need[@]}" >/dev/null

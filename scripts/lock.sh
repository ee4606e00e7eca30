#!/usr/bin/env bash
# Compiles the lock files (exact versions with hashes) from what each pyproject.toml and requirements/dev.in
# declare. Run by `make lock`; `make lock UPGRADE=1` moves every package to its newest allowed release.
# Review the diff like code: it is what every fresh install, CI run and image build will get.
#   requirements/dev.lock             everything `make install` puts in .venv (services, libs, tools, servers)
#   requirements/images/<name>.lock   one image's third-party packages (deploy/docker/Dockerfile)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${AGORA_VENV:-.venv}
compile=("$VENV/bin/pip-compile" --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url)
[ "${UPGRADE:-}" = 1 ] && compile+=(--upgrade)
services=(users content events points search)
service_projects=()
for svc in "${services[@]}"; do service_projects+=("services/$svc/pyproject.toml"); done
mkdir -p requirements/images

step() { printf '==> %s\n' "$*"; }
step "requirements/dev.lock"
"${compile[@]}" -o requirements/dev.lock requirements/dev.in libs/agora_devservers/pyproject.toml \
  libs/agora_common/pyproject.toml "${service_projects[@]}"
for svc in "${services[@]}"; do
  step "requirements/images/$svc.lock"
  "${compile[@]}" -o "requirements/images/$svc.lock" libs/agora_common/pyproject.toml \
    "services/$svc/pyproject.toml"
done
step "requirements/images/all.lock (the image carrying every service: search indexer, setup job)"
"${compile[@]}" -o requirements/images/all.lock libs/agora_common/pyproject.toml "${service_projects[@]}"

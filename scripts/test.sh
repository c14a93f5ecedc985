#!/usr/bin/env bash
# Runs every test: unit tests beside the code, end-to-end tests in tests/ (need root),
# then, where Debian's docker.io is installed, the Docker interop checks.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "the end-to-end tests create namespaces, cgroups and mounts: run as root" >&2
    exit 1
fi
./scripts/deps.sh test
# playwright-core for the dashboard's browser tests, from the npm registry (pinned by the lock file).
(cd tests/ui && npm ci --silent --no-audit --no-fund)
cargo test --workspace "$@"
if command -v dockerd >/dev/null && command -v docker-registry >/dev/null; then
    ./scripts/docker-runtime-check.sh
    ./scripts/docker-image-interop.sh
else
    echo "docker.io/docker-registry not installed: skipping the Docker interop checks" >&2
fi

#!/usr/bin/env bash
# Runs every test: unit tests beside the code, end-to-end tests in tests/ (need root).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "the end-to-end tests create namespaces and cgroups: run as root" >&2
    exit 1
fi
exec cargo test --workspace "$@"

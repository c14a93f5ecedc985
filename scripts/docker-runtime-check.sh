#!/usr/bin/env bash
# Docker drives `wharf` as an OCI runtime: a private dockerd gets
# `--add-runtime wharf=<wharf binary>`, and `docker run --runtime wharf` must work.
# Needs root and docker.io + busybox-static. Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
WHARF=$PWD/target/release/wharf
work=$(mktemp -d /tmp/wharf-dockerd.XXXXXX)
. scripts/lib-dockerd.sh
start_dockerd --add-runtime "wharf=$WHARF"
dk import "$(busybox_tar)" busybox:local >/dev/null

out=$(dk run --rm --runtime wharf --network none busybox:local echo hi)
[ "$out" = "hi" ] || { echo "FAIL: expected 'hi', got '$out'" >&2; tail -n 30 "$work/dockerd.log" >&2; exit 1; }
code=0
dk run --rm --runtime wharf --network none busybox:local sh -c 'exit 3' || code=$?
[ "$code" = 3 ] || { echo "FAIL: exit code $code, want 3" >&2; exit 1; }
echo "PASS: docker run --runtime wharf busybox:local echo hi -> $out; exit codes propagate"

#!/usr/bin/env bash
# `wharf run --rm img true` vs `docker run --rm img true` (Debian's dockerd,
# private instance) vs `runc run` on the same busybox rootfs, in one hyperfine
# run. Prints ratios of medians. Without docker.io, only wharf vs runc.
# Needs: root, hyperfine, runc, busybox-static (and docker.io for the docker column).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine runc; do command -v $tool >/dev/null || { echo "apt-get install -y $tool" >&2; exit 1; }; done
cargo build --release -q
WHARF=$PWD/target/release/wharf
RUNS=${RUNS:-50}
work=$(mktemp -d /tmp/wharf-bench-run.XXXXXX)
have_docker=
if command -v dockerd >/dev/null; then
    . scripts/lib-dockerd.sh
    start_dockerd
    have_docker=1
else
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/rootfs/bin"; cp /bin/busybox "$work/rootfs/bin/"
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
    tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
fi
tar=$work/rootfs.tar
[ -f "$tar" ] || tar=$(busybox_tar)
"$WHARF" --data-root "$work/wharf" import "$tar" bench:img >/dev/null
mkdir -p "$work/bundle/rootfs" && tar -C "$work/bundle/rootfs" -xf "$tar"
"$WHARF" runtime spec --bundle "$work/bundle"
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' "$work/bundle/config.json"
cmds=(-n wharf "$WHARF --data-root $work/wharf run --rm bench:img true"
      -n runc "runc --root $work/runc run --bundle $work/bundle bench")
if [ -n "$have_docker" ]; then
    dk import "$tar" bench:img >/dev/null
    cmds+=(-n docker "docker -H unix://$sock run --rm --network none bench:img true")
fi
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$work/run.json" "${cmds[@]}"
python3 - "$work/run.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"wharf run / runc run   = {r['wharf'] / r['runc']:.2f}x (goal <= 1.2x)")
if "docker" in r:
    print(f"wharf run / docker run = {r['wharf'] / r['docker']:.3f}x (goal <= 0.1x)")
PY

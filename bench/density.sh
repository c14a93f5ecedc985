#!/usr/bin/env bash
# N idle containers (`sleep`) started through `wharf daemon` with the docker
# CLI: host memory per container (MemAvailable before/after, and the PSS of
# the per-container monitors) and the daemon's RSS. Goals: <= 1 MiB/container,
# daemon <= 20 MiB. Needs root, busybox-static, iproute2 and the docker CLI.
# The daemon runs in a network namespace of its own; NETWORK=bridge (the
# default, as `docker run`) gives each container a namespace with a veth on
# the default bridge, NETWORK=none only a loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-500}
NETWORK=${NETWORK:-bridge}
cargo build --release -q
WHARF=$PWD/target/release/wharf
DOCKER=${DOCKER:-$(command -v /usr/local/bin/docker || command -v docker)}
work=$(mktemp -d /tmp/wharf-density.XXXXXX)
ns=wharf-density-$$
dpid=
cleanup() {
    set +e
    DOCKER_HOST=unix://$work/w.sock "$DOCKER" ps -aq | xargs -r -n 50 env DOCKER_HOST=unix://$work/w.sock "$DOCKER" rm -f >/dev/null 2>&1
    [ -n "$dpid" ] && kill "$dpid"
    wait 2>/dev/null
    ip netns delete "$ns" 2>/dev/null
    # The daemon's sandbox directory is a mount of its own (as dockerd's exec-root/netns).
    umount -l "$work/exec/netns" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/rootfs/bin"; cp /bin/busybox "$work/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"$WHARF" --data-root "$work/data" import "$work/rootfs.tar" idle:1 >/dev/null
ip netns add "$ns"
ip -n "$ns" link set lo up
nsenter --net="/run/netns/$ns" "$WHARF" --data-root "$work/data" daemon -H "unix://$work/w.sock" --exec-root "$work/exec" --log-level warn &
dpid=$!
export DOCKER_HOST=unix://$work/w.sock
for _ in $(seq 100); do "$DOCKER" version >/dev/null 2>&1 && break; sleep 0.1; done
avail() { awk '/MemAvailable/ {print $2}' /proc/meminfo; }
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
before=$(avail)
start=$(date +%s.%N)
for i in $(seq "$N"); do "$DOCKER" run -d --network "$NETWORK" --name "idle$i" idle:1 sleep 86400 >/dev/null; done
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
sleep 2
# Same conditions as the first sample: clean caches, so the delta is what the
# containers hold (processes, kernel objects), not files written on the way.
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
after=$(avail)
pss=0
for p in $(pgrep -f "monitor --attachers"); do
    v=$(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup 2>/dev/null || echo 0); pss=$((pss + v))
done
drss=$(awk '/VmRSS/ {print $2}' /proc/$dpid/status)
echo "containers:                  $N, network $NETWORK (started in ${elapsed}s)"
echo "host memory per container:   $(( (before - after) / N )) KiB (MemAvailable delta)"
echo "monitor PSS per container:   $(( pss / N )) KiB"
echo "daemon RSS:                  $(( drss / 1024 )) MiB"

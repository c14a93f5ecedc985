#!/usr/bin/env bash
# `wharf run --rm img true` vs `docker run --rm img true` (Debian's dockerd,
# private instance) vs `runc run` on the same busybox rootfs, in one hyperfine
# run. Wharf is measured both ways: without a daemon (the container runs under
# the CLI) and as a client of `wharf daemon` (create/attach/start/wait over the
# Engine API); the docker CLI against `wharf daemon` is shown as well. All
# containers get a network namespace with loopback only (`--network none`),
# and `wharf-daemon-bridge` is the daemon's run on the default bridge (veth,
# address, route, nftables), to show what the bridge wiring costs.
# Prints ratios of medians. Without docker.io, only the wharf and runc rows.
# Needs: root, hyperfine, runc, busybox-static (and docker.io for the docker column).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine runc; do command -v $tool >/dev/null || { echo "apt-get install -y $tool" >&2; exit 1; }; done
cargo build --release -q
WHARF=$PWD/target/release/wharf
RUNS=${RUNS:-50}
work=$(mktemp -d /tmp/wharf-bench-run.XXXXXX)
have_docker=
ns=wharf-bench-$$
wpid=
stop_wharfd() {
    [ -n "$wpid" ] && { kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null; }
    ip netns delete "$ns" 2>/dev/null || true
}
if command -v dockerd >/dev/null; then
    extra_cleanup=stop_wharfd
    . scripts/lib-dockerd.sh
    start_dockerd
    have_docker=1
else
    trap 'stop_wharfd; rm -rf "$work"' EXIT
    mkdir -p "$work/rootfs/bin"; cp /bin/busybox "$work/rootfs/bin/"
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
    tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
fi
tar=$work/rootfs.tar
[ -f "$tar" ] || tar=$(busybox_tar)
"$WHARF" --data-root "$work/wharf" import "$tar" bench:img >/dev/null
# Our daemon, in a network namespace of its own, on its own socket.
ip netns add "$ns"
nsenter --net="/run/netns/$ns" "$WHARF" --data-root "$work/wharf" daemon -H "unix://$work/w.sock" \
    --exec-root "$work/exec" --log-level warn &
wpid=$!
for _ in $(seq 100); do [ -S "$work/w.sock" ] && break; sleep 0.1; done
mkdir -p "$work/bundle/rootfs" && tar -C "$work/bundle/rootfs" -xf "$tar"
"$WHARF" runtime spec --bundle "$work/bundle"
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' "$work/bundle/config.json"
cmds=(-n wharf "$WHARF --data-root $work/wharf run --rm bench:img true"
      -n wharf-daemon "$WHARF -H unix://$work/w.sock run --rm --network none bench:img true"
      -n wharf-daemon-bridge "$WHARF -H unix://$work/w.sock run --rm bench:img true"
      -n runc "runc --root $work/runc run --bundle $work/bundle bench")
DOCKER_CLI=$(command -v /usr/local/bin/docker || command -v docker || true)
if [ -n "$DOCKER_CLI" ]; then
    cmds+=(-n docker-cli-wharfd "$DOCKER_CLI -H unix://$work/w.sock run --rm --network none bench:img true")
fi
if [ -n "$have_docker" ]; then
    dk import "$tar" bench:img >/dev/null
    cmds+=(-n docker "docker -H unix://$sock run --rm --network none bench:img true")
fi
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$work/run.json" "${cmds[@]}"
python3 - "$work/run.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"wharf run (no daemon) / runc run     = {r['wharf'] / r['runc']:.2f}x (goal <= 1.2x)")
print(f"wharf run (via daemon) / runc run     = {r['wharf-daemon'] / r['runc']:.2f}x")
extra = (r['wharf-daemon-bridge'] - r['wharf-daemon']) * 1000
print(f"default bridge vs --network none (via daemon) = {r['wharf-daemon-bridge'] / r['wharf-daemon']:.2f}x, +{extra:.1f} ms (goal <= 3 ms)")
if "docker" in r:
    print(f"wharf run (no daemon) / docker run   = {r['wharf'] / r['docker']:.3f}x (goal <= 0.1x)")
    print(f"wharf run (via daemon) / docker run  = {r['wharf-daemon'] / r['docker']:.3f}x (goal <= 0.1x)")
    if "docker-cli-wharfd" in r:
        print(f"docker CLI -> wharf daemon / -> dockerd = {r['docker-cli-wharfd'] / r['docker']:.3f}x")
PY

#!/usr/bin/env bash
# Docker drives `wharf` as an OCI runtime: a private dockerd (Debian's docker.io,
# its own socket, data root and exec root, no bridge, no iptables) gets
# `--add-runtime wharf=<wharf binary>`, and `docker run --runtime wharf` must work.
# Needs root and docker.io + busybox-static. Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dockerd >/dev/null || { echo "apt-get install -y docker.io" >&2; exit 1; }
cargo build --release -q
WHARF=$PWD/target/release/wharf
DOCKER=${DOCKER:-docker}
work=$(mktemp -d /tmp/wharf-dockerd.XXXXXX)
sock=$work/docker.sock
dpid=
cleanup() {
    set +e
    if [ -n "$dpid" ]; then
        "$DOCKER" -H "unix://$sock" rm -f $("$DOCKER" -H "unix://$sock" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
        kill "$dpid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.2; done
    fi
    # Unmount anything dockerd left under our directories, deepest first.
    grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

echo '{}' > "$work/daemon.json"
dockerd --config-file "$work/daemon.json" -H "unix://$sock" --data-root "$work/data" --exec-root "$work/exec" \
    --pidfile "$work/dockerd.pid" --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
    --add-runtime "wharf=$WHARF" >"$work/dockerd.log" 2>&1 &
dpid=$!
for _ in $(seq 100); do
    "$DOCKER" -H "unix://$sock" version >/dev/null 2>&1 && break
    kill -0 "$dpid" 2>/dev/null || { cat "$work/dockerd.log" >&2; exit 1; }
    sleep 0.2
done

# busybox:local from Debian's busybox-static, no registry involved.
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"$DOCKER" -H "unix://$sock" import "$work/rootfs.tar" busybox:local >/dev/null

out=$("$DOCKER" -H "unix://$sock" run --rm --runtime wharf --network none busybox:local echo hi)
if [ "$out" != "hi" ]; then
    echo "FAIL: expected 'hi', got '$out'" >&2
    tail -n 30 "$work/dockerd.log" >&2
    exit 1
fi
code=0
"$DOCKER" -H "unix://$sock" run --rm --runtime wharf --network none busybox:local sh -c 'exit 3' || code=$?
[ "$code" = 3 ] || { echo "FAIL: exit code $code, want 3" >&2; exit 1; }
echo "PASS: docker run --runtime wharf busybox:local echo hi -> $out; exit codes propagate"

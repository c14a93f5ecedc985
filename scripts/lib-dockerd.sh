# Shared by the Docker interop scripts: a private dockerd (Debian's docker.io)
# with its own socket, data root and exec root, no bridge and no iptables,
# plus a busybox:local image imported from busybox-static. Source it after
# setting `work` (a fresh temporary directory); it installs the EXIT trap.

command -v dockerd >/dev/null || { echo "apt-get install -y docker.io" >&2; exit 1; }
DOCKER=${DOCKER:-docker}
sock=$work/docker.sock
dpid=
extra_cleanup=${extra_cleanup:-}
cleanup() {
    set +e
    [ -n "$extra_cleanup" ] && eval "$extra_cleanup"
    if [ -n "$dpid" ]; then
        "$DOCKER" -H "unix://$sock" rm -f $("$DOCKER" -H "unix://$sock" ps -aq 2>/dev/null) >/dev/null 2>&1
        kill "$dpid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.2; done
    fi
    # Unmount anything dockerd left under our directory, deepest first.
    grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

dk() { "$DOCKER" -H "unix://$sock" "$@"; }

start_dockerd() { # extra dockerd flags
    echo '{}' > "$work/daemon.json"
    dockerd --config-file "$work/daemon.json" -H "unix://$sock" --data-root "$work/data" --exec-root "$work/exec" \
        --pidfile "$work/dockerd.pid" --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
        "$@" >"$work/dockerd.log" 2>&1 &
    dpid=$!
    for _ in $(seq 100); do
        dk version >/dev/null 2>&1 && return 0
        kill -0 "$dpid" 2>/dev/null || { cat "$work/dockerd.log" >&2; exit 1; }
        sleep 0.2
    done
    echo "dockerd did not start" >&2
    exit 1
}

busybox_tar() { # path of a tar of a busybox-static rootfs
    mkdir -p "$work/rootfs/bin"
    cp /bin/busybox "$work/rootfs/bin/busybox"
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
    tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
    echo "$work/rootfs.tar"
}

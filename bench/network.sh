#!/usr/bin/env bash
# Network throughput (iperf3) and connection rate, Wharf vs Docker on the
# same machine in one run. Each daemon runs in a network namespace of its
# own (its "host"), with another namespace behind it as the outside world
# (198.51.100.2, the host being 198.51.100.1); dockerd keeps its defaults
# there (docker0, iptables, docker-proxy), Wharf its own (nftables, the
# userland proxy for loopback). Paths: container -> container on a user
# network, host -> published port on 127.0.0.1 and on the host's address,
# outside -> published port. Connection rate: sequential HTTP/1.0
# requests to a published port (bench/tools/hello.c in the container: one
# process, no fork per connection). Wharf runs twice: with the userland
# proxy (Docker's default, as dockerd here) and with --userland-proxy=false
# (the kernel for every path). ROUNDS (3) rounds of SECS (3) seconds per
# cell, interleaved; medians. Prints ratios (Wharf / Docker).
# Needs: root, iperf3, docker.io, python3, gcc (libc6-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in iperf3 dockerd python3 nft gcc; do
    command -v $tool >/dev/null || { echo "missing $tool: ./scripts/deps.sh test" >&2; exit 1; }
done
cargo build --release -q
WHARF=$PWD/target/release/wharf
DOCKER_CLI=$(command -v /usr/local/bin/docker || command -v docker)
SECS=${SECS:-3}
work=$(mktemp -d /tmp/wharf-bench-net.XXXXXX)
wns=wbn-$$ kns=kbn-$$ dns=dbn-$$
pids=()
W() { "$WHARF" -H "unix://$work/w.sock" "$@"; }
K() { "$WHARF" -H "unix://$work/k.sock" "$@"; }
D() { "$DOCKER_CLI" -H "unix://$work/d.sock" "$@"; }
cleanup() {
    set +e
    # Containers first (Wharf's outlive their daemon, as they survive a restart).
    for X in W K D; do $X rm -f srv >/dev/null 2>&1; done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    for n in $wns $wns-o $kns $kns-o $dns $dns-o; do ip netns delete $n 2>/dev/null; done
    grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

# The image: busybox-static plus iperf3 and its libraries.
root=$work/rootfs
mkdir -p "$root/bin" "$root/tmp"
chmod 1777 "$root/tmp"  # iperf3 makes a file per stream there
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"; done
cp /usr/bin/iperf3 "$root/bin/iperf3"
for lib in $(ldd /usr/bin/iperf3 | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
gcc -O2 -static -o "$root/bin/hello" bench/tools/hello.c
tar -C "$root" -cf "$work/img.tar" .

host() { # name: a namespace with an outside world behind it
    ip netns add "$1"
    ip netns add "$1-o"
    ip -n "$1" link set lo up
    ip -n "$1-o" link set lo up
    ip link add out0 netns "$1" type veth peer name eth0 netns "$1-o"
    ip -n "$1" addr add 198.51.100.1/24 dev out0
    ip -n "$1" link set out0 up
    ip -n "$1-o" addr add 198.51.100.2/24 dev eth0
    ip -n "$1-o" link set eth0 up
}
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
host $wns
host $kns
host $dns
# nsenter (not in_ns, a function: its subshell would be the pid) execs the daemon.
nsenter --net="/run/netns/$wns" "$WHARF" --data-root "$work/wharf" daemon -H "unix://$work/w.sock" --exec-root "$work/wexec" \
    --log-level warn >"$work/wharf.log" 2>&1 &
pids+=($!)
nsenter --net="/run/netns/$kns" "$WHARF" --data-root "$work/wharfk" daemon -H "unix://$work/k.sock" --exec-root "$work/kexec" \
    --userland-proxy=false --log-level warn >"$work/wharfk.log" 2>&1 &
pids+=($!)
echo '{}' > "$work/daemon.json"
nsenter --net="/run/netns/$dns" dockerd --config-file "$work/daemon.json" -H "unix://$work/d.sock" --data-root "$work/docker" \
    --exec-root "$work/dexec" --pidfile "$work/dockerd.pid" >"$work/dockerd.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do W version >/dev/null 2>&1 && K version >/dev/null 2>&1 && D version >/dev/null 2>&1 && break; sleep 0.2; done
serve='hello & exec iperf3 -s'
for X in W K D; do
    $X import "$work/img.tar" bench:net >/dev/null
    $X network create benchnet >/dev/null
    $X run -d --name srv --network benchnet -p 5201:5201 -p 8080:80 bench:net sh -c "$serve" >/dev/null
done
ip_of() { $1 inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' srv; }
declare -A ns=([W]=$wns [K]=$kns [D]=$dns)
gbits() { python3 -c 'import json,sys; d=json.load(sys.stdin); e=d.get("error"); print(d["end"]["sum_received"]["bits_per_second"]/1e9) if not e else sys.exit("iperf3: "+e)'; }
iperf() { # X where server-ip
    local X=$1 where=$2 ip=$3
    for _ in $(seq 100); do $X exec srv netstat -tln | grep -q ':5201 ' && break; sleep 0.1; done
    case $where in
        c2c) $X run --rm --network benchnet bench:net iperf3 -c "$ip" -t "$SECS" -J | gbits ;;
        host) in_ns "${ns[$X]}" iperf3 -c "$ip" -p 5201 -t "$SECS" -J | gbits ;;
        outside) in_ns "${ns[$X]}-o" iperf3 -c "$ip" -p 5201 -t "$SECS" -J | gbits ;;
    esac
}
rate() { # X netns ip: HTTP/1.0 requests per second, one connection each, for SECS
    in_ns "$2" python3 - "$3" "$SECS" <<'PY'
import socket, sys, time
ip, secs = sys.argv[1], float(sys.argv[2])
n, end = 0, time.monotonic() + secs
while time.monotonic() < end:
    s = socket.create_connection((ip, 8080))
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    while s.recv(4096):
        pass
    s.close()
    n += 1
print(n / secs)
PY
}
declare -A r
ROUNDS=${ROUNDS:-3}
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
measure() { # X path
    case $2 in
        c2c) iperf $1 c2c "$(ip_of $1)" ;;
        loop) iperf $1 host 127.0.0.1 ;;
        hostip) iperf $1 host 198.51.100.1 ;;
        outside) iperf $1 outside 198.51.100.1 ;;
        rate_loop) rate $1 "${ns[$1]}" 127.0.0.1 ;;
        rate_out) rate $1 "${ns[$1]}-o" 198.51.100.1 ;;
    esac
}
# Rounds interleave the three daemons (the machine's noise falls on each
# alike); each cell is the median of its rounds.
for path in c2c loop hostip outside rate_loop rate_out; do
    declare -A got=()
    for _ in $(seq "$ROUNDS"); do
        for X in W K D; do got[$X]+=" $(measure $X $path)"; done
    done
    for X in W K D; do
        # shellcheck disable=SC2086
        r[$X,$path]=$(median ${got[$X]})
    done
done
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
printf '%-42s %9s %9s %9s %7s %7s\n' "path" "wharf" "wharf-k" "docker" "w/d" "k/d"
row() {
    printf '%-42s %9.2f %9.2f %9.2f %6sx %6sx\n' "$1" "${r[W,$2]}" "${r[K,$2]}" "${r[D,$2]}" \
        "$(ratio "${r[W,$2]}" "${r[D,$2]}")" "$(ratio "${r[K,$2]}" "${r[D,$2]}")"
}
row "container -> container, Gbit/s" c2c
row "host 127.0.0.1 -> published port, Gbit/s" loop
row "host address -> published port, Gbit/s" hostip
row "outside -> published port, Gbit/s" outside
row "host 127.0.0.1 -> published port, conn/s" rate_loop
row "outside -> published port, conn/s" rate_out
echo "wharf-k: wharf daemon --userland-proxy=false (the kernel serves loopback and containers too)"
echo "goals: published-port throughput >= docker's (ratio >= 1), connection rate >= 2x docker's"

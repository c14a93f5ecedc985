#!/usr/bin/env bash
# `up -d` and `down` of a 10-service project (busybox services on the
# project's own bridge network, one named volume), in one hyperfine run per
# verb, side by side:
#   wharf-wharfd   wharf compose      -> wharf daemon
#   dc-wharfd      docker-compose 1.29 -> wharf daemon (the same daemon)
#   wharf-dockerd  wharf compose      -> dockerd
#   dc-dockerd     docker-compose 1.29 -> dockerd (Docker's own stack)
# Each timed `up -d` starts from nothing (a `down -v` before it), each timed
# `down` from the project up. Prints ratios of medians; the goal is wharf's
# `up` <= 0.1x of docker-compose on dockerd.
# Needs: root, hyperfine, docker.io, docker-compose, busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine docker-compose dockerd; do
    command -v $tool >/dev/null || { echo "apt-get install -y hyperfine docker-compose docker.io" >&2; exit 1; }
done
cargo build --release -q
WHARF=$PWD/target/release/wharf
RUNS=${RUNS:-10}
SERVICES=${SERVICES:-10}
work=$(mktemp -d /tmp/wharf-bench-compose.XXXXXX)
ns=wharf-bench-$$
wpid=
stop_wharfd() {
    [ -n "$wpid" ] && {
        "$WHARF" -H "unix://$work/w.sock" rm -f $("$WHARF" -H "unix://$work/w.sock" ps -aq) >/dev/null 2>&1
        kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null
    }
    ip netns delete "$ns" 2>/dev/null || true
}
extra_cleanup=stop_wharfd
. scripts/lib-dockerd.sh
start_dockerd
tar=$(busybox_tar)
dk import "$tar" busybox:bench >/dev/null
"$WHARF" --data-root "$work/wharf" import "$tar" busybox:bench >/dev/null
ip netns add "$ns"
nsenter --net="/run/netns/$ns" "$WHARF" --data-root "$work/wharf" daemon -H "unix://$work/w.sock" \
    --exec-root "$work/wexec" --log-level warn &
wpid=$!
for _ in $(seq 100); do [ -S "$work/w.sock" ] && break; sleep 0.1; done

# The project: service s1 is a dependency of the others.
mkdir -p "$work/proj"
{
    echo "version: '3.8'"
    echo "services:"
    for i in $(seq "$SERVICES"); do
        echo "  s$i:"
        echo "    image: busybox:bench"
        echo "    command: sleep 100000"
        echo "    stop_signal: SIGKILL"
        echo "    environment: [SERVICE=s$i]"
        [ "$i" = 1 ] && echo "    volumes: ['data:/data']"
        [ "$i" != 1 ] && echo "    depends_on: [s1]"
    done
    echo "volumes:"
    echo "  data: {}"
} > "$work/proj/compose.yaml"

wharfd="unix://$work/w.sock"
dockerd="unix://$sock"
wc_() { echo "$WHARF -H $1 compose --progress quiet -f $work/proj/compose.yaml -p bench"; }
dc_() { echo "env DOCKER_HOST=$1 docker-compose --no-ansi -f $work/proj/compose.yaml -p bench"; }
names=(wharf-wharfd dc-wharfd wharf-dockerd dc-dockerd)
tools=("$(wc_ "$wharfd")" "$(dc_ "$wharfd")" "$(wc_ "$dockerd")" "$(dc_ "$dockerd")")

# Both tools must bring the project up on both daemons before anything is timed.
for t in "${tools[@]}"; do
    $t up -d >/dev/null 2>&1 || { echo "failed: $t up -d" >&2; $t up -d; exit 1; }
    $t down -v >/dev/null 2>&1
done

up=(); down=()
for i in "${!names[@]}"; do
    t=${tools[$i]}
    up+=(--prepare "$t down -v -t 0 >/dev/null 2>&1" -n "${names[$i]}" "$t up -d")
    down+=(--prepare "$t up -d >/dev/null 2>&1" -n "${names[$i]}" "$t down -v -t 0")
done
hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/up.json" "${up[@]}"
hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/down.json" "${down[@]}"
for t in "${tools[@]}"; do $t down -v -t 0 >/dev/null 2>&1 || true; done
python3 - "$work/up.json" "$work/down.json" <<'PY'
import json, sys
for verb, path in (("up -d", sys.argv[1]), ("down", sys.argv[2])):
    r = {x["command"]: x["median"] for x in json.load(open(path))["results"]}
    goal = " (goal <= 0.1x)" if verb == "up -d" else ""
    print(f"{verb}: wharf compose -> wharfd / docker-compose -> dockerd = {r['wharf-wharfd'] / r['dc-dockerd']:.3f}x{goal}")
    print(f"{verb}: wharf compose / docker-compose, both -> wharfd     = {r['wharf-wharfd'] / r['dc-wharfd']:.3f}x")
    print(f"{verb}: wharf compose / docker-compose, both -> dockerd    = {r['wharf-dockerd'] / r['dc-dockerd']:.3f}x")
    print(f"{verb}: docker-compose -> wharfd / -> dockerd             = {r['dc-wharfd'] / r['dc-dockerd']:.3f}x")
PY

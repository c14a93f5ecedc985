#!/usr/bin/env bash
# Wharf's built-in runtime vs runc on the same busybox bundle, one hyperfine run each:
#   1. `run` of `true` (create + start + wait + delete in one command)
#   2. create + start + delete as separate commands (what containerd's shim does)
# Needs: root, hyperfine, runc, busybox-static. Prints ratios (wharf / runc).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine runc; do command -v $tool >/dev/null || { echo "apt-get install -y $tool" >&2; exit 1; }; done
cargo build --release -q
WHARF=$PWD/target/release/wharf
work=$(mktemp -d /tmp/wharf-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/sys" "$work/rootfs/dev"
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$work/rootfs/bin/$a"; done
"$WHARF" runtime spec --bundle "$work"
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' "$work/config.json"
RUNS=${RUNS:-100}

hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$work/run.json" \
    -n wharf "$WHARF runtime --root $work/w run --bundle $work wharf-run" \
    -n runc "runc --root $work/r run --bundle $work runc-run"

cycle() { # $1 = runtime command
    local i="c$RANDOM$RANDOM"
    $1 create --bundle "$work" "$i" </dev/null >/dev/null && $1 start "$i" && $1 delete --force "$i"
}
export -f cycle
export work WHARF
hyperfine --warmup 5 --runs "$RUNS" --shell bash --export-json "$work/cycle.json" \
    -n wharf "cycle '$WHARF runtime --root $work/w'" \
    -n runc "cycle 'runc --root $work/r'"

python3 - "$work/run.json" "$work/cycle.json" <<'PY'
import json, sys
for path, name in zip(sys.argv[1:], ["run true", "create+start+delete"]):
    r = {x["command"]: x for x in json.load(open(path))["results"]}
    w, c = r["wharf"]["median"], r["runc"]["median"]
    print(f"{name:22s} wharf/runc median = {w / c:.2f}x")
PY

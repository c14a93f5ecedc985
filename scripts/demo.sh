#!/usr/bin/env bash
# The main job, offline: build Wharf, build a busybox image bundle from Debian's
# busybox-static, and run a container from it.
set -euo pipefail
cd "$(dirname "$0")/.."
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || { echo "install busybox-static first: apt-get install -y busybox-static" >&2; exit 1; }
cargo build --release -q
WHARF=$PWD/target/release/wharf
work=$(mktemp -d /tmp/wharf-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/sys" "$work/rootfs/dev" "$work/rootfs/tmp"
cp "$BUSYBOX" "$work/rootfs/bin/busybox"
for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$work/rootfs/bin/$applet"
done
"$WHARF" runtime spec --bundle "$work"
# Not interactive: no terminal, print something from inside the sandbox.
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sh", "-c", "echo hello from $(hostname), pid $$; id; uname -a"/' "$work/config.json"
"$WHARF" runtime --root "$work/state" run --bundle "$work" "demo-$$"

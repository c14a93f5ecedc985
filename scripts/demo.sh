#!/usr/bin/env bash
# The main job, offline: build Wharf, build a busybox image from Debian's
# busybox-static (no registry, no internet), and run a container from it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh demo
BUSYBOX=/bin/busybox
cargo build --release -q
WHARF=$PWD/target/release/wharf
work=$(mktemp -d /tmp/wharf-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp "$BUSYBOX" "$work/rootfs/bin/busybox"
for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$work/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$work/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$work/rootfs/etc/group"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
export WHARF_DATA_ROOT=$work/data
"$WHARF" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:local >/dev/null
"$WHARF" images
"$WHARF" run --rm busybox:local sh -c 'echo "hello from $(hostname), pid $$, as $(id -un)"; uname -sr'

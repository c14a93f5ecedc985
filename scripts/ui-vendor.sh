#!/usr/bin/env bash
# The dashboard's third-party assets, xterm.js and its fit addon (MIT),
# from the npm registry into crates/api/ui/vendor/ (committed: the daemon
# embeds them; no CDN, no build step). Run again to update; the versions
# are pinned here.
set -euo pipefail
cd "$(dirname "$0")/.."
version=5.5.0
fit=0.10.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@xterm/xterm@$version" "@xterm/addon-fit@$fit" >/dev/null \
    && mkdir x f && tar xzf xterm-xterm-"$version".tgz -C x && tar xzf xterm-addon-fit-"$fit".tgz -C f)
dest=crates/api/ui/vendor
mkdir -p "$dest"
cp "$work/x/package/lib/xterm.js" "$dest/xterm.js"
cp "$work/x/package/css/xterm.css" "$dest/xterm.css"
cp "$work/x/package/LICENSE" "$dest/xterm.LICENSE"
cp "$work/f/package/lib/addon-fit.js" "$dest/addon-fit.js"
echo "xterm.js $version and addon-fit $fit in $dest"

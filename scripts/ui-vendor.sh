#!/usr/bin/env bash
# The dashboard's one third-party asset, xterm.js (MIT), from the npm
# registry into crates/api/ui/vendor/ (committed: the daemon embeds it; no
# CDN, no build step). Run again to update; the version is pinned here.
set -euo pipefail
cd "$(dirname "$0")/.."
version=5.5.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@xterm/xterm@$version" >/dev/null && tar xzf xterm-xterm-"$version".tgz)
dest=crates/api/ui/vendor
mkdir -p "$dest"
cp "$work/package/lib/xterm.js" "$dest/xterm.js"
cp "$work/package/css/xterm.css" "$dest/xterm.css"
cp "$work/package/LICENSE" "$dest/xterm.LICENSE"
echo "xterm.js $version in $dest"

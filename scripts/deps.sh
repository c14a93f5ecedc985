#!/usr/bin/env bash
# Installs what Wharf's main job and its tests need on a fresh Debian 12 machine (as root), and
# nothing when it is all there already. Called by scripts/demo.sh, scripts/test.sh and .ci/run.
#   scripts/deps.sh demo   what the demo needs (busybox-static for the image; the seccomp crate
#                          links libseccomp through pkg-config; nftables for bridge networks' NAT)
#   scripts/deps.sh test   also the test oracles and peers: runc (and crun) for differential and
#                          selectable-runtime tests, skopeo + umoci (image formats), docker-registry
#                          + apache2-utils (htpasswd) for loopback registries, docker.io and
#                          docker-compose (interop), iproute2 + util-linux (ip, nsenter), curl,
#                          iperf3 (network benchmark peer), dnsmasq-base (an upstream DNS server
#                          in the tests' outside-world namespace), containernetworking-plugins (the
#                          cni driver's standard plugins), git (remote git build contexts),
#                          chromium and node/npm (the dashboard's browser tests, tests/ui)
set -euo pipefail
demo=(busybox-static libseccomp-dev pkg-config nftables)
test=("${demo[@]}" runc crun skopeo umoci docker-registry apache2-utils docker.io docker-compose
      iproute2 util-linux curl iperf3 dnsmasq-base containernetworking-plugins git chromium)
case "${1:-test}" in
    demo) want=("${demo[@]}") ;;
    test) want=("${test[@]}") ;;
    *) echo "usage: $0 [demo|test]" >&2; exit 2 ;;
esac
missing=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
# Node from any source (Debian's, or NodeSource's, which bundles npm).
if [ "${1:-test}" = test ] && ! command -v npm >/dev/null; then
    missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
fi
echo "installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null

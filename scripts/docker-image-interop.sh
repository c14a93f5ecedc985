#!/usr/bin/env bash
# Images move between Debian's Docker and Wharf with equal digests:
#   docker save (20.10 shape) -> wharf load            (same image ID)
#   wharf save (>=25 shape and 20.10 shape) -> docker load (same image ID) -> docker run
#   wharf push -> docker pull, docker push -> wharf pull (same manifest digests)
# on a private dockerd and a loopback docker-registry. Needs root, docker.io,
# docker-registry, busybox-static. Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
WHARF=$PWD/target/release/wharf
work=$(mktemp -d /tmp/wharf-interop.XXXXXX)
regpid=
extra_cleanup='[ -n "$regpid" ] && kill $regpid'
. scripts/lib-dockerd.sh
start_dockerd --add-runtime "wharf=$WHARF"
w() { "$WHARF" --data-root "$work/wharf" "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

tar=$(busybox_tar)
dk import --change 'CMD ["sh"]' "$tar" busybox:docker >/dev/null
docker_id=$(dk image inspect -f '{{.Id}}' busybox:docker)

# 1. docker save -> wharf load
dk save -o "$work/docker-saved.tar" busybox:docker
w load -i "$work/docker-saved.tar" >/dev/null
[ "$(w image inspect busybox:docker | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Id"])')" = "$docker_id" ] \
    || fail "wharf's ID of docker's image differs"
out=$(w run --rm busybox:docker echo ran-docker-image)
[ "$out" = ran-docker-image ] || fail "wharf run of docker's image printed '$out'"
echo "ok: docker save -> wharf load keeps image ID $docker_id, wharf runs it"

# 2. wharf save (both shapes) -> docker load -> docker run
wharf_id=$(w import --change 'CMD ["sh"]' "$tar" wharf/bb:1)
for fmt in docker docker-legacy; do
    w save --format $fmt -o "$work/wharf-$fmt.tar" wharf/bb:1
    dk rmi -f wharf/bb:1 >/dev/null 2>&1 || true
    dk load -i "$work/wharf-$fmt.tar" >/dev/null
    [ "$(dk image inspect -f '{{.Id}}' wharf/bb:1)" = "$wharf_id" ] || fail "docker's ID of wharf's $fmt archive differs"
    out=$(dk run --rm --network none wharf/bb:1 echo from-wharf-image)
    [ "$out" = from-wharf-image ] || fail "docker run of wharf's image printed '$out'"
    echo "ok: wharf save --format $fmt -> docker load keeps image ID, docker runs it"
done

# 3. registry round trips
. scripts/lib-registry.sh
start_registry "$work/registry"
w tag wharf/bb:1 "$REG/from-wharf:1"
w push -q "$REG/from-wharf:1" >/dev/null
dk pull -q "$REG/from-wharf:1" >/dev/null
wd=$(w image inspect "$REG/from-wharf:1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RepoDigests"][0].split("@")[1])')
dd=$(dk image inspect -f '{{index .RepoDigests 0}}' "$REG/from-wharf:1" | cut -d@ -f2)
[ "$wd" = "$dd" ] || fail "wharf push -> docker pull: digest $wd vs $dd"
echo "ok: wharf push -> docker pull, digest $wd"
dk tag busybox:docker "$REG/from-docker:1"
dk push -q "$REG/from-docker:1" >/dev/null 2>&1 || dk push "$REG/from-docker:1" >/dev/null
dd=$(dk image inspect -f '{{index .RepoDigests 0}}' "$REG/from-docker:1" | cut -d@ -f2)
w pull -q "$REG/from-docker:1" >/dev/null
wd=$(w image inspect "$REG/from-docker:1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RepoDigests"][0].split("@")[1])')
[ "$wd" = "$dd" ] || fail "docker push -> wharf pull: digest $dd vs $wd"
echo "ok: docker push -> wharf pull, digest $dd"
echo PASS

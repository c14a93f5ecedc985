#!/usr/bin/env bash
# Push and pull of a ~1 GiB multi-layer image (4 x 256 MiB layers of random,
# incompressible data) to a loopback docker-registry: Wharf vs `skopeo copy`,
# side by side in one hyperfine run per direction. Prints throughput ratios
# (wharf / skopeo, higher is better). Wharf's pull also unpacks the layers,
# as `docker pull` does; skopeo only writes blobs.
# Needs: root, hyperfine, skopeo, docker-registry, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine skopeo docker-registry python3; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
cargo build --release -q
WHARF=$PWD/target/release/wharf
LAYERS=${LAYERS:-4}
LAYER_MIB=${LAYER_MIB:-256}
RUNS=${RUNS:-3}
work=$(mktemp -d /tmp/wharf-bench-img.XXXXXX)
regpid=
cleanup() { [ -n "$regpid" ] && kill "$regpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# An OCI layout with $LAYERS layers of random data.
python3 - "$work/layout" "$LAYERS" "$LAYER_MIB" <<'PY'
import hashlib, io, json, os, sys, tarfile
out, layers, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blobs = os.path.join(out, "blobs", "sha256"); os.makedirs(blobs)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, d), "wb").write(data)
    return "sha256:" + d, len(data)
descs, diffs = [], []
for i in range(layers):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        data = os.urandom(mib << 20)
        info = tarfile.TarInfo(f"layer{i}/data.bin"); info.size = len(data); info.mode = 0o644
        t.addfile(info, io.BytesIO(data))
    d, n = put(buf.getvalue())
    descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n}); diffs.append(d)
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diffs}, "config": {}}).encode()
cd, cn = put(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn}, "layers": descs}).encode()
md, mn = put(man)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
           "annotations": {"org.opencontainers.image.ref.name": "big"}}]}, open(os.path.join(out, "index.json"), "w"))
open(os.path.join(out, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
total=$(du -sb "$work/layout/blobs" | cut -f1)

. scripts/lib-registry.sh
start_registry "$work/registry"

# Wharf's source store holds the image; skopeo reads the same layout.
"$WHARF" --data-root "$work/src" load -i "$work/layout" >/dev/null
"$WHARF" --data-root "$work/src" tag big "$REG/w/big:1"
export WHARF REG work

# Push: each run starts from an empty registry (so nothing is skipped or mounted).
wipe_registry='rm -rf "$work/registry/docker"; rm -f "$work/src/image/metadata/sources.json"'
hyperfine --runs "$RUNS" --export-json "$work/push.json" --prepare "$wipe_registry" \
    -n wharf "$WHARF --data-root $work/src push -q $REG/w/big:1" \
    -n skopeo "skopeo --insecure-policy copy -q --preserve-digests --dest-tls-verify=false oci:$work/layout:big docker://$REG/s/big:1"

# Pull: both from the registry into fresh local storage.
"$WHARF" --data-root "$work/src" push -q "$REG/w/big:1" >/dev/null
hyperfine --runs "$RUNS" --export-json "$work/pull.json" --prepare 'rm -rf "$work/dst" "$work/skopeo-out"' \
    -n wharf "$WHARF --data-root $work/dst pull -q $REG/w/big:1" \
    -n skopeo "skopeo --insecure-policy copy -q --src-tls-verify=false docker://$REG/w/big:1 oci:$work/skopeo-out:big"

python3 - "$work/push.json" "$work/pull.json" "$total" <<'PY'
import json, sys
total = int(sys.argv[3])
for path, name in zip(sys.argv[1:3], ["push", "pull"]):
    r = {x["command"]: x for x in json.load(open(path))["results"]}
    w, s = r["wharf"]["median"], r["skopeo"]["median"]
    print(f"{name}: {total/2**20:.0f} MiB  wharf {total/w/2**20:.0f} MiB/s  skopeo {total/s/2**20:.0f} MiB/s  throughput ratio wharf/skopeo = {s / w:.2f}x")
PY

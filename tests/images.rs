//! End-to-end tests of the image commands, with skopeo as the format oracle.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

struct Store {
    dir: tempfile::TempDir,
}

impl Store {
    fn new() -> Store {
        Store { dir: tempfile::Builder::new().prefix("wharf-img-").tempdir().unwrap() }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn wharf(&self, args: &[&str]) -> Output {
        Command::new(support::WHARF).arg("--data-root").arg(self.path("data")).args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        support::stdout_of(self.wharf(args), args)
    }

    /// Imports the busybox rootfs as `name`; returns the image ID.
    fn import_busybox(&self, name: &str) -> String {
        let tar = support::busybox_tar(self.dir.path());
        self.ok(&["import", "--change", "CMD [\"sh\"]", tar.to_str().unwrap(), name]).trim().to_string()
    }

    fn inspect(&self, name: &str) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["image", "inspect", name])).unwrap();
        v[0].clone()
    }
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(["--insecure-policy"])
        .args(args)
        .output()
        .expect("skopeo is installed (apt-get install skopeo)");
    assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256_file(p: &Path) -> String {
    use sha2::Digest;
    format!("sha256:{:x}", sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

#[test]
fn import_list_tag_inspect_rmi() {
    let s = Store::new();
    let id = s.import_busybox("busybox:local");
    assert!(id.starts_with("sha256:"));
    let list = s.ok(&["images"]);
    assert!(list.lines().any(|l| l.starts_with("busybox") && l.contains("local") && l.contains(&id[7..19])), "{list}");
    s.ok(&["tag", "busybox:local", "localhost:5000/bb:v1"]);
    let info = s.inspect("localhost:5000/bb:v1");
    assert_eq!(info["Id"], id.as_str());
    assert_eq!(info["Config"]["Cmd"][0], "sh");
    let tags: Vec<&str> = info["RepoTags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tags.contains(&"busybox:local") && tags.contains(&"localhost:5000/bb:v1"), "{tags:?}");
    // As the docker CLI: one line per name.
    assert_eq!(s.ok(&["images", "-q"]).trim(), format!("{0}\n{0}", &id[7..19]));
    assert_eq!(s.ok(&["rmi", "busybox:local"]).trim(), "Untagged: busybox:local");
    let out = s.ok(&["rmi", &id[7..19]]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert!(s.ok(&["images", "-q"]).trim().is_empty());
    // Every blob and snapshot was freed.
    let blobs = std::fs::read_dir(s.path("data/image/content/blobs/sha256")).unwrap().count();
    let snaps = std::fs::read_dir(s.path("data/image/snapshots/committed")).unwrap().count();
    assert_eq!((blobs, snaps), (0, 0));
}

#[test]
fn bad_input_is_refused() {
    let s = Store::new();
    for (args, needle) in [
        (vec!["rmi", "nosuch:tag"], "no such image"),
        (vec!["tag", "nosuch", "x:1"], "no such image"),
        (vec!["image", "inspect", "nosuch"], "No such image"),
        (vec!["tag", "nosuch", "UPPER"], "no such image"),
        (vec!["load", "--input", "/nonexistent.tar"], "/nonexistent.tar"),
        (vec!["save", "-o", "/tmp/never-written.tar", "nosuch"], "no such image"),
    ] {
        let out = s.wharf(&args);
        assert!(!out.status.success(), "{args:?} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert!(!Path::new("/tmp/never-written.tar").exists());
    s.import_busybox("ok:1");
    let out = s.wharf(&["tag", "ok:1", "Bad/Name"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("invalid reference format"));
    // A truncated import leaves no image and no blob behind.
    std::fs::write(s.path("broken.tar"), &std::fs::read(s.path("rootfs.tar")).unwrap()[..3000]).unwrap();
    assert!(!s.wharf(&["import", s.path("broken.tar").to_str().unwrap(), "broken:1"]).status.success());
    assert_eq!(s.ok(&["images", "-q"]).lines().count(), 1);
}

/// What wharf saves, skopeo reads; what skopeo writes, wharf loads — with equal digests.
#[test]
fn skopeo_interop_both_ways() {
    let s = Store::new();
    let id = s.import_busybox("busybox:local");
    for format in ["docker", "docker-legacy"] {
        let archive = s.path(&format!("{format}.tar"));
        s.ok(&["save", "--format", format, "-o", archive.to_str().unwrap(), "busybox:local"]);
        // skopeo reads wharf's Docker archive: same config digest (image ID).
        let cfg: Value =
            serde_json::from_str(&skopeo(&["inspect", "--config", &format!("docker-archive:{}", archive.display())]))
                .unwrap();
        assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);
        let raw = skopeo(&["inspect", "--raw", &format!("docker-archive:{}", archive.display())]);
        let m: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(m["config"]["digest"], id.as_str(), "{format}: skopeo sees our image ID");
        // skopeo rewrites it as its own docker-archive and OCI layout; wharf loads both.
        let sk = s.path(&format!("skopeo-{format}.tar"));
        skopeo(&[
            "copy",
            &format!("docker-archive:{}", archive.display()),
            &format!("docker-archive:{}:bb:skopeo", sk.display()),
        ]);
        let t = Store::new();
        let out = t.ok(&["load", "-i", sk.to_str().unwrap()]);
        assert!(out.contains("Loaded image: bb:skopeo"), "{out}");
        assert_eq!(t.inspect("bb:skopeo")["Id"], id.as_str());
    }
    // OCI layout written by wharf → skopeo copies it (no conversion) → wharf loads it back, manifest digest equal.
    let layout = s.path("layout");
    s.ok(&["save", "--format", "oci-dir", "-o", layout.to_str().unwrap(), "busybox:local"]);
    let saved: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = saved["manifests"][0]["digest"].as_str().unwrap().to_string();
    let copy = s.path("skopeo-layout");
    skopeo(&[
        "copy",
        "--preserve-digests",
        &format!("oci:{}:local", layout.display()),
        &format!("oci:{}:bb", copy.display()),
    ]);
    let index: Value = serde_json::from_slice(&std::fs::read(copy.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str(), "skopeo kept the manifest digest");
    let t = Store::new();
    t.ok(&["load", "-i", copy.to_str().unwrap()]);
    // The same manifest, hence the same image (a digest is shown only for registries, as Docker's).
    let loaded = t.inspect("bb");
    assert_eq!(loaded["Id"], s.inspect("busybox:local")["Id"], "{loaded}");
    // Blobs on disk are what their names say.
    for e in std::fs::read_dir(copy.join("blobs/sha256")).unwrap().flatten() {
        assert_eq!(sha256_file(&e.path()), format!("sha256:{}", e.file_name().to_string_lossy()));
    }
}

#[test]
fn save_load_round_trip_keeps_ids() {
    let s = Store::new();
    let id = s.import_busybox("busybox:local");
    s.ok(&["tag", "busybox:local", "busybox:other"]);
    let archive = s.path("both.tar");
    s.ok(&["save", "-o", archive.to_str().unwrap(), "busybox:local", "busybox:other"]);
    let t = Store::new();
    let out = t.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:local") && out.contains("Loaded image: busybox:other"), "{out}");
    assert_eq!(t.inspect("busybox:other")["Id"], id.as_str());
    let df = t.ok(&["system", "df"]);
    assert!(df.lines().nth(1).unwrap().starts_with("Images") && df.lines().nth(1).unwrap().contains(" 1 "), "{df}");
    t.ok(&["rmi", "busybox:local"]);
    t.ok(&["tag", "busybox:other", "keep:1"]);
    t.ok(&["rmi", "busybox:other"]);
    // Re-tagging keep:1 to another image leaves the old one dangling; prune removes it.
    t.import_busybox_variant();
    let listed = t.ok(&["images"]);
    assert!(listed.contains("<none>"), "{listed}");
    let pruned = t.ok(&["image", "prune", "-f"]);
    assert!(pruned.contains(&format!("deleted: {id}")), "{pruned}");
}

impl Store {
    fn import_busybox_variant(&self) {
        let dir = self.path("variant");
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("etc/variant"), "v2").unwrap();
        let tar = self.path("variant.tar");
        assert!(Command::new("tar").arg("-C").arg(&dir).arg("-cf").arg(&tar).arg(".").status().unwrap().success());
        self.ok(&["import", tar.to_str().unwrap(), "keep:1"]);
    }
}

/// A full disk fails the import cleanly: no image, nothing half-visible.
#[test]
fn disk_full_leaves_nothing_visible() {
    let s = Store::new();
    let data = s.path("data");
    std::fs::create_dir_all(&data).unwrap();
    let st = Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]).arg(&data).status().unwrap();
    assert!(st.success(), "mount tmpfs");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(data.clone());
    let tar = support::busybox_tar(s.dir.path());
    let out = s.wharf(&["import", tar.to_str().unwrap(), "big:1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No space left on device"), "{err}");
    let listed = s.ok(&["images", "-q"]);
    assert!(listed.trim().is_empty(), "{listed}");
    let blobs: Vec<_> = std::fs::read_dir(data.join("image/content/blobs/sha256")).unwrap().collect();
    assert!(blobs.is_empty(), "no blob committed");
}

/// The snapshotter's mount specs, mounted by the kernel: layers stacked by
/// overlayfs, writes land in the container's upper directory only.
#[test]
fn overlay_snapshot_mounts() {
    use wharf_image::snapshot::Snapshotter;
    let s = Store::new();
    let images = wharf_image::Images::open(s.path("lib")).unwrap();
    let tar = support::busybox_tar(s.dir.path());
    let base = images.import(&mut std::fs::File::open(&tar).unwrap(), Some("base:1"), None, None).unwrap();
    let mounts = images.prepare_rootfs("c1", &base).unwrap();
    // A one-layer image with a writable layer still goes through overlay.
    assert_eq!(mounts[0].typ, "overlay");
    let target = s.path("mnt");
    std::fs::create_dir_all(&target).unwrap();
    let opts = mounts[0].options.join(",");
    nix::mount::mount(Some("overlay"), &target, Some("overlay"), nix::mount::MsFlags::empty(), Some(opts.as_str()))
        .unwrap();
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let guard = Unmount(target.clone());
    assert!(target.join("bin/busybox").is_file());
    std::fs::write(target.join("etc/written"), "x").unwrap();
    std::fs::remove_file(target.join("bin/ls")).unwrap();
    drop(guard);
    let upper = opts.split(',').find_map(|o| o.strip_prefix("upperdir=")).unwrap();
    assert!(Path::new(upper).join("etc/written").exists(), "write went to the upper dir");
    assert!(support::rootfs().join("bin/ls").exists());
    let chain = base.chain_ids().pop().unwrap();
    let layer = images.snapshots.view(&chain).unwrap();
    assert!(Path::new(&layer[0].source).join("bin/ls").exists(), "the layer itself is untouched");
    images.snapshots.remove_active("c1").unwrap();
    assert!(!Path::new(upper).exists());
}

/// `rmi` and `image prune` in a loop while a pull, a load and a build write
/// into the same data root (separate processes, as a daemon and a
/// daemonless CLI would): leases keep what each is writing, so every one
/// succeeds and every resulting image runs.
#[test]
fn gc_racing_pull_load_build() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let reg = support::Registry::start(None);
    // A seed store publishes what the racing store fetches.
    let seed = Store::new();
    seed.import_busybox("seed:1");
    let pulled = format!("{}/race/pull:1", reg.host());
    seed.ok(&["tag", "seed:1", &pulled]);
    seed.ok(&["push", &pulled]);
    let tar = support::busybox_tar(seed.dir.path());
    seed.ok(&["import", "--change", "CMD [\"true\"]", tar.to_str().unwrap(), "loaded:1"]);
    let archive = seed.path("loaded.tar");
    seed.ok(&["save", "-o", archive.to_str().unwrap(), "loaded:1"]);
    let context = seed.path("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("Dockerfile"), format!("FROM {pulled}\nRUN echo built > /built\nCMD [\"sh\"]\n"))
        .unwrap();

    let s = Store::new();
    // A decoy of its own layer (one shared with a build step's container would be "in use").
    let decoy_dir = s.path("decoy");
    std::fs::create_dir_all(&decoy_dir).unwrap();
    std::fs::write(decoy_dir.join("decoy"), "d").unwrap();
    let decoy_tar = s.path("decoy.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&decoy_dir)
        .arg("-cf")
        .arg(&decoy_tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let done = AtomicBool::new(false);
    let passes = AtomicUsize::new(0);
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let gc = scope.spawn(|| {
            let mut n = 0;
            while !done.load(Ordering::SeqCst) {
                let decoy = format!("decoy:{n}");
                s.ok(&["import", decoy_tar.to_str().unwrap(), &decoy]);
                s.ok(&["rmi", &decoy]); // the last name: image deleted, then GC
                s.ok(&["image", "prune", "-f"]); // dangling images (a build's steps), then GC
                passes.fetch_add(1, Ordering::SeqCst);
                if n == 0 {
                    started_tx.send(()).unwrap();
                }
                n += 1;
            }
        });
        // The writers start once a first GC pass went through, and GC keeps
        // running until every writer is done.
        started_rx.recv().unwrap();
        let before = passes.load(Ordering::SeqCst);
        let ops: Vec<_> = [
            vec!["pull".to_string(), pulled.clone()],
            vec!["load".into(), "-i".into(), archive.display().to_string()],
            vec!["build".into(), "-t".into(), "built:1".into(), context.display().to_string()],
        ]
        .into_iter()
        .map(|args| {
            let s = &s;
            scope.spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = s.wharf(&args);
                (args.join(" "), out)
            })
        })
        .collect();
        let results: Vec<(String, Output)> = ops.into_iter().map(|h| h.join().unwrap()).collect();
        done.store(true, Ordering::SeqCst);
        gc.join().unwrap();
        for (what, out) in &results {
            assert!(
                out.status.success(),
                "{what} failed while GC ran: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        eprintln!("{} GC passes ran alongside the writers", passes.load(Ordering::SeqCst) - before);
    });
    for img in [pulled.as_str(), "loaded:1", "built:1"] {
        s.ok(&["run", "--rm", img, "true"]);
    }
    assert_eq!(s.ok(&["run", "--rm", "built:1", "cat", "/built"]).trim(), "built");
    let leases = std::fs::read_dir(s.path("data/image/leases")).unwrap().flatten();
    let left: Vec<_> = leases.map(|e| e.file_name()).filter(|n| n != "gc.lock").collect();
    assert!(left.is_empty(), "every lease released: {left:?}");
}

//! The suite every `Snapshotter` runs (as containerd's
//! `snapshots/testsuite`): `snapshotter_suite!(|| (guard, snapshotter,
//! harness))` expands to one `#[test]` per case. The harness turns mount
//! specs into a directory the case reads and writes (a real mount for
//! overlay, the source of a bind, the fake's copy-in/copy-out).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{MountSpec, Snapshotter};
use crate::digest::Digest;
use crate::error::ImageError;
use crate::manifest::chain_ids;

/// Gives a case the tree behind mount specs.
pub trait Harness {
    /// Runs `f` on the mounted tree of `mounts`; writes persist in a writable view.
    fn with_mounted(&self, mounts: &[MountSpec], f: &mut dyn FnMut(&Path));
}

/// Overlay and bind specs: bind sources are used in place (what a bind
/// mount shows), overlays are mounted (root only) on a scratch directory.
pub struct KernelHarness {
    pub scratch: PathBuf,
}

impl Harness for KernelHarness {
    fn with_mounted(&self, mounts: &[MountSpec], f: &mut dyn FnMut(&Path)) {
        let m = &mounts[0];
        match m.typ.as_str() {
            "bind" => f(Path::new(&m.source)),
            "overlay" => {
                let target = self.scratch.join("mnt");
                fs::create_dir_all(&target).unwrap();
                let opts = m.options.join(",");
                nix::mount::mount(
                    Some("overlay"),
                    &target,
                    Some("overlay"),
                    nix::mount::MsFlags::empty(),
                    Some(opts.as_str()),
                )
                .unwrap();
                struct Unmount<'a>(&'a Path);
                impl Drop for Unmount<'_> {
                    fn drop(&mut self) {
                        let _ = nix::mount::umount2(self.0, nix::mount::MntFlags::MNT_DETACH);
                    }
                }
                let _guard = Unmount(&target);
                f(&target);
            }
            other => panic!("cannot mount {other:?}"),
        }
    }
}

/// True if the overlay cases can run (they mount); prints why not.
pub fn can_mount_overlay() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("skipping: the overlay snapshotter suite mounts overlayfs and needs root");
    }
    root
}

/// One `#[test]` per case, each on a fresh snapshotter from `$make`.
#[macro_export]
macro_rules! snapshotter_suite {
    ($make:expr) => {
        $crate::snapshotter_suite!(@cases $make;
            prepare_commit_view_remove, chains_stack_and_whiteouts, opaque_directories,
            diff_records_changes, hardlinks_in_a_layer, remove_with_children_refused,
            usage_counts_content, prepare_is_idempotent, missing_snapshots_are_typed,
            diff_id_mismatch_commits_nothing);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                let Some((_guard, snapshotter, harness)) = ($make)() else { return };
                $crate::snapshot::testsuite::$case(&*snapshotter, &harness);
            }
        )*
    };
}

/// A layer entry for `layer`.
pub enum E<'a> {
    File(&'a str, &'a str),
    Dir(&'a str),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Whiteout(&'a str),
}

/// An uncompressed layer tar (files 0644 root-owned, mtime 1000).
pub fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1000);
        h.set_uid(0);
        h.set_gid(0);
        let (path, data): (String, &str) = match e {
            E::File(p, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                ((*p).into(), d)
            }
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                ((*p).into(), "")
            }
            E::Sym(p, t) | E::Hard(p, t) => {
                h.set_entry_type(if matches!(e, E::Sym(..)) { tar::EntryType::Symlink } else { tar::EntryType::Link });
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
                continue;
            }
            E::Whiteout(p) => {
                let path = Path::new(p);
                let name = format!(".wh.{}", path.file_name().unwrap().to_string_lossy());
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o600);
                (path.with_file_name(name).display().to_string(), "")
            }
        };
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, path, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

/// Applies `layers` as one chain; returns the ChainIDs.
pub fn apply_chain(s: &dyn Snapshotter, layers: &[Vec<u8>]) -> Vec<Digest> {
    let diffs: Vec<Digest> = layers.iter().map(|l| Digest::sha256(l)).collect();
    let chains = chain_ids(&diffs);
    for (i, l) in layers.iter().enumerate() {
        let parent = i.checked_sub(1).map(|p| &chains[p]);
        s.apply(&chains[i], parent, &diffs[i], &mut &l[..]).unwrap();
    }
    chains
}

fn read(dir: &Path, p: &str) -> Option<String> {
    fs::read_to_string(dir.join(p)).ok()
}

/// Every path under `dir` → (kind, content or link target).
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(dir.join(&rel)).unwrap().flatten() {
            let r = rel.join(e.file_name());
            let md = fs::symlink_metadata(dir.join(&r)).unwrap();
            let v = if md.is_dir() {
                stack.push(r.clone());
                format!("dir {:o}", md.mode() & 0o7777)
            } else if md.file_type().is_symlink() {
                format!("link {}", fs::read_link(dir.join(&r)).unwrap().display())
            } else if md.is_file() {
                format!("file {:o} {}", md.mode() & 0o7777, fs::read_to_string(dir.join(&r)).unwrap_or_default())
            } else {
                format!("special {}", md.rdev())
            };
            out.insert(r.display().to_string(), v);
        }
    }
    out
}

/// The entry names of a layer tar.
pub fn entries(tar_data: &[u8]) -> Vec<(String, tar::EntryType)> {
    let mut ar = tar::Archive::new(tar_data);
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.path().unwrap().display().to_string().trim_end_matches('/').to_string(), e.header().entry_type())
        })
        .collect()
}

pub fn prepare_commit_view_remove(s: &dyn Snapshotter, h: &dyn Harness) {
    let chains = apply_chain(s, &[layer(&[E::Dir("d"), E::File("d/a", "1"), E::Sym("l", "d/a")])]);
    assert!(s.exists(&chains[0]));
    let m = s.prepare("c1", Some(&chains[0])).unwrap();
    h.with_mounted(&m, &mut |dir| {
        assert_eq!(read(dir, "d/a").as_deref(), Some("1"));
        assert_eq!(fs::read_link(dir.join("l")).unwrap(), Path::new("d/a"));
        fs::write(dir.join("b"), "2").unwrap();
    });
    assert_eq!(s.active_parents().unwrap(), vec![chains[0].clone()]);
    let top = Digest::sha256(b"committed c1");
    s.commit("c1", &top).unwrap();
    assert!(s.exists(&top));
    assert!(s.active_parents().unwrap().is_empty(), "the view became the snapshot");
    assert_eq!(s.list().unwrap().iter().find(|(c, _)| c == &top).unwrap().1.as_ref(), Some(&chains[0]));
    h.with_mounted(&s.view(&top).unwrap(), &mut |dir| {
        assert_eq!(read(dir, "b").as_deref(), Some("2"));
        assert_eq!(read(dir, "d/a").as_deref(), Some("1"), "the parent shows through");
    });
    assert!(matches!(s.commit("c1", &top), Err(ImageError::SnapshotNotFound(_))));
    s.remove_committed(&top).unwrap();
    s.remove_committed(&top).unwrap(); // absent: no error
    s.remove_committed(&chains[0]).unwrap();
    assert!(s.list().unwrap().is_empty());
}

pub fn chains_stack_and_whiteouts(s: &dyn Snapshotter, h: &dyn Harness) {
    let chains = apply_chain(
        s,
        &[
            layer(&[E::File("a", "1"), E::File("x", "gone"), E::Dir("dir"), E::File("dir/y", "gone too")]),
            layer(&[E::File("a", "2"), E::Whiteout("x"), E::Whiteout("dir")]),
        ],
    );
    let listed = s.list().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&(chains[1].clone(), Some(chains[0].clone()))));
    let m = s.prepare("c", Some(&chains[1])).unwrap();
    h.with_mounted(&m, &mut |dir| {
        assert_eq!(read(dir, "a").as_deref(), Some("2"), "the top layer wins");
        assert!(fs::symlink_metadata(dir.join("x")).is_err(), "whited out");
        assert!(fs::symlink_metadata(dir.join("dir")).is_err(), "whited-out directory");
        assert_eq!(tree(dir).len(), 1, "nothing else, no whiteout files: {:?}", tree(dir));
    });
    h.with_mounted(&s.view(&chains[0]).unwrap(), &mut |dir| {
        assert_eq!(read(dir, "x").as_deref(), Some("gone"), "the lower snapshot is untouched");
    });
}

pub fn opaque_directories(s: &dyn Snapshotter, h: &dyn Harness) {
    let chains = apply_chain(
        s,
        &[
            layer(&[E::Dir("d"), E::File("d/old", "1")]),
            layer(&[E::Dir("d"), E::File("d/.wh..wh..opq", ""), E::File("d/new", "2")]),
        ],
    );
    h.with_mounted(&s.view(&chains[1]).unwrap(), &mut |dir| {
        assert_eq!(tree(dir).keys().cloned().collect::<Vec<_>>(), vec!["d", "d/new"]);
    });
}

pub fn diff_records_changes(s: &dyn Snapshotter, h: &dyn Harness) {
    let base = layer(&[
        E::File("keep", "same"),
        E::File("edit", "old"),
        E::File("rm", "x"),
        E::Dir("sub"),
        E::File("sub/rm2", "y"),
        E::File("mode", "m"),
    ]);
    let chains = apply_chain(s, &[base]);
    let m = s.prepare("c", Some(&chains[0])).unwrap();
    let mut want = BTreeMap::new();
    h.with_mounted(&m, &mut |dir| {
        fs::write(dir.join("edit"), "new").unwrap();
        fs::write(dir.join("added"), "a").unwrap();
        fs::hard_link(dir.join("added"), dir.join("added-link")).unwrap();
        fs::remove_file(dir.join("rm")).unwrap();
        fs::remove_file(dir.join("sub/rm2")).unwrap();
        fs::set_permissions(dir.join("mode"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::create_dir(dir.join("newdir")).unwrap();
        fs::write(dir.join("newdir/f"), "f").unwrap();
        want = tree(dir);
    });
    let mut diff = Vec::new();
    s.diff("c", &mut diff).unwrap();
    let names = entries(&diff);
    let has = |n: &str| names.iter().any(|(p, _)| p == n);
    for n in ["edit", "added", "added-link", ".wh.rm", "sub/.wh.rm2", "mode", "newdir", "newdir/f"] {
        assert!(has(n), "{n} in {names:?}");
    }
    assert!(!has("keep"), "unchanged files stay out: {names:?}");
    let link = names.iter().filter(|(p, _)| p.starts_with("added")).filter(|(_, t)| *t == tar::EntryType::Link);
    assert_eq!(link.count(), 1, "the second name of a hardlinked file is a link: {names:?}");
    // What the parent holds tells a modification from an addition.
    for (p, held) in [("edit", true), ("sub", true), ("rm", true), ("added", false), ("newdir/f", false)] {
        assert_eq!(s.parent_has("c", Path::new(p)).unwrap(), held, "{p}");
    }
    assert!(!s.parent_has("c", Path::new("../../../etc/passwd")).unwrap(), "resolved inside the parent");
    // The diff, applied on the parent, reproduces the view.
    let top = chain_ids(&[Digest::sha256(b"unused"), Digest::sha256(&diff)]).pop().unwrap();
    s.apply(&top, Some(&chains[0]), &Digest::sha256(&diff), &mut &diff[..]).unwrap();
    h.with_mounted(&s.view(&top).unwrap(), &mut |dir| assert_eq!(tree(dir), want));
}

pub fn hardlinks_in_a_layer(s: &dyn Snapshotter, h: &dyn Harness) {
    let chains = apply_chain(s, &[layer(&[E::File("f", "data"), E::Hard("g", "f")])]);
    let m = s.prepare("c", Some(&chains[0])).unwrap();
    h.with_mounted(&m, &mut |dir| {
        let (f, g) = (fs::metadata(dir.join("f")).unwrap(), fs::metadata(dir.join("g")).unwrap());
        assert_eq!((f.ino(), f.nlink()), (g.ino(), 2), "one inode, two names");
        assert_eq!(read(dir, "g").as_deref(), Some("data"));
    });
}

pub fn remove_with_children_refused(s: &dyn Snapshotter, _h: &dyn Harness) {
    let chains = apply_chain(s, &[layer(&[E::File("a", "1")]), layer(&[E::File("b", "2")])]);
    assert!(matches!(s.remove_committed(&chains[0]), Err(ImageError::SnapshotHasChildren(_))));
    s.prepare("c", Some(&chains[1])).unwrap();
    assert!(matches!(s.remove_committed(&chains[1]), Err(ImageError::SnapshotHasChildren(_))), "a view stands on it");
    s.remove_active("c").unwrap();
    s.remove_active("c").unwrap(); // absent: no error
    s.remove_committed(&chains[1]).unwrap();
    s.remove_committed(&chains[0]).unwrap();
    assert!(s.list().unwrap().is_empty());
}

pub fn usage_counts_content(s: &dyn Snapshotter, _h: &dyn Harness) {
    let big = "x".repeat(256 << 10);
    let chains = apply_chain(s, &[layer(&[E::File("small", "1")]), layer(&[E::File("big", &big)])]);
    let (small, large) = (s.usage(&chains[0]).unwrap(), s.usage(&chains[1]).unwrap());
    assert!(large >= 256 << 10, "usage {large} counts the big file");
    assert!(small < large);
}

pub fn prepare_is_idempotent(s: &dyn Snapshotter, h: &dyn Harness) {
    let chains = apply_chain(s, &[layer(&[E::File("a", "1")])]);
    let m = s.prepare("c", Some(&chains[0])).unwrap();
    h.with_mounted(&m, &mut |dir| fs::write(dir.join("mine"), "kept").unwrap());
    let again = s.prepare("c", Some(&chains[0])).unwrap();
    h.with_mounted(&again, &mut |dir| assert_eq!(read(dir, "mine").as_deref(), Some("kept")));
    let empty = s.prepare("scratch", None).unwrap();
    h.with_mounted(&empty, &mut |dir| assert!(tree(dir).is_empty()));
}

pub fn missing_snapshots_are_typed(s: &dyn Snapshotter, _h: &dyn Harness) {
    let nosuch = Digest::sha256(b"nosuch");
    assert!(!s.exists(&nosuch));
    assert!(matches!(s.prepare("c", Some(&nosuch)), Err(ImageError::SnapshotNotFound(_))));
    assert!(matches!(s.view(&nosuch), Err(ImageError::SnapshotNotFound(_))));
    assert!(matches!(s.commit("nosuch", &nosuch), Err(ImageError::SnapshotNotFound(_))));
    assert!(matches!(s.diff("nosuch", &mut Vec::new()), Err(ImageError::SnapshotNotFound(_))));
}

pub fn diff_id_mismatch_commits_nothing(s: &dyn Snapshotter, _h: &dyn Harness) {
    let l = layer(&[E::File("a", "1")]);
    let wrong = Digest::sha256(b"not the layer");
    let err = s.apply(&wrong, None, &wrong, &mut &l[..]).unwrap_err();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    assert!(s.list().unwrap().is_empty());
    assert!(!s.exists(&wrong));
}

//! `NativeSnapshotter` (containerd's `native`): no overlayfs. Every committed
//! snapshot `committed/<chainid>/fs` is the whole tree of its chain (the
//! parent's tree copied, the layer unpacked on top with whiteouts applied
//! as deletions); a writable view `active/<hash of key>/fs` is a full copy
//! of its parent, handed out as a bind mount. `diff` compares the view with
//! its parent (`changes.rs`).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{MountSpec, Snapshotter};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::unpack::Whiteouts;

#[derive(Debug, Clone)]
pub struct NativeSnapshotter {
    root: PathBuf,
}

impl NativeSnapshotter {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for d in ["committed", "active", "tmp"] {
            fs::create_dir_all(root.join(d)).map_err(ImageError::io("create", root.join(d)))?;
        }
        Ok(NativeSnapshotter { root })
    }

    fn committed(&self, chain: &Digest) -> PathBuf {
        self.root.join("committed").join(chain.hex())
    }

    fn active(&self, key: &str) -> PathBuf {
        self.root.join("active").join(Digest::sha256(key.as_bytes()).hex())
    }

    /// A new directory under `tmp/` whose `fs` is a copy of `parent`'s tree
    /// (empty without one), with `parent` recorded.
    fn stage(&self, parent: Option<&Digest>) -> Result<PathBuf> {
        if let Some(p) = parent.filter(|p| !self.exists(p)) {
            return Err(ImageError::SnapshotNotFound(p.to_string()));
        }
        let tmp = super::tempdir_in(&self.root.join("tmp"))?;
        let result = (|| {
            let fs_dir = tmp.join("fs");
            fs::create_dir(&fs_dir).map_err(ImageError::io("create", &fs_dir))?;
            if let Some(p) = parent {
                super::copy::copy_tree(&self.committed(p).join("fs"), &fs_dir)?;
                fs::write(tmp.join("parent"), p.to_string()).map_err(ImageError::io("write", tmp.join("parent")))?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let _ = super::remove_tree(&tmp);
                Err(e)
            }
        }
    }
}

impl Snapshotter for NativeSnapshotter {
    fn name(&self) -> &'static str {
        "native"
    }

    fn exists(&self, chain: &Digest) -> bool {
        self.committed(chain).join("fs").is_dir()
    }

    fn apply(&self, chain: &Digest, parent: Option<&Digest>, diff_id: &Digest, layer: &mut dyn Read) -> Result<()> {
        if self.exists(chain) {
            return Ok(());
        }
        let tmp = self.stage(parent)?;
        let result = (|| {
            super::unpack_verified(layer, &tmp.join("fs"), diff_id, Whiteouts::Delete)?;
            let target = self.committed(chain);
            match fs::rename(&tmp, &target) {
                Ok(()) => Ok(()),
                Err(_) if self.exists(chain) => Ok(()), // an identical tree won the race
                Err(e) => Err(ImageError::Io { context: "commit snapshot", path: target, source: e }),
            }
        })();
        let _ = super::remove_tree(&tmp);
        result
    }

    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<MountSpec>> {
        let dir = self.active(key);
        if !dir.join("fs").is_dir() {
            let tmp = self.stage(parent)?;
            fs::write(tmp.join("key"), key).map_err(ImageError::io("write", tmp.join("key")))?;
            if let Err(e) = fs::rename(&tmp, &dir) {
                let _ = super::remove_tree(&tmp);
                // A concurrent prepare of the same key won: use its view.
                if !dir.join("fs").is_dir() {
                    return Err(ImageError::Io { context: "prepare snapshot", path: dir, source: e });
                }
            }
        }
        Ok(vec![MountSpec::bind(&dir.join("fs"), true)])
    }

    fn view(&self, parent: &Digest) -> Result<Vec<MountSpec>> {
        if !self.exists(parent) {
            return Err(ImageError::SnapshotNotFound(parent.to_string()));
        }
        Ok(vec![MountSpec::bind(&self.committed(parent).join("fs"), false)])
    }

    fn commit(&self, key: &str, chain: &Digest) -> Result<()> {
        let dir = self.active(key);
        if !dir.join("fs").is_dir() {
            return Err(ImageError::SnapshotNotFound(key.to_string()));
        }
        if self.exists(chain) {
            return Err(ImageError::SnapshotExists(chain.to_string()));
        }
        // The view already is the whole tree: it becomes the snapshot as it is.
        let _ = fs::remove_file(dir.join("key"));
        fs::rename(&dir, self.committed(chain)).map_err(ImageError::io("commit snapshot", self.committed(chain)))
    }

    fn diff(&self, key: &str, out: &mut dyn Write) -> Result<()> {
        let dir = self.active(key);
        if !dir.join("fs").is_dir() {
            return Err(ImageError::SnapshotNotFound(key.to_string()));
        }
        let lower = super::read_parent(&dir.join("parent")).map(|p| self.committed(&p).join("fs"));
        if let Some(l) = lower.as_ref().filter(|l| !l.is_dir()) {
            return Err(ImageError::SnapshotNotFound(l.display().to_string()));
        }
        super::changes::write_changes(lower.as_deref(), &dir.join("fs"), out)
    }

    fn parent_has(&self, key: &str, rel: &Path) -> Result<bool> {
        match super::read_parent(&self.active(key).join("parent")) {
            Some(p) => Ok(super::stat_in(&self.committed(&p).join("fs"), rel)?.is_some()),
            None => Ok(false),
        }
    }

    fn remove_active(&self, key: &str) -> Result<()> {
        let dir = self.active(key);
        let trash = self.root.join("tmp").join(format!("rm-{}", dir.file_name().unwrap_or_default().to_string_lossy()));
        match fs::rename(&dir, &trash) {
            Ok(()) => super::remove_tree(&trash),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ImageError::Io { context: "remove", path: dir, source: e }),
        }
    }

    fn remove_committed(&self, chain: &Digest) -> Result<()> {
        super::check_no_children(chain, &self.list()?, &self.active_parents()?)?;
        let dir = self.committed(chain);
        let trash = self.root.join("tmp").join(format!("rm-{}", chain.hex()));
        match fs::rename(&dir, &trash) {
            Ok(()) => super::remove_tree(&trash),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ImageError::Io { context: "remove", path: dir, source: e }),
        }
    }

    fn list(&self) -> Result<Vec<(Digest, Option<Digest>)>> {
        super::list_committed(&self.root.join("committed"))
    }

    fn active_parents(&self) -> Result<Vec<Digest>> {
        super::list_active_parents(&self.root.join("active"))
    }

    fn usage(&self, chain: &Digest) -> Result<u64> {
        Ok(super::dir_size(&self.committed(chain).join("fs")))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::snapshot::testsuite::{apply_chain, entries, layer, KernelHarness, E};

    crate::snapshotter_suite!(|| {
        let tmp = tempfile::tempdir().unwrap();
        let s: Arc<dyn Snapshotter> = Arc::new(NativeSnapshotter::open(tmp.path().join("s")).unwrap());
        let h = KernelHarness { scratch: tmp.path().to_path_buf() };
        Some((tmp, s, h))
    });

    /// A view is a faithful copy: ownership, setuid modes, xattrs, devices,
    /// symlinks, hardlinks and nanosecond mtimes; unchanged, it diffs to nothing.
    #[test]
    fn prepare_copies_faithfully() {
        let tmp = tempfile::tempdir().unwrap();
        let s = NativeSnapshotter::open(tmp.path()).unwrap();
        let chains = apply_chain(&s, &[layer(&[E::File("f", "x"), E::Hard("h", "f"), E::Sym("l", "f")])]);
        let base = tmp.path().join("committed").join(chains[0].hex()).join("fs");
        let root = nix::unistd::geteuid().is_root();
        fs::set_permissions(base.join("f"), fs::Permissions::from_mode(0o4755)).unwrap();
        filetime::set_file_mtime(base.join("f"), filetime::FileTime::from_unix_time(1_000_000, 123_456_789)).unwrap();
        let _ = xattr::set(base.join("f"), "user.wharf", b"v");
        if root {
            std::os::unix::fs::lchown(base.join("l"), Some(7), Some(8)).unwrap();
            nix::sys::stat::mknod(
                &base.join("null"),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::from_bits_truncate(0o666),
                nix::sys::stat::makedev(1, 3),
            )
            .unwrap();
        }
        let m = s.prepare("c", Some(&chains[0])).unwrap();
        assert_eq!((m[0].typ.as_str(), m[0].options.as_slice()), ("bind", &["rbind".to_string(), "rw".into()][..]));
        let view = Path::new(&m[0].source);
        let (a, b) = (fs::metadata(base.join("f")).unwrap(), fs::metadata(view.join("f")).unwrap());
        assert_eq!(b.mode(), a.mode(), "setuid kept");
        assert_eq!((b.mtime(), b.mtime_nsec()), (a.mtime(), a.mtime_nsec()));
        assert_eq!(fs::metadata(view.join("h")).unwrap().ino(), b.ino(), "hardlink kept");
        assert_ne!(b.ino(), a.ino(), "a copy, not the layer itself");
        assert_eq!(fs::read_link(view.join("l")).unwrap(), Path::new("f"));
        if xattr::get(base.join("f"), "user.wharf").ok().flatten().is_some() {
            assert_eq!(xattr::get(view.join("f"), "user.wharf").unwrap().as_deref(), Some(&b"v"[..]));
        }
        if root {
            assert_eq!(fs::symlink_metadata(view.join("l")).unwrap().uid(), 7);
            assert_eq!(fs::metadata(view.join("null")).unwrap().rdev(), nix::sys::stat::makedev(1, 3));
        }
        let mut diff = Vec::new();
        s.diff("c", &mut diff).unwrap();
        assert!(entries(&diff).is_empty(), "an untouched copy has no changes: {:?}", entries(&diff));
    }

    /// Whiteouts are applied by deleting: no overlay character devices in a tree.
    #[test]
    fn no_overlay_whiteouts_on_disk() {
        use std::os::unix::fs::FileTypeExt;
        let tmp = tempfile::tempdir().unwrap();
        let s = NativeSnapshotter::open(tmp.path()).unwrap();
        let chains = apply_chain(&s, &[layer(&[E::File("x", "1")]), layer(&[E::Whiteout("x"), E::Whiteout("never")])]);
        let top = tmp.path().join("committed").join(chains[1].hex()).join("fs");
        for e in fs::read_dir(&top).unwrap().flatten() {
            assert!(!e.file_type().unwrap().is_char_device(), "{:?}", e.path());
        }
        assert_eq!(fs::read_dir(&top).unwrap().count(), 0);
    }
}

//! `OverlaySnapshotter`: each layer unpacked once into its own directory
//! (`committed/<chainid>/fs`, overlay whiteouts), writable views stacked on
//! them with overlayfs (`active/<hash of key>/{upper,work}`).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{MountSpec, Snapshotter};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::unpack::Whiteouts;

#[derive(Debug, Clone)]
pub struct OverlaySnapshotter {
    root: PathBuf,
}

impl OverlaySnapshotter {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for d in ["committed", "active", "tmp"] {
            fs::create_dir_all(root.join(d)).map_err(ImageError::io("create", root.join(d)))?;
        }
        Ok(OverlaySnapshotter { root })
    }

    fn committed(&self, chain: &Digest) -> PathBuf {
        self.root.join("committed").join(chain.hex())
    }

    fn active(&self, key: &str) -> PathBuf {
        self.root.join("active").join(Digest::sha256(key.as_bytes()).hex())
    }

    /// Layer directories from `chain` down to the base (overlay lowerdir order).
    fn lowers(&self, chain: &Digest) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut cur = Some(chain.clone());
        while let Some(c) = cur {
            if !self.exists(&c) {
                return Err(ImageError::SnapshotNotFound(c.to_string()));
            }
            out.push(self.committed(&c).join("fs").display().to_string());
            cur = super::read_parent(&self.committed(&c).join("parent"));
        }
        Ok(out)
    }
}

impl Snapshotter for OverlaySnapshotter {
    fn name(&self) -> &'static str {
        "overlay"
    }

    fn layers_independent(&self) -> bool {
        true
    }

    fn exists(&self, chain: &Digest) -> bool {
        self.committed(chain).join("fs").is_dir()
    }

    fn apply(&self, chain: &Digest, parent: Option<&Digest>, diff_id: &Digest, layer: &mut dyn Read) -> Result<()> {
        if self.exists(chain) {
            return Ok(());
        }
        // A layer's directory holds only its own diff, so layers of one chain may
        // be unpacked in any order (in parallel); mounting checks the whole chain.
        let tmp = super::tempdir_in(&self.root.join("tmp"))?;
        let fs_dir = tmp.join("fs");
        let result = (|| {
            fs::create_dir(&fs_dir).map_err(ImageError::io("create", &fs_dir))?;
            super::unpack_verified(layer, &fs_dir, diff_id, Whiteouts::Overlay)?;
            if let Some(p) = parent {
                fs::write(tmp.join("parent"), p.to_string()).map_err(ImageError::io("write", tmp.join("parent")))?;
            }
            let target = self.committed(chain);
            match fs::rename(&tmp, &target) {
                Ok(()) => Ok(()),
                // Someone else committed the same chain first: theirs is identical.
                Err(_) if self.exists(chain) => Ok(()),
                Err(e) => Err(ImageError::Io { context: "commit snapshot", path: target, source: e }),
            }
        })();
        let _ = super::remove_tree(&tmp);
        result
    }

    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<MountSpec>> {
        let lowers = parent.map(|p| self.lowers(p)).transpose()?;
        let dir = self.active(key);
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        fs::create_dir_all(&upper).map_err(ImageError::io("create", &upper))?;
        fs::create_dir_all(&work).map_err(ImageError::io("create", &work))?;
        let (Some(parent), Some(lowers)) = (parent, lowers) else {
            return Ok(vec![MountSpec::bind(&upper, true)]);
        };
        fs::write(dir.join("parent"), parent.to_string()).map_err(ImageError::io("write", dir.join("parent")))?;
        Ok(vec![MountSpec {
            typ: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                format!("lowerdir={}", lowers.join(":")),
                format!("upperdir={}", upper.display()),
                format!("workdir={}", work.display()),
                "index=off".into(),
            ],
        }])
    }

    fn view(&self, parent: &Digest) -> Result<Vec<MountSpec>> {
        let lowers = self.lowers(parent)?;
        if lowers.len() == 1 {
            return Ok(vec![MountSpec::bind(std::path::Path::new(&lowers[0]), false)]);
        }
        Ok(vec![MountSpec {
            typ: "overlay".into(),
            source: "overlay".into(),
            options: vec![format!("lowerdir={}", lowers.join(":"))],
        }])
    }

    fn commit(&self, key: &str, chain: &Digest) -> Result<()> {
        let dir = self.active(key);
        if !dir.join("upper").is_dir() {
            return Err(ImageError::SnapshotNotFound(key.to_string()));
        }
        if self.exists(chain) {
            return Err(ImageError::SnapshotExists(chain.to_string()));
        }
        // The upper directory is the layer, in overlay's own whiteout form.
        let tmp = super::tempdir_in(&self.root.join("tmp"))?;
        let result = (|| {
            let upper = dir.join("upper");
            fs::rename(&upper, tmp.join("fs")).map_err(ImageError::io("commit snapshot", &upper))?;
            if dir.join("parent").exists() {
                fs::rename(dir.join("parent"), tmp.join("parent"))
                    .map_err(ImageError::io("commit snapshot", dir.join("parent")))?;
            }
            fs::rename(&tmp, self.committed(chain)).map_err(ImageError::io("commit snapshot", self.committed(chain)))
        })();
        let _ = super::remove_tree(&tmp);
        result?;
        super::remove_tree(&dir)
    }

    fn diff(&self, key: &str, out: &mut dyn std::io::Write) -> Result<()> {
        let upper = self.active(key).join("upper");
        if !upper.is_dir() {
            return Err(ImageError::SnapshotNotFound(key.to_string()));
        }
        crate::tarball::layer_from_upper(&upper, out)
    }

    fn parent_has(&self, key: &str, rel: &Path) -> Result<bool> {
        let Some(parent) = super::read_parent(&self.active(key).join("parent")) else {
            return Ok(false);
        };
        // Top layer first: the first one that holds the path decides (a
        // whiteout there — a 0:0 character device — hides the lower ones).
        for lower in self.lowers(&parent)? {
            if let Some(st) = super::stat_in(Path::new(&lower), rel)? {
                let whiteout = st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0;
                return Ok(!whiteout);
            }
        }
        Ok(false)
    }

    fn active_dirs(&self, key: &str) -> std::collections::BTreeMap<String, String> {
        let dir = self.active(key);
        let mut out = std::collections::BTreeMap::new();
        if let Some(lowers) = super::read_parent(&dir.join("parent")).and_then(|p| self.lowers(&p).ok()) {
            out.insert("LowerDir".into(), lowers.join(":"));
        }
        out.insert("UpperDir".into(), dir.join("upper").display().to_string());
        out.insert("WorkDir".into(), dir.join("work").display().to_string());
        out
    }

    fn committed_dirs(&self, chain: &Digest) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        let Ok(lowers) = self.lowers(chain) else { return out };
        if let Some((top, rest)) = lowers.split_first() {
            out.insert("UpperDir".into(), top.clone());
            if !rest.is_empty() {
                out.insert("LowerDir".into(), rest.join(":"));
            }
        }
        out
    }

    fn remove_active(&self, key: &str) -> Result<()> {
        super::remove_tree(&self.active(key))
    }

    fn remove_committed(&self, chain: &Digest) -> Result<()> {
        super::check_no_children(chain, &self.list()?, &self.active_parents()?)?;
        let dir = self.committed(chain);
        // Rename first so a half-deleted snapshot is never taken for a complete one.
        let trash = self.root.join("tmp").join(format!("rm-{}", chain.hex()));
        match fs::rename(&dir, &trash) {
            Ok(()) => fs::remove_dir_all(&trash).map_err(ImageError::io("remove", &trash)),
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
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::snapshot::testsuite::{can_mount_overlay, KernelHarness};

    crate::snapshotter_suite!(|| {
        if !can_mount_overlay() {
            return None;
        }
        let tmp = tempfile::tempdir().unwrap();
        let s: Arc<dyn Snapshotter> = Arc::new(OverlaySnapshotter::open(tmp.path().join("s")).unwrap());
        let h = KernelHarness { scratch: tmp.path().to_path_buf() };
        Some((tmp, s, h))
    });
    use crate::manifest::chain_ids;
    use crate::testutil::tar_of as layer;

    #[test]
    fn layers_chain_and_mount_specs() {
        let tmp = tempfile::tempdir().unwrap();
        let s = OverlaySnapshotter::open(tmp.path()).unwrap();
        let l1 = layer(&[("a", "1")]);
        let l2 = layer(&[("b", "2")]);
        let diffs = vec![Digest::sha256(&l1), Digest::sha256(&l2)];
        let chains = chain_ids(&diffs);
        s.apply(&chains[0], None, &diffs[0], &mut &l1[..]).unwrap();
        s.apply(&chains[1], Some(&chains[0]), &diffs[1], &mut &l2[..]).unwrap();
        s.apply(&chains[1], Some(&chains[0]), &diffs[1], &mut &l2[..]).unwrap(); // idempotent
        assert_eq!(s.list().unwrap().len(), 2);
        let m = s.prepare("c1", Some(&chains[1])).unwrap();
        assert_eq!(m[0].typ, "overlay");
        let lower = m[0].options[0].strip_prefix("lowerdir=").unwrap();
        let dirs: Vec<&str> = lower.split(':').collect();
        assert!(Path::new(dirs[0]).join("b").exists() && Path::new(dirs[1]).join("a").exists(), "top layer first");
        assert_eq!(s.view(&chains[0]).unwrap()[0].typ, "bind");
        s.remove_active("c1").unwrap();
        s.remove_committed(&chains[1]).unwrap();
        assert!(!s.exists(&chains[1]) && s.exists(&chains[0]));
    }
}

//! Snapshots (containerd's `snapshots`): each layer unpacked once into its
//! own directory keyed by ChainID, and read-write views for containers
//! stacked on them with overlayfs. A snapshotter returns mount specs; it
//! knows nothing about images.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, Hasher, HashingReader};
use crate::error::{ImageError, Result};
use crate::unpack;

/// A mount the caller performs (the same shape as an OCI runtime mount).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    #[serde(rename = "type")]
    pub typ: String,
    pub source: String,
    pub options: Vec<String>,
}

/// The plugin point for layer storage.
pub trait Snapshotter: Send + Sync {
    /// True if the committed snapshot `chain` exists.
    fn exists(&self, chain: &Digest) -> bool;
    /// Unpacks a layer (uncompressed or compressed tar) as snapshot `chain`
    /// whose parent is `parent`, checking that its uncompressed digest is
    /// `diff_id`. The parent need not be unpacked yet.
    fn apply(&self, chain: &Digest, parent: Option<&Digest>, diff_id: &Digest, layer: &mut dyn Read) -> Result<()>;
    /// A writable view `key` over the committed `parent` chain.
    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<MountSpec>>;
    /// A read-only view over `parent`.
    fn view(&self, parent: &Digest) -> Result<Vec<MountSpec>>;
    fn remove_active(&self, key: &str) -> Result<()>;
    fn remove_committed(&self, chain: &Digest) -> Result<()>;
    /// Committed chains, with their parent.
    fn list(&self) -> Result<Vec<(Digest, Option<Digest>)>>;
    /// The committed chain every writable view stands on (to keep them from GC).
    fn active_parents(&self) -> Result<Vec<Digest>>;
    /// Bytes used by a committed snapshot's own layer.
    fn usage(&self, chain: &Digest) -> Result<u64>;
    /// The changes made in writable view `key`, as an uncompressed layer tar.
    fn diff(&self, key: &str, out: &mut dyn std::io::Write) -> Result<()>;
}

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

    fn parent_of(&self, chain: &Digest) -> Option<Digest> {
        fs::read_to_string(self.committed(chain).join("parent")).ok().and_then(|s| s.trim().parse().ok())
    }

    /// Layer directories from `chain` down to the base (overlay lowerdir order).
    fn lowers(&self, chain: &Digest) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut cur = Some(chain.clone());
        while let Some(c) = cur {
            if !self.exists(&c) {
                return Err(ImageError::Other(format!("snapshot {c} does not exist")));
            }
            out.push(self.committed(&c).join("fs"));
            cur = self.parent_of(&c);
        }
        Ok(out)
    }
}

fn dir_size(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(rd) = fs::read_dir(&p) else { continue };
        for e in rd.flatten() {
            if let Ok(md) = e.path().symlink_metadata() {
                if md.is_dir() {
                    stack.push(e.path());
                } else {
                    total += md.blocks() * 512;
                }
            }
        }
    }
    total
}

impl Snapshotter for OverlaySnapshotter {
    fn exists(&self, chain: &Digest) -> bool {
        self.committed(chain).join("fs").is_dir()
    }

    fn apply(&self, chain: &Digest, parent: Option<&Digest>, diff_id: &Digest, layer: &mut dyn Read) -> Result<()> {
        if self.exists(chain) {
            return Ok(());
        }
        // A layer's directory holds only its own diff, so layers of one chain may
        // be unpacked in any order (in parallel); mounting checks the whole chain.
        let tmp = tempdir_in(&self.root.join("tmp"))?;
        let fs_dir = tmp.join("fs");
        fs::create_dir(&fs_dir).map_err(ImageError::io("create", &fs_dir))?;
        let result = (|| {
            let mut hashed = HashingReader::new(unpack::decompress(layer)?, Hasher::new(diff_id.algorithm())?);
            unpack::unpack_layer(&mut hashed, &fs_dir)?;
            // Drain trailing padding so the digest covers the whole stream.
            std::io::copy(&mut hashed, &mut std::io::sink()).map_err(ImageError::io("read layer", &fs_dir))?;
            let (actual, _) = hashed.finish();
            if &actual != diff_id {
                return Err(ImageError::DigestMismatch { expected: diff_id.to_string(), actual: actual.to_string() });
            }
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
        if tmp.exists() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<MountSpec>> {
        let dir = self.root.join("active").join(Digest::sha256(key.as_bytes()).hex());
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        fs::create_dir_all(&upper).map_err(ImageError::io("create", &upper))?;
        fs::create_dir_all(&work).map_err(ImageError::io("create", &work))?;
        let Some(parent) = parent else {
            return Ok(vec![MountSpec {
                typ: "bind".into(),
                source: upper.display().to_string(),
                options: vec!["rbind".into(), "rw".into()],
            }]);
        };
        fs::write(dir.join("parent"), parent.to_string()).map_err(ImageError::io("write", dir.join("parent")))?;
        let lowers: Vec<String> = self.lowers(parent)?.iter().map(|p| p.display().to_string()).collect();
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
        let lowers: Vec<String> = self.lowers(parent)?.iter().map(|p| p.display().to_string()).collect();
        if lowers.len() == 1 {
            return Ok(vec![MountSpec {
                typ: "bind".into(),
                source: lowers[0].clone(),
                options: vec!["rbind".into(), "ro".into()],
            }]);
        }
        Ok(vec![MountSpec {
            typ: "overlay".into(),
            source: "overlay".into(),
            options: vec![format!("lowerdir={}", lowers.join(":"))],
        }])
    }

    fn diff(&self, key: &str, out: &mut dyn std::io::Write) -> Result<()> {
        let upper = self.root.join("active").join(Digest::sha256(key.as_bytes()).hex()).join("upper");
        if !upper.is_dir() {
            return Err(ImageError::Invalid { what: "snapshot".into(), reason: format!("no writable view {key}") });
        }
        crate::archive::layer_from_upper(&upper, out)
    }

    fn remove_active(&self, key: &str) -> Result<()> {
        let dir = self.root.join("active").join(Digest::sha256(key.as_bytes()).hex());
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(ImageError::Io { context: "remove", path: dir, source: e })
            }
            _ => Ok(()),
        }
    }

    fn remove_committed(&self, chain: &Digest) -> Result<()> {
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
        let dir = self.root.join("committed");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(ImageError::io("list", &dir))?.flatten() {
            if let Ok(chain) = format!("sha256:{}", e.file_name().to_string_lossy()).parse::<Digest>() {
                let parent = self.parent_of(&chain);
                out.push((chain, parent));
            }
        }
        out.sort();
        Ok(out)
    }

    fn active_parents(&self) -> Result<Vec<Digest>> {
        let dir = self.root.join("active");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(ImageError::io("list", &dir))?.flatten() {
            if let Some(d) = fs::read_to_string(e.path().join("parent")).ok().and_then(|s| s.trim().parse().ok()) {
                out.push(d);
            }
        }
        Ok(out)
    }

    fn usage(&self, chain: &Digest) -> Result<u64> {
        Ok(dir_size(&self.committed(chain).join("fs")))
    }
}

fn tempdir_in(parent: &Path) -> Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = parent.join(format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    fs::create_dir(&dir).map_err(ImageError::io("create", &dir))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn diff_id_mismatch_commits_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let s = OverlaySnapshotter::open(tmp.path()).unwrap();
        let l1 = layer(&[("a", "1")]);
        let wrong = Digest::sha256(b"not the layer");
        let err = s.apply(&wrong, None, &wrong, &mut &l1[..]).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }));
        assert!(s.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(tmp.path().join("tmp")).unwrap().count(), 0);
    }
}

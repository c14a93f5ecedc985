//! Snapshots (containerd's `snapshots`): committed, read-only layers keyed
//! by ChainID and writable "active" views for containers, handed out as
//! mount specs. `Snapshotter` is the plugin point:
//!
//! - `overlay.rs` — each committed snapshot holds only its own layer; views
//!   stack them with overlayfs (the default).
//! - `native.rs` — each committed snapshot is the full tree; a view is a
//!   copy of its parent, bind-mounted (containerd's `native`).
//! - `fake.rs` — trees kept in memory (tests and the `fake` feature).
//!
//! Every implementation runs the suite in `testsuite.rs`.
//!
//! **Architecture invariant:** a snapshotter knows nothing about images,
//! manifests or leases; `Images` decides what to keep.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{ImageError, Result};

pub(crate) mod changes;
pub(crate) mod copy;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
mod native;
mod overlay;
#[cfg(any(test, feature = "fake"))]
pub mod testsuite;

#[cfg(any(test, feature = "fake"))]
pub use fake::FakeSnapshotter;
pub use native::NativeSnapshotter;
pub use overlay::OverlaySnapshotter;

/// A mount the caller performs (the same shape as an OCI runtime mount).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    #[serde(rename = "type")]
    pub typ: String,
    pub source: String,
    pub options: Vec<String>,
}

impl MountSpec {
    pub(crate) fn bind(source: &Path, writable: bool) -> MountSpec {
        MountSpec {
            typ: "bind".into(),
            source: source.display().to_string(),
            options: vec!["rbind".into(), if writable { "rw" } else { "ro" }.into()],
        }
    }
}

/// The plugin point for layer storage.
pub trait Snapshotter: Send + Sync {
    /// The name `Images::open_with` knows it by (`overlay`, `native`, …).
    fn name(&self) -> &'static str;
    /// True if `apply` may run before the parent is committed (layers are
    /// stored as independent diffs), so a pull may unpack them in parallel.
    fn layers_independent(&self) -> bool {
        false
    }
    /// True if the committed snapshot `chain` exists.
    fn exists(&self, chain: &Digest) -> bool;
    /// Unpacks a layer (uncompressed or compressed tar) as snapshot `chain`
    /// whose parent is `parent`, checking that its uncompressed digest is
    /// `diff_id`. Idempotent; nothing is visible unless it all succeeded.
    fn apply(&self, chain: &Digest, parent: Option<&Digest>, diff_id: &Digest, layer: &mut dyn Read) -> Result<()>;
    /// A writable view `key` over the committed `parent` chain. Preparing an
    /// existing key returns its mounts again, its content untouched.
    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<MountSpec>>;
    /// A read-only view over `parent`.
    fn view(&self, parent: &Digest) -> Result<Vec<MountSpec>>;
    /// Turns writable view `key` into committed snapshot `chain` (the view is gone).
    fn commit(&self, key: &str, chain: &Digest) -> Result<()>;
    /// The changes made in writable view `key` against its parent, as an
    /// uncompressed layer tar (deletions as `.wh.` whiteouts).
    fn diff(&self, key: &str, out: &mut dyn Write) -> Result<()>;
    /// True if the parent of writable view `key` holds `rel` (a path relative
    /// to the root, never followed out of it): whether a change there is a
    /// modification or an addition.
    fn parent_has(&self, key: &str, rel: &Path) -> Result<bool>;
    /// Drops writable view `key` (no error if absent).
    fn remove_active(&self, key: &str) -> Result<()>;
    /// Drops a committed snapshot (no error if absent); refused with
    /// `SnapshotHasChildren` while a snapshot or view stands on it.
    fn remove_committed(&self, chain: &Digest) -> Result<()>;
    /// Committed chains, with their parent, sorted.
    fn list(&self) -> Result<Vec<(Digest, Option<Digest>)>>;
    /// The committed chain every writable view stands on (to keep them from GC).
    fn active_parents(&self) -> Result<Vec<Digest>>;
    /// Bytes used by a committed snapshot's own directory.
    fn usage(&self, chain: &Digest) -> Result<u64>;
    /// Where a writable view lives on the host, in Docker's `GraphDriver.Data`
    /// names (`LowerDir`, `UpperDir`, `WorkDir`); none for a snapshotter
    /// without such directories.
    fn active_dirs(&self, _key: &str) -> std::collections::BTreeMap<String, String> {
        Default::default()
    }
    /// The same for a committed snapshot (an image's top layer).
    fn committed_dirs(&self, _chain: &Digest) -> std::collections::BTreeMap<String, String> {
        Default::default()
    }
}

/// A shared snapshotter is one (as `Arc<dyn Snapshotter>` in `Images`).
impl<T: Snapshotter + ?Sized> Snapshotter for Arc<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn layers_independent(&self) -> bool {
        (**self).layers_independent()
    }
    fn exists(&self, chain: &Digest) -> bool {
        (**self).exists(chain)
    }
    fn apply(&self, chain: &Digest, parent: Option<&Digest>, diff_id: &Digest, layer: &mut dyn Read) -> Result<()> {
        (**self).apply(chain, parent, diff_id, layer)
    }
    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<MountSpec>> {
        (**self).prepare(key, parent)
    }
    fn view(&self, parent: &Digest) -> Result<Vec<MountSpec>> {
        (**self).view(parent)
    }
    fn commit(&self, key: &str, chain: &Digest) -> Result<()> {
        (**self).commit(key, chain)
    }
    fn diff(&self, key: &str, out: &mut dyn Write) -> Result<()> {
        (**self).diff(key, out)
    }
    fn parent_has(&self, key: &str, rel: &Path) -> Result<bool> {
        (**self).parent_has(key, rel)
    }
    fn active_dirs(&self, key: &str) -> std::collections::BTreeMap<String, String> {
        (**self).active_dirs(key)
    }
    fn committed_dirs(&self, chain: &Digest) -> std::collections::BTreeMap<String, String> {
        (**self).committed_dirs(chain)
    }
    fn remove_active(&self, key: &str) -> Result<()> {
        (**self).remove_active(key)
    }
    fn remove_committed(&self, chain: &Digest) -> Result<()> {
        (**self).remove_committed(chain)
    }
    fn list(&self) -> Result<Vec<(Digest, Option<Digest>)>> {
        (**self).list()
    }
    fn active_parents(&self) -> Result<Vec<Digest>> {
        (**self).active_parents()
    }
    fn usage(&self, chain: &Digest) -> Result<u64> {
        (**self).usage(chain)
    }
}

/// The snapshotters `open` knows, default first.
pub const NAMES: &[&str] = &["overlay", "native"];

/// Opens the snapshotter called `name` under `root` (its own directory).
pub fn open(name: &str, root: &Path) -> Result<Arc<dyn Snapshotter>> {
    match name {
        "overlay" => Ok(Arc::new(OverlaySnapshotter::open(root)?)),
        "native" => Ok(Arc::new(NativeSnapshotter::open(root)?)),
        other => Err(ImageError::UnknownSnapshotter(other.to_string())),
    }
}

/// A committed snapshot refuses removal while `children` lists it as parent.
pub(crate) fn check_no_children(
    chain: &Digest,
    committed: &[(Digest, Option<Digest>)],
    active_parents: &[Digest],
) -> Result<()> {
    if committed.iter().any(|(_, p)| p.as_ref() == Some(chain)) || active_parents.contains(chain) {
        return Err(ImageError::SnapshotHasChildren(chain.to_string()));
    }
    Ok(())
}

pub(crate) fn dir_size(path: &Path) -> u64 {
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

pub(crate) fn tempdir_in(parent: &Path) -> Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = parent.join(format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    fs::create_dir(&dir).map_err(ImageError::io("create", &dir))?;
    Ok(dir)
}

/// Whether `rel` exists in the tree at `dir` (resolved inside it; `Some`
/// with the node's kind).
pub(crate) fn stat_in(dir: &Path, rel: &Path) -> Result<Option<nix::sys::stat::FileStat>> {
    use wharf_common::confined::{ConfinedError, Root};
    let err = |e: ConfinedError| match e {
        ConfinedError::Io { context, path, source } => ImageError::Io { context, path, source },
        other => ImageError::UnsafeEntry { path: rel.display().to_string(), reason: other.to_string() },
    };
    Root::open(dir).and_then(|root| root.stat(rel)).map_err(err)
}

pub(crate) fn read_parent(path: &Path) -> Option<Digest> {
    fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok())
}

/// Removes a directory tree; absent is fine.
pub(crate) fn remove_tree(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(ImageError::Io { context: "remove", path: dir.to_path_buf(), source: e })
        }
        _ => Ok(()),
    }
}

/// Lists `<dir>/<hex>` as chains with the parent recorded in `<hex>/parent`.
pub(crate) fn list_committed(dir: &Path) -> Result<Vec<(Digest, Option<Digest>)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(ImageError::io("list", dir))?.flatten() {
        if let Ok(chain) = format!("sha256:{}", e.file_name().to_string_lossy()).parse::<Digest>() {
            out.push((chain, read_parent(&e.path().join("parent"))));
        }
    }
    out.sort();
    Ok(out)
}

/// Parents recorded in `<dir>/*/parent`.
pub(crate) fn list_active_parents(dir: &Path) -> Result<Vec<Digest>> {
    Ok(fs::read_dir(dir)
        .map_err(ImageError::io("list", dir))?
        .flatten()
        .filter_map(|e| read_parent(&e.path().join("parent")))
        .collect())
}

/// Unpacks `layer` into `dir`, verifying its uncompressed digest is `diff_id`.
pub(crate) fn unpack_verified(
    layer: &mut dyn Read,
    dir: &Path,
    diff_id: &Digest,
    whiteouts: crate::unpack::Whiteouts,
) -> Result<()> {
    use crate::digest::{Hasher, HashingReader};
    let mut hashed = HashingReader::new(crate::unpack::decompress(layer)?, Hasher::new(diff_id.algorithm())?);
    crate::unpack::unpack_layer_with(&mut hashed, dir, whiteouts)?;
    // Drain trailing padding so the digest covers the whole stream.
    std::io::copy(&mut hashed, &mut std::io::sink()).map_err(ImageError::io("read layer", dir))?;
    let (actual, _) = hashed.finish();
    if &actual != diff_id {
        return Err(ImageError::DigestMismatch { expected: diff_id.to_string(), actual: actual.to_string() });
    }
    Ok(())
}

//! `FakeSnapshotter`: snapshots kept in memory, each as a tar of its whole
//! tree. Its mount specs have type `fake`; `mount` writes the tree they
//! stand for into a directory and `unmount` takes a writable view's
//! directory back, so tests run without root or overlayfs.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{MountSpec, Snapshotter};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::unpack::Whiteouts;

#[derive(Clone)]
struct Snap {
    parent: Option<Digest>,
    tree: Arc<Vec<u8>>,
}

#[derive(Default)]
struct State {
    committed: BTreeMap<Digest, Snap>,
    active: BTreeMap<String, Snap>,
}

#[derive(Default)]
pub struct FakeSnapshotter {
    state: Mutex<State>,
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wharf-fake-snapshot-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).map_err(ImageError::io("create", &dir))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tree_of(dir: &Path) -> Result<Arc<Vec<u8>>> {
    let mut out = Vec::new();
    crate::tarball::export_dir(dir, &mut out)?;
    Ok(Arc::new(out))
}

fn spec(source: String, writable: bool) -> Vec<MountSpec> {
    vec![MountSpec { typ: "fake".into(), source, options: vec![if writable { "rw" } else { "ro" }.into()] }]
}

impl FakeSnapshotter {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| ImageError::Other("fake snapshotter poisoned".into()))
    }

    fn committed(&self, chain: &Digest) -> Result<Snap> {
        self.lock()?.committed.get(chain).cloned().ok_or_else(|| ImageError::SnapshotNotFound(chain.to_string()))
    }

    fn tree_for(&self, m: &MountSpec) -> Result<Arc<Vec<u8>>> {
        if let Some(key) = m.source.strip_prefix("active:") {
            let st = self.lock()?;
            return st.active.get(key).map(|s| s.tree.clone()).ok_or_else(|| ImageError::SnapshotNotFound(key.into()));
        }
        let chain = m.source.strip_prefix("committed:").and_then(|c| c.parse().ok());
        let chain: Digest = chain.ok_or_else(|| ImageError::invalid("fake mount", &m.source))?;
        Ok(self.committed(&chain)?.tree)
    }

    /// Writes the tree `mounts` stand for into the existing directory `dir`.
    pub fn mount(&self, mounts: &[MountSpec], dir: &Path) -> Result<()> {
        for m in mounts {
            crate::unpack::unpack_layer(&self.tree_for(m)?[..], dir)?;
        }
        Ok(())
    }

    /// Stores `dir` back as the writable view `mounts` stand for.
    pub fn unmount(&self, mounts: &[MountSpec], dir: &Path) -> Result<()> {
        for m in mounts {
            if let Some(key) = m.source.strip_prefix("active:") {
                let tree = tree_of(dir)?;
                let mut st = self.lock()?;
                let snap = st.active.get_mut(key).ok_or_else(|| ImageError::SnapshotNotFound(key.into()))?;
                snap.tree = tree;
            }
        }
        Ok(())
    }
}

impl Snapshotter for FakeSnapshotter {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn exists(&self, chain: &Digest) -> bool {
        self.lock().map(|st| st.committed.contains_key(chain)).unwrap_or(false)
    }

    fn apply(&self, chain: &Digest, parent: Option<&Digest>, diff_id: &Digest, layer: &mut dyn Read) -> Result<()> {
        if self.exists(chain) {
            return Ok(());
        }
        let dir = Scratch::new()?;
        if let Some(p) = parent {
            crate::unpack::unpack_layer(&self.committed(p)?.tree[..], &dir.0)?;
        }
        super::unpack_verified(layer, &dir.0, diff_id, Whiteouts::Delete)?;
        let snap = Snap { parent: parent.cloned(), tree: tree_of(&dir.0)? };
        self.lock()?.committed.entry(chain.clone()).or_insert(snap);
        Ok(())
    }

    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<MountSpec>> {
        let tree = match parent {
            Some(p) => self.committed(p)?.tree,
            None => tree_of(&Scratch::new()?.0)?,
        };
        self.lock()?.active.entry(key.to_string()).or_insert(Snap { parent: parent.cloned(), tree });
        Ok(spec(format!("active:{key}"), true))
    }

    fn view(&self, parent: &Digest) -> Result<Vec<MountSpec>> {
        self.committed(parent)?;
        Ok(spec(format!("committed:{parent}"), false))
    }

    fn commit(&self, key: &str, chain: &Digest) -> Result<()> {
        let mut st = self.lock()?;
        if !st.active.contains_key(key) {
            return Err(ImageError::SnapshotNotFound(key.into()));
        }
        if st.committed.contains_key(chain) {
            return Err(ImageError::SnapshotExists(chain.to_string()));
        }
        let snap = st.active.remove(key).ok_or_else(|| ImageError::SnapshotNotFound(key.into()))?;
        st.committed.insert(chain.clone(), snap);
        Ok(())
    }

    fn diff(&self, key: &str, out: &mut dyn Write) -> Result<()> {
        let snap = self.lock()?.active.get(key).cloned().ok_or_else(|| ImageError::SnapshotNotFound(key.into()))?;
        let (lower, upper) = (Scratch::new()?, Scratch::new()?);
        if let Some(p) = &snap.parent {
            crate::unpack::unpack_layer(&self.committed(p)?.tree[..], &lower.0)?;
        }
        crate::unpack::unpack_layer(&snap.tree[..], &upper.0)?;
        super::changes::write_changes(Some(&lower.0), &upper.0, out)
    }

    fn parent_has(&self, key: &str, rel: &Path) -> Result<bool> {
        let parent =
            self.lock()?.active.get(key).ok_or_else(|| ImageError::SnapshotNotFound(key.into()))?.parent.clone();
        let Some(parent) = parent else { return Ok(false) };
        let dir = Scratch::new()?;
        crate::unpack::unpack_layer(&self.committed(&parent)?.tree[..], &dir.0)?;
        Ok(super::stat_in(&dir.0, rel)?.is_some())
    }

    fn remove_active(&self, key: &str) -> Result<()> {
        self.lock()?.active.remove(key);
        Ok(())
    }

    fn remove_committed(&self, chain: &Digest) -> Result<()> {
        super::check_no_children(chain, &self.list()?, &self.active_parents()?)?;
        self.lock()?.committed.remove(chain);
        Ok(())
    }

    fn list(&self) -> Result<Vec<(Digest, Option<Digest>)>> {
        Ok(self.lock()?.committed.iter().map(|(c, s)| (c.clone(), s.parent.clone())).collect())
    }

    fn active_parents(&self) -> Result<Vec<Digest>> {
        Ok(self.lock()?.active.values().filter_map(|s| s.parent.clone()).collect())
    }

    fn usage(&self, chain: &Digest) -> Result<u64> {
        Ok(self.committed(chain)?.tree.len() as u64)
    }
}

/// The suite's harness for the fake: copies a view out, runs the case, copies it back.
#[cfg(any(test, feature = "fake"))]
pub struct FakeHarness(pub Arc<FakeSnapshotter>);

impl super::testsuite::Harness for FakeHarness {
    fn with_mounted(&self, mounts: &[MountSpec], f: &mut dyn FnMut(&Path)) {
        let dir = Scratch::new().expect("scratch directory");
        self.0.mount(mounts, &dir.0).expect("fake mount");
        f(&dir.0);
        self.0.unmount(mounts, &dir.0).expect("fake unmount");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{FakeHarness, FakeSnapshotter};
    use crate::snapshot::Snapshotter;

    crate::snapshotter_suite!(|| {
        let fake = Arc::new(FakeSnapshotter::new());
        Some(((), fake.clone() as Arc<dyn Snapshotter>, FakeHarness(fake)))
    });
}

//! `FakeStore`: an in-memory content store for tests (and, with the `fake`
//! feature, for other crates' tests). Same contract as `LocalStore`: blobs
//! appear only on a verified commit, ingests are keyed and resumable, and
//! writers of one key serialise.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{ContentStore, ContentWriter};
use crate::digest::{Digest, Hasher};
use crate::error::{ImageError, Result};

#[derive(Default)]
struct State {
    blobs: BTreeMap<Digest, Arc<Vec<u8>>>,
    ingests: BTreeMap<String, Vec<u8>>,
    held: BTreeSet<String>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    released: Condvar,
}

impl Shared {
    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| ImageError::Other("fake content store poisoned".into()))
    }
}

/// Blobs and ingests in memory.
#[derive(Clone, Default)]
pub struct FakeStore {
    shared: Arc<Shared>,
}

impl FakeStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl ContentStore for FakeStore {
    fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        Ok(self.shared.lock()?.blobs.get(digest).map(|b| b.len() as u64))
    }

    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send>> {
        let data = self.shared.lock()?.blobs.get(digest).cloned();
        let data = data.ok_or_else(|| ImageError::BlobNotFound(digest.to_string()))?;
        Ok(Box::new(io::Cursor::new(data.to_vec())))
    }

    fn writer(&self, key: &str) -> Result<Box<dyn ContentWriter>> {
        let mut st = self.shared.lock()?;
        while st.held.contains(key) {
            st = self.shared.released.wait(st).map_err(|_| ImageError::Other("fake content store poisoned".into()))?;
        }
        st.held.insert(key.to_string());
        let data = st.ingests.entry(key.to_string()).or_default().clone();
        Ok(Box::new(FakeWriter { shared: self.shared.clone(), key: key.to_string(), data, done: false }))
    }

    fn delete(&self, digest: &Digest) -> Result<()> {
        self.shared.lock()?.blobs.remove(digest);
        Ok(())
    }

    fn list(&self) -> Result<Vec<(Digest, u64)>> {
        Ok(self.shared.lock()?.blobs.iter().map(|(d, b)| (d.clone(), b.len() as u64)).collect())
    }

    fn ingests(&self) -> Result<Vec<String>> {
        Ok(self.shared.lock()?.ingests.keys().cloned().collect())
    }

    fn prune_ingests(&self, keep: &BTreeSet<String>) -> Result<usize> {
        let mut st = self.shared.lock()?;
        let idle: Vec<String> =
            st.ingests.keys().filter(|k| !st.held.contains(*k) && !keep.contains(*k)).cloned().collect();
        for k in &idle {
            st.ingests.remove(k);
        }
        Ok(idle.len())
    }
}

struct FakeWriter {
    shared: Arc<Shared>,
    key: String,
    data: Vec<u8>,
    done: bool,
}

impl FakeWriter {
    fn finish(&mut self, publish: Option<Digest>) -> Result<()> {
        let mut st = self.shared.lock()?;
        st.ingests.remove(&self.key);
        if let Some(d) = publish {
            st.blobs.insert(d, Arc::new(std::mem::take(&mut self.data)));
        }
        self.done = true;
        Ok(())
    }
}

impl Write for FakeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ContentWriter for FakeWriter {
    fn offset(&self) -> u64 {
        self.data.len() as u64
    }

    fn truncate(&mut self) -> Result<()> {
        self.data.clear();
        Ok(())
    }

    fn commit(mut self: Box<Self>, expected: &Digest, size: Option<u64>) -> Result<()> {
        let mut h = Hasher::new(expected.algorithm())?;
        h.update(&self.data);
        let actual = h.finish();
        let len = self.data.len() as u64;
        if let Some(size) = size.filter(|s| *s != len) {
            self.finish(None)?;
            return Err(ImageError::SizeMismatch { digest: expected.to_string(), expected: size, actual: len });
        }
        if &actual != expected {
            self.finish(None)?;
            return Err(ImageError::DigestMismatch { expected: expected.to_string(), actual: actual.to_string() });
        }
        self.finish(Some(actual))
    }

    fn commit_computed(mut self: Box<Self>) -> Result<(Digest, u64)> {
        let d = Digest::sha256(&self.data);
        let len = self.data.len() as u64;
        self.finish(Some(d.clone()))?;
        Ok((d, len))
    }
}

impl Drop for FakeWriter {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.lock() {
            if !self.done {
                // Kept for a resume, as a broken download leaves its file.
                st.ingests.insert(self.key.clone(), std::mem::take(&mut self.data));
            }
            st.held.remove(&self.key);
        }
        self.shared.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::FakeStore;
    use crate::content::ContentStore;

    crate::content_store_suite!(|| ((), Arc::new(FakeStore::new()) as Arc<dyn ContentStore>));
}

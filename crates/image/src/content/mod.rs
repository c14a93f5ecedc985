//! The content store: blobs addressed by digest (containerd's `content`).
//!
//! `ContentStore` is the plugin point; `LocalStore` (`local.rs`) is the
//! on-disk implementation and `FakeStore` (`fake.rs`, tests and the `fake`
//! feature) an in-memory one. Both run the suite in `testsuite.rs`.
//!
//! **Architecture invariant:** a blob is visible only once complete and
//! verified; writes go through keyed, resumable ingests.

use std::collections::BTreeSet;
use std::io::{Read, Write};

use crate::digest::Digest;
use crate::error::{ImageError, Result};

#[cfg(any(test, feature = "fake"))]
pub mod fake;
mod local;
#[cfg(any(test, feature = "fake"))]
pub mod testsuite;

#[cfg(any(test, feature = "fake"))]
pub use fake::FakeStore;
pub use local::{LocalStore, Writer};

/// An ingest in progress. Dropping it without `commit` keeps the partial
/// data for a later resume by a writer of the same key.
pub trait ContentWriter: Write + Send {
    /// Bytes already written (where a resumed download continues).
    fn offset(&self) -> u64;
    /// Discards what was written so far.
    fn truncate(&mut self) -> Result<()>;
    /// Verifies against `expected` (and `size`), then publishes the blob. On
    /// mismatch the ingest is discarded and nothing becomes visible.
    fn commit(self: Box<Self>, expected: &Digest, size: Option<u64>) -> Result<()>;
    /// Publishes the blob under the sha256 of what was written (content we
    /// produce ourselves, like an imported tarball).
    fn commit_computed(self: Box<Self>) -> Result<(Digest, u64)>;
}

/// The plugin point for blob storage.
pub trait ContentStore: Send + Sync {
    /// Size of a committed blob, or `None`.
    fn stat(&self, digest: &Digest) -> Result<Option<u64>>;
    /// Opens a committed blob for reading.
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send>>;
    /// Starts or resumes the write keyed `key`; a second writer of one key
    /// waits until the first is dropped or committed.
    fn writer(&self, key: &str) -> Result<Box<dyn ContentWriter>>;
    /// Removes a committed blob (no error if absent).
    fn delete(&self, digest: &Digest) -> Result<()>;
    /// Every committed blob with its size, sorted.
    fn list(&self) -> Result<Vec<(Digest, u64)>>;
    /// Keys of the ingests on record (held or idle), sorted.
    fn ingests(&self) -> Result<Vec<String>>;
    /// Removes idle ingests (partial downloads nobody holds) except those
    /// whose key is in `keep`; returns how many were removed.
    fn prune_ingests(&self, keep: &BTreeSet<String>) -> Result<usize>;

    /// Reads a whole (small) blob, verifying it.
    fn read_all(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        self.open(digest)?.read_to_end(&mut data).map_err(ImageError::io("read blob", digest.to_string()))?;
        let actual = Digest::sha256(&data);
        if digest.algorithm() == "sha256" && &actual != digest {
            return Err(ImageError::DigestMismatch { expected: digest.to_string(), actual: actual.to_string() });
        }
        Ok(data)
    }

    /// Stores `data` and returns its sha256 digest.
    fn put(&self, data: &[u8]) -> Result<Digest> {
        let digest = Digest::sha256(data);
        if self.stat(&digest)?.is_none() {
            let mut w = self.writer(&format!("put-{}", digest.hex()))?;
            w.truncate()?;
            w.write_all(data).map_err(ImageError::io("write blob", digest.to_string()))?;
            w.commit(&digest, Some(data.len() as u64))?;
        }
        Ok(digest)
    }
}

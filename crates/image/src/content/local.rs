//! `LocalStore`: the on-disk content store.
//!
//! Layout under the root: `blobs/<alg>/<hex>` for committed blobs and
//! `ingest/<key>/` for writes in progress. A blob becomes visible only by
//! `rename` after its bytes were fsynced and verified against the expected
//! digest and size, so readers never see partial or corrupt content. Ingests
//! are keyed (e.g. by the digest being fetched): a broken download resumes
//! from what is on disk, and two writers of one key serialise on a lock.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::{ContentStore, ContentWriter};
use crate::digest::{Digest, Hasher};
use crate::error::{ImageError, Result};

/// The on-disk store.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

fn key_dir(key: &str) -> String {
    // Keys are arbitrary strings: hash them into a safe directory name.
    Digest::sha256(key.as_bytes()).hex().to_string()
}

impl LocalStore {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for d in ["blobs/sha256", "ingest"] {
            fs::create_dir_all(root.join(d)).map_err(ImageError::io("create", root.join(d)))?;
        }
        Ok(LocalStore { root })
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join(digest.algorithm()).join(digest.hex())
    }
}

impl ContentStore for LocalStore {
    fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        match fs::metadata(self.blob_path(digest)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ImageError::Io { context: "stat", path: self.blob_path(digest), source: e }),
        }
    }

    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send>> {
        let f = File::open(self.blob_path(digest)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ImageError::BlobNotFound(digest.to_string()),
            _ => ImageError::Io { context: "open", path: self.blob_path(digest), source: e },
        })?;
        Ok(Box::new(f))
    }

    fn writer(&self, key: &str) -> Result<Box<dyn ContentWriter>> {
        let dir = self.root.join("ingest").join(key_dir(key));
        fs::create_dir_all(&dir).map_err(ImageError::io("create", &dir))?;
        let lock = File::create(dir.join("lock")).map_err(ImageError::io("create", dir.join("lock")))?;
        // Serialise writers of one key (another process may hold it).
        let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| ImageError::Io { context: "lock", path: dir.clone(), source: e.into() })?;
        // The key itself, for `ingests` and leases (the directory name is its hash).
        fs::write(dir.join("key"), key).map_err(ImageError::io("write", dir.join("key")))?;
        Ok(Box::new(Writer::resume(self.root.clone(), dir, lock)?))
    }

    fn delete(&self, digest: &Digest) -> Result<()> {
        match fs::remove_file(self.blob_path(digest)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ImageError::Io { context: "remove", path: self.blob_path(digest), source: e }),
        }
    }

    fn list(&self) -> Result<Vec<(Digest, u64)>> {
        let mut out: Vec<(Digest, u64)> = Vec::new();
        let blobs = self.root.join("blobs");
        for alg in fs::read_dir(&blobs).map_err(ImageError::io("list", &blobs))?.flatten() {
            for entry in fs::read_dir(alg.path()).map_err(ImageError::io("list", alg.path()))?.flatten() {
                let name = format!("{}:{}", alg.file_name().to_string_lossy(), entry.file_name().to_string_lossy());
                if let (Ok(d), Ok(md)) = (name.parse::<Digest>(), entry.metadata()) {
                    out.push((d, md.len()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn ingests(&self) -> Result<Vec<String>> {
        let dir = self.root.join("ingest");
        let mut out: Vec<String> = fs::read_dir(&dir)
            .map_err(ImageError::io("list", &dir))?
            .flatten()
            // Only ingests with data: a committed one's directory stays for its lock.
            .filter(|e| e.path().join("data").exists())
            .filter_map(|e| fs::read_to_string(e.path().join("key")).ok())
            .collect();
        out.sort();
        Ok(out)
    }

    fn prune_ingests(&self, keep: &BTreeSet<String>) -> Result<usize> {
        let dir = self.root.join("ingest");
        let keep: BTreeSet<String> = keep.iter().map(|k| key_dir(k)).collect();
        let mut removed = 0;
        for entry in fs::read_dir(&dir).map_err(ImageError::io("list", &dir))?.flatten() {
            if keep.contains(entry.file_name().to_string_lossy().as_ref()) {
                continue;
            }
            let Ok(lock) = File::open(entry.path().join("lock")) else { continue };
            if let Ok(_held) = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                if fs::remove_dir_all(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// `LocalStore`'s ingest: `ingest/<hash of key>/data`, flock-held for its life.
pub struct Writer {
    root: PathBuf,
    dir: PathBuf,
    file: File,
    hasher: Hasher,
    offset: u64,
    _lock: nix::fcntl::Flock<File>,
}

impl Writer {
    fn resume(root: PathBuf, dir: PathBuf, lock: nix::fcntl::Flock<File>) -> Result<Writer> {
        let path = dir.join("data");
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(ImageError::io("open", &path))?;
        // Re-hash what an earlier attempt left so the digest covers it.
        let mut hasher = Hasher::new("sha256")?;
        let mut buf = vec![0u8; 1 << 16];
        let mut offset = 0;
        file.seek(SeekFrom::Start(0)).map_err(ImageError::io("seek", &path))?;
        loop {
            let n = file.read(&mut buf).map_err(ImageError::io("read", &path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            offset += n as u64;
        }
        Ok(Writer { root, dir, file, hasher, offset, _lock: lock })
    }
}

impl ContentWriter for Writer {
    fn offset(&self) -> u64 {
        self.offset
    }

    fn truncate(&mut self) -> Result<()> {
        let path = self.dir.join("data");
        self.file.set_len(0).map_err(ImageError::io("truncate", &path))?;
        self.hasher = Hasher::new("sha256")?;
        self.offset = 0;
        Ok(())
    }

    fn commit_computed(self: Box<Self>) -> Result<(Digest, u64)> {
        let digest = self.hasher.clone().finish();
        let size = self.offset;
        self.commit(&digest, Some(size))?;
        Ok((digest, size))
    }

    fn commit(mut self: Box<Self>, expected: &Digest, size: Option<u64>) -> Result<()> {
        let hasher = std::mem::replace(&mut self.hasher, Hasher::new("sha256")?);
        let actual = if expected.algorithm() == "sha256" {
            hasher.finish()
        } else {
            // Other algorithms: hash the file again with the right one.
            let mut h = Hasher::new(expected.algorithm())?;
            let mut f = File::open(self.dir.join("data")).map_err(ImageError::io("open", self.dir.join("data")))?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = f.read(&mut buf).map_err(ImageError::io("read", self.dir.join("data")))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            h.finish()
        };
        let discard = |dir: &Path| {
            let _ = fs::remove_file(dir.join("data"));
        };
        if let Some(size) = size {
            if size != self.offset {
                discard(&self.dir);
                return Err(ImageError::SizeMismatch {
                    digest: expected.to_string(),
                    expected: size,
                    actual: self.offset,
                });
            }
        }
        if &actual != expected {
            discard(&self.dir);
            return Err(ImageError::DigestMismatch { expected: expected.to_string(), actual: actual.to_string() });
        }
        self.file.sync_all().map_err(ImageError::io("fsync", self.dir.join("data")))?;
        let target_dir = self.root.join("blobs").join(expected.algorithm());
        fs::create_dir_all(&target_dir).map_err(ImageError::io("create", &target_dir))?;
        let target = target_dir.join(expected.hex());
        // Readers only ever see complete, verified blobs; a concurrent writer of
        // the same content renames identical bytes.
        fs::rename(self.dir.join("data"), &target).map_err(ImageError::io("commit", &target))?;
        if let Ok(d) = File::open(&target_dir) {
            let _ = nix::unistd::fsync(d.as_fd());
        }
        // The ingest directory (and its lock) stays: a writer of the same key
        // may be waiting on the lock. `prune_ingests` removes idle ones.
        Ok(())
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.offset += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::LocalStore;
    use crate::content::ContentStore;

    crate::content_store_suite!(|| {
        let tmp = tempfile::tempdir().unwrap();
        let store: Arc<dyn ContentStore> = Arc::new(LocalStore::open(tmp.path()).unwrap());
        (tmp, store)
    });
}

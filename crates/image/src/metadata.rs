//! Image names → the manifest (or index) they point at: one JSON file,
//! rewritten atomically under an exclusive lock so several processes can
//! tag and untag concurrently.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{ImageError, Result};
use crate::manifest::Descriptor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Fully normalised reference (`docker.io/library/busybox:latest`) or, for
    /// untagged images, `@sha256:…`.
    pub name: String,
    pub target: Descriptor,
    /// When the name was last set (RFC 3339).
    pub updated: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Db {
    images: BTreeMap<String, ImageRecord>,
}

#[derive(Debug, Clone)]
pub struct ImageDb {
    path: PathBuf,
}

impl ImageDb {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(ImageError::io("create", &root))?;
        Ok(ImageDb { path: root.join("images.json") })
    }

    fn read(&self) -> Result<Db> {
        match fs::read(&self.path) {
            Ok(data) => {
                serde_json::from_slice(&data).map_err(|e| ImageError::invalid(self.path.display().to_string(), e))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Db::default()),
            Err(e) => Err(ImageError::Io { context: "read", path: self.path.clone(), source: e }),
        }
    }

    /// Runs `f` on the database under the lock and writes the result back.
    fn update<T>(&self, f: impl FnOnce(&mut Db) -> Result<T>) -> Result<T> {
        let lock_path = self.path.with_extension("lock");
        let lock = File::create(&lock_path).map_err(ImageError::io("create", &lock_path))?;
        let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| ImageError::Io { context: "lock", path: lock_path.clone(), source: e.into() })?;
        let mut db = self.read()?;
        let out = f(&mut db)?;
        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        let data = serde_json::to_vec_pretty(&db).map_err(|e| ImageError::Other(e.to_string()))?;
        let mut file = File::create(&tmp).map_err(ImageError::io("create", &tmp))?;
        file.write_all(&data).and_then(|_| file.sync_all()).map_err(ImageError::io("write", &tmp))?;
        fs::rename(&tmp, &self.path).map_err(ImageError::io("rename", &self.path))?;
        Ok(out)
    }

    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        Ok(self.read()?.images.into_values().collect())
    }

    pub fn get(&self, name: &str) -> Result<Option<ImageRecord>> {
        Ok(self.read()?.images.remove(name))
    }

    /// Points `record.name` at `record.target`; returns what it pointed at before.
    pub fn put(&self, record: ImageRecord) -> Result<Option<ImageRecord>> {
        self.update(|db| Ok(db.images.insert(record.name.clone(), record)))
    }

    pub fn remove(&self, name: &str) -> Result<Option<ImageRecord>> {
        self.update(|db| Ok(db.images.remove(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    #[test]
    fn put_get_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let db = ImageDb::open(tmp.path()).unwrap();
        let rec = ImageRecord {
            name: "docker.io/library/a:latest".into(),
            target: Descriptor::new(crate::manifest::media::OCI_MANIFEST, Digest::sha256(b"m"), 1),
            updated: "now".into(),
        };
        assert!(db.put(rec.clone()).unwrap().is_none());
        assert_eq!(db.get(&rec.name).unwrap(), Some(rec.clone()));
        assert_eq!(db.list().unwrap().len(), 1);
        assert_eq!(db.remove(&rec.name).unwrap(), Some(rec));
        assert!(db.list().unwrap().is_empty());
    }
}

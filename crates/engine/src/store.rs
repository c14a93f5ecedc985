//! The record store: one `container.json` per container, the truth on
//! disk (the daemon and every monitor write it, under the record's lock),
//! read through an in-memory index that is checked against the files on
//! every read (inode, size and mtime of each record: a record rewritten by
//! another process is reloaded, an unchanged one is not parsed again). A
//! record that cannot be read or parsed is reported — listed as `dead` with
//! the error, so `rm -f` can clean up what it held — never hidden.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{EngineError, Result};
use crate::model::{lock_file, Container, Status};
use crate::Engine;

/// What identifies one version of a record file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    ino: u64,
    len: u64,
    mtime_ns: i64,
}

impl Version {
    fn of(m: &fs::Metadata) -> Version {
        Version { ino: m.ino(), len: m.len(), mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec() }
    }
}

/// The in-memory index of records. Only a long-lived process that reads
/// many records (the daemon) keeps one: a monitor, which reads a few, keeps
/// none, so its memory does not grow with the number of containers.
#[derive(Debug, Default)]
pub(crate) struct Index {
    enabled: std::sync::atomic::AtomicBool,
    records: Mutex<HashMap<String, (Version, Container)>>,
}

fn record_path(root: &Path, id: &str) -> PathBuf {
    Container::dir(root, id).join("container.json")
}

/// A record that is there but unreadable, as the list shows it.
fn corrupt(id: &str, error: String) -> Container {
    tracing::error!("container {id}: corrupt record: {error}");
    let mut c = Container { id: id.to_string(), name: id.chars().take(12).collect(), ..Default::default() };
    c.state.status = Status::Dead;
    c.state.error = format!("corrupt record: {error}");
    c
}

impl Index {
    pub(crate) fn enable(&self) {
        self.enabled.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The record of `id` as the file says now; `None` if there is no record file.
    fn load(&self, root: &Path, id: &str) -> Result<Option<Container>> {
        let cache = self.enabled.load(std::sync::atomic::Ordering::Relaxed);
        let path = record_path(root, id);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.records.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
                return Ok(None);
            }
            Err(e) => return Err(EngineError::io("stat", &path)(e)),
        };
        let v = Version::of(&meta);
        if cache {
            if let Some((cached, c)) = self.records.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
                if *cached == v {
                    return Ok(Some(c.clone()));
                }
            }
        }
        let data = match fs::read(&path) {
            Ok(d) => d,
            // Removed between the stat and the read: gone, not corrupt.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.records.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
                return Ok(None);
            }
            Err(e) => return Err(EngineError::io("read", &path)(e)),
        };
        let c: Container = serde_json::from_slice(&data)
            .map_err(|e| EngineError::CorruptRecord { id: id.to_string(), reason: e.to_string() })?;
        if cache {
            self.records.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), (v, c.clone()));
        }
        Ok(Some(c))
    }
}

impl Engine {
    pub(crate) fn containers_dir(&self) -> PathBuf {
        self.root().join("containers")
    }

    pub fn save(&self, c: &Container) -> Result<()> {
        let dir = Container::dir(self.root(), &c.id);
        let data = serde_json::to_vec_pretty(c).map_err(|e| EngineError::Other(e.to_string()))?;
        let tmp = dir.join("container.json.tmp");
        fs::write(&tmp, data).map_err(EngineError::io("write", &tmp))?;
        fs::rename(&tmp, dir.join("container.json")).map_err(EngineError::io("rename", dir.join("container.json")))
    }

    /// Read-modify-write of a container's record under its lock: the daemon
    /// and the container's monitor both change records, and neither may lose
    /// the other's update.
    pub fn update<T>(&self, id: &str, f: impl FnOnce(&mut Container) -> Result<T>) -> Result<(Container, T)> {
        let path = Container::dir(self.root(), id).join("lock");
        let _lock = match lock_file(&path, true) {
            Err(EngineError::Io { context: "open", .. }) => return Err(EngineError::NoSuchContainer(id.to_string())),
            other => other?,
        };
        let mut c = self.load_record(id)?;
        let out = f(&mut c)?;
        self.save(&c)?;
        Ok((c, out))
    }

    /// The record of exactly `id`; `None` if there is none (or it cannot be read).
    pub(crate) fn load_exact(&self, id: &str) -> Option<Container> {
        self.records.load(self.root(), id).ok().flatten()
    }

    /// The record of exactly `id`, errors included (a corrupt record is an error).
    pub(crate) fn load_record(&self, id: &str) -> Result<Container> {
        self.records.load(self.root(), id)?.ok_or_else(|| EngineError::NoSuchContainer(id.to_string()))
    }

    /// Every container, newest first; a record that cannot be read is listed as
    /// `dead` with the error (see the module docs). A directory without a record
    /// is a create in progress.
    pub fn list(&self) -> Result<Vec<Container>> {
        let dir = self.containers_dir();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(EngineError::io("read", &dir)(e)),
        };
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(EngineError::io("read", &dir))?;
            let id = e.file_name().to_string_lossy().into_owned();
            match self.records.load(self.root(), &id) {
                Ok(Some(c)) => out.push(c),
                Ok(None) => {}
                Err(err) => out.push(corrupt(&id, err.to_string())),
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// By full id, name (with or without '/'), or unique id prefix.
    pub fn get(&self, key: &str) -> Result<Container> {
        let key = key.trim_start_matches('/');
        if key.len() == 64 {
            match self.records.load(self.root(), key) {
                Ok(Some(c)) => return Ok(c),
                Ok(None) => {}
                Err(err) => return Ok(corrupt(key, err.to_string())),
            }
        }
        let all = self.list()?;
        if let Some(c) = all.iter().find(|c| c.name == key) {
            return Ok(c.clone());
        }
        let matches: Vec<&Container> = all.iter().filter(|c| !key.is_empty() && c.id.starts_with(key)).collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(EngineError::NoSuchContainer(key.to_string())),
            _ => Err(EngineError::Invalid {
                what: "container reference".into(),
                reason: format!("multiple IDs found with provided prefix: {key}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> (tempfile::TempDir, Engine) {
        let tmp = tempfile::tempdir().unwrap();
        let e = Engine::open(tmp.path()).unwrap().with_record_cache();
        (tmp, e)
    }

    fn record(e: &Engine, id: &str, name: &str) -> Container {
        let c = Container {
            id: id.into(),
            name: name.into(),
            created: format!("2024-01-01T00:00:0{}Z", id.len() % 10),
            ..Default::default()
        };
        fs::create_dir_all(Container::dir(e.root(), id)).unwrap();
        e.save(&c).unwrap();
        c
    }

    #[test]
    fn index_follows_the_files() {
        let (_t, e) = engine();
        let id = "a".repeat(64);
        record(&e, &id, "web");
        assert_eq!(e.get("web").unwrap().id, id);
        // Another process rewrites the record: the next read sees it.
        let mut c: Container = serde_json::from_slice(&fs::read(record_path(e.root(), &id)).unwrap()).unwrap();
        c.name = "api".into();
        let tmp = Container::dir(e.root(), &id).join("x.tmp");
        fs::write(&tmp, serde_json::to_vec(&c).unwrap()).unwrap();
        fs::rename(&tmp, record_path(e.root(), &id)).unwrap();
        assert_eq!(e.get(&id).unwrap().name, "api");
        assert!(matches!(e.get("web"), Err(EngineError::NoSuchContainer(_))));
        // Removed behind our back: gone from the index too.
        fs::remove_dir_all(Container::dir(e.root(), &id)).unwrap();
        assert!(e.list().unwrap().is_empty());
        assert!(e.get(&id).is_err());
    }

    #[test]
    fn corrupt_records_are_reported_not_hidden() {
        let (_t, e) = engine();
        let good = "b".repeat(64);
        let bad = "c".repeat(64);
        record(&e, &good, "ok");
        fs::create_dir_all(Container::dir(e.root(), &bad)).unwrap();
        fs::write(record_path(e.root(), &bad), b"{not json").unwrap();
        let all = e.list().unwrap();
        assert_eq!(all.len(), 2);
        let dead = all.iter().find(|c| c.id == bad).unwrap();
        assert_eq!(dead.state.status, Status::Dead);
        assert!(dead.state.error.contains("corrupt record"), "{}", dead.state.error);
        assert_eq!(e.get(&bad).unwrap().state.status, Status::Dead);
        assert!(matches!(e.update(&bad, |_| Ok(())), Err(EngineError::CorruptRecord { .. })));
        // A directory without a record is a create in progress, not a container.
        fs::create_dir_all(Container::dir(e.root(), &"d".repeat(64))).unwrap();
        assert_eq!(e.list().unwrap().len(), 2);
    }
}

//! Leases (containerd's `leases`): what an operation in progress (a pull,
//! load, import, commit or a whole build) is writing, kept from garbage
//! collection until the operation names it or gives up.
//!
//! A lease is two files under `<image-root>/leases/`: `<id>.json` (the
//! holder's pid and the digests it references, rewritten atomically) and
//! `<id>.lock`, which the holder keeps flocked for its whole life. A lease
//! whose lock nobody holds belongs to a holder that died: GC ignores and
//! removes it. `gc.lock` is the gate: creating or extending a lease takes it
//! shared, a GC pass exclusive, so a GC never runs between a resource
//! becoming visible and its lease naming it. Works across processes (the
//! daemon and a daemonless `wharf` on one data root).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{ImageError, Result};

/// Something a lease keeps alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A committed (or about to be committed) blob.
    Blob(Digest),
    /// A committed snapshot, by ChainID (its ancestors stay with it).
    Snapshot(Digest),
    /// An ingest, by key (a resumable partial write).
    Ingest(String),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Record {
    id: String,
    label: String,
    pid: u32,
    created: String,
    blobs: BTreeSet<Digest>,
    snapshots: BTreeSet<Digest>,
    ingests: BTreeSet<String>,
}

impl Record {
    fn add(&mut self, r: Resource) -> bool {
        match r {
            Resource::Blob(d) => self.blobs.insert(d),
            Resource::Snapshot(c) => self.snapshots.insert(c),
            Resource::Ingest(k) => self.ingests.insert(k),
        }
    }
}

/// The leases of one image root.
#[derive(Debug, Clone)]
pub struct LeaseManager {
    dir: PathBuf,
}

/// What the live leases reference, read under the exclusive gate; while
/// this is held no lease is created or extended.
pub struct Held {
    pub blobs: BTreeSet<Digest>,
    pub snapshots: BTreeSet<Digest>,
    pub ingests: BTreeSet<String>,
    /// Leases of dead holders removed by this pass.
    pub dead: Vec<String>,
    _gate: Flock<File>,
}

fn lock(path: &Path, arg: FlockArg) -> Result<Flock<File>> {
    let f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(ImageError::io("open", path))?;
    Flock::lock(f, arg).map_err(|(_, e)| ImageError::Io { context: "lock", path: path.to_path_buf(), source: e.into() })
}

impl LeaseManager {
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(ImageError::io("create", &dir))?;
        Ok(LeaseManager { dir })
    }

    fn gate(&self, arg: FlockArg) -> Result<Flock<File>> {
        lock(&self.dir.join("gc.lock"), arg)
    }

    /// A new lease, held by this process until the returned guard is dropped.
    pub fn create(&self, label: &str) -> Result<Lease> {
        static N: AtomicU64 = AtomicU64::new(0);
        let pid = std::process::id();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let id = format!("{pid}-{nanos}-{}", N.fetch_add(1, Ordering::Relaxed));
        let _gate = self.gate(FlockArg::LockShared)?;
        // The lock first, then the record: GC never sees a record whose holder
        // has not locked it yet.
        let hold = lock(&self.dir.join(format!("{id}.lock")), FlockArg::LockExclusiveNonblock)?;
        let record = Record {
            id: id.clone(),
            label: label.to_string(),
            pid,
            created: wharf_common::time::now(),
            ..Default::default()
        };
        let lease = Lease { dir: self.dir.clone(), id, record: Mutex::new(record), _hold: hold };
        let rec = lease.record.lock().map_err(|_| lease.poisoned())?.clone();
        lease.write(&rec)?;
        Ok(lease)
    }

    /// Takes the exclusive gate (waiting for lease updates in flight) and
    /// gathers what live leases reference; dead holders' leases are removed.
    pub fn hold_for_gc(&self) -> Result<Held> {
        let gate = self.gate(FlockArg::LockExclusive)?;
        self.gather(gate)
    }

    /// As `hold_for_gc`, but `None` instead of waiting while a lease is being created or extended.
    pub fn try_hold_for_gc(&self) -> Result<Option<Held>> {
        match self.gate(FlockArg::LockExclusiveNonblock) {
            Ok(gate) => self.gather(gate).map(Some),
            Err(ImageError::Io { source, .. }) if source.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn gather(&self, gate: Flock<File>) -> Result<Held> {
        let mut held = Held {
            blobs: BTreeSet::new(),
            snapshots: BTreeSet::new(),
            ingests: BTreeSet::new(),
            dead: vec![],
            _gate: gate,
        };
        for e in fs::read_dir(&self.dir).map_err(ImageError::io("list", &self.dir))?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json") else { continue };
            let lock_path = self.dir.join(format!("{id}.lock"));
            let alive = match File::open(&lock_path) {
                Ok(f) => match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                    Ok(_dead) => false,
                    Err((_, nix::errno::Errno::EWOULDBLOCK)) => true,
                    Err((_, e)) => return Err(ImageError::Io { context: "lock", path: lock_path, source: e.into() }),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                Err(e) => return Err(ImageError::Io { context: "open", path: lock_path, source: e }),
            };
            if !alive {
                let _ = fs::remove_file(e.path());
                let _ = fs::remove_file(&lock_path);
                held.dead.push(id.to_string());
                continue;
            }
            let Ok(data) = fs::read(e.path()) else { continue }; // released meanwhile
            let rec: Record = serde_json::from_slice(&data)
                .map_err(|err| ImageError::Lease { id: id.into(), reason: err.to_string() })?;
            held.blobs.extend(rec.blobs);
            held.snapshots.extend(rec.snapshots);
            held.ingests.extend(rec.ingests);
        }
        held.dead.sort();
        Ok(held)
    }

    /// Ids of the leases on record (live or not yet collected).
    pub fn list(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = fs::read_dir(&self.dir)
            .map_err(ImageError::io("list", &self.dir))?
            .flatten()
            .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".json").map(str::to_string))
            .collect();
        out.sort();
        Ok(out)
    }
}

/// A live lease; dropping it (also on an error path) releases everything it references.
pub struct Lease {
    dir: PathBuf,
    id: String,
    record: Mutex<Record>,
    _hold: Flock<File>,
}

impl Lease {
    pub fn id(&self) -> &str {
        &self.id
    }

    fn poisoned(&self) -> ImageError {
        ImageError::Lease { id: self.id.clone(), reason: "record poisoned".into() }
    }

    fn write(&self, rec: &Record) -> Result<()> {
        let path = self.dir.join(format!("{}.json", self.id));
        let tmp = self.dir.join(format!("{}.json.tmp", self.id));
        let data =
            serde_json::to_vec(rec).map_err(|e| ImageError::Lease { id: self.id.clone(), reason: e.to_string() })?;
        fs::write(&tmp, data).map_err(ImageError::io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(ImageError::io("rename", &path))
    }

    fn add_ungated(&self, resources: Vec<Resource>) -> Result<()> {
        let mut rec = self.record.lock().map_err(|_| self.poisoned())?;
        let mut changed = false;
        for r in resources {
            changed |= rec.add(r);
        }
        if changed {
            self.write(&rec)?;
        }
        Ok(())
    }

    /// References `resources` from now on. Add a resource *before* looking
    /// it up or writing it: once this returns, no GC pass deletes it.
    pub fn add(&self, resources: impl IntoIterator<Item = Resource>) -> Result<()> {
        let resources: Vec<Resource> = resources.into_iter().collect();
        let _gate = LeaseManager { dir: self.dir.clone() }.gate(FlockArg::LockShared)?;
        self.add_ungated(resources)
    }

    /// Runs `f`, which makes resources visible whose names are known only
    /// afterwards (a computed digest), with GC held off until `refs` of its
    /// result are referenced.
    pub fn protect<T>(&self, f: impl FnOnce() -> Result<T>, refs: impl FnOnce(&T) -> Vec<Resource>) -> Result<T> {
        let _gate = LeaseManager { dir: self.dir.clone() }.gate(FlockArg::LockShared)?;
        let out = f()?;
        self.add_ungated(refs(&out))?;
        Ok(out)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // The record goes first: a lock file without one protects nothing.
        let _ = fs::remove_file(self.dir.join(format!("{}.json", self.id)));
        let _ = fs::remove_file(self.dir.join(format!("{}.lock", self.id)));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use super::*;
    use crate::content::FakeStore;
    use crate::snapshot::{FakeSnapshotter, Snapshotter};
    use crate::testutil::tar_of;
    use crate::Images;

    fn fake_images(root: &Path) -> Images {
        Images::with_stores(root, Arc::new(FakeStore::new()), Arc::new(FakeSnapshotter::new())).unwrap()
    }

    #[test]
    fn a_live_lease_protects_until_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let images = fake_images(tmp.path());
        let lease = images.lease("test").unwrap();
        let blob = images.put(&lease, b"written, not yet named").unwrap();
        let layer = tar_of(&[("f", "1")]);
        let chain = Digest::sha256(&layer); // a one-layer chain is its diffID
        lease.add([Resource::Snapshot(chain.clone())]).unwrap();
        images.snapshots.apply(&chain, None, &chain, &mut &layer[..]).unwrap();
        let freed = images.gc(&[]).unwrap();
        assert!(freed.blobs.is_empty() && freed.snapshots.is_empty(), "{freed:?}");
        assert!(images.content.stat(&blob).unwrap().is_some());
        assert_eq!(images.leases.list().unwrap(), vec![lease.id().to_string()]);
        drop(lease);
        assert!(images.leases.list().unwrap().is_empty(), "released on drop");
        let freed = images.gc(&[]).unwrap();
        assert_eq!((freed.blobs, freed.snapshots), (vec![blob], vec![chain]));
    }

    #[test]
    fn a_dead_holders_lease_is_ignored_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let images = Images::open(tmp.path()).unwrap();
        let blob = images.content.put(b"orphan").unwrap();
        // A holder that crashed: its record is there, its lock held by nobody
        // (and one whose lock file is gone altogether).
        let dir = tmp.path().join("leases");
        let rec = Record { id: "1-dead".into(), pid: 1 << 30, blobs: [blob.clone()].into(), ..Default::default() };
        fs::write(dir.join("1-dead.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
        fs::write(dir.join("1-dead.lock"), "").unwrap();
        fs::write(dir.join("2-gone.json"), serde_json::to_vec(&Record { id: "2-gone".into(), ..rec }).unwrap())
            .unwrap();
        let live = images.lease("live").unwrap();
        let held = images.leases.hold_for_gc().unwrap();
        assert_eq!(held.dead, vec!["1-dead".to_string(), "2-gone".to_string()]);
        assert!(held.blobs.is_empty());
        drop(held);
        assert_eq!(images.leases.list().unwrap(), vec![live.id().to_string()], "dead records removed");
        assert!(!dir.join("1-dead.lock").exists());
        assert_eq!(images.gc(&[]).unwrap().blobs, vec![blob]);
    }

    #[test]
    fn gc_cannot_run_between_a_write_and_its_lease() {
        let tmp = tempfile::tempdir().unwrap();
        let images = fake_images(tmp.path());
        let lease = images.lease("test").unwrap();
        let mut w = images.writer(&lease, "computed").unwrap();
        w.write_all(b"a layer whose digest is known at the end").unwrap();
        let (d, _) = lease
            .protect(
                || {
                    let out = w.commit_computed()?;
                    // Visible now, not yet leased: GC is held off.
                    assert!(images.leases.try_hold_for_gc()?.is_none(), "the gate is shared-held");
                    Ok(out)
                },
                |(d, _)| vec![Resource::Blob(d.clone())],
            )
            .unwrap();
        let held = images.leases.try_hold_for_gc().unwrap().expect("gate free again");
        assert!(held.blobs.contains(&d) && held.ingests.contains("computed"));
        drop(held);
        assert!(images.gc(&[]).unwrap().blobs.is_empty());
        // While a GC pass holds the gate, leases can be neither created nor extended.
        let held = images.leases.hold_for_gc().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let l = images.lease("blocked").unwrap();
                tx.send(l.id().to_string()).unwrap();
            });
            assert!(rx.try_recv().is_err(), "no lease while GC holds the gate");
            drop(held);
            assert!(rx.recv().is_ok(), "created once GC released the gate");
        });
    }

    #[test]
    fn leases_work_across_managers() {
        // Two `Images` on one root stand for the daemon and a daemonless CLI.
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (Images::open(tmp.path()).unwrap(), Images::open(tmp.path()).unwrap());
        let lease = a.lease("pull").unwrap();
        let blob = a.put(&lease, b"pulled by a").unwrap();
        assert!(b.gc(&[]).unwrap().blobs.is_empty(), "b's GC sees a's lease");
        drop(lease);
        assert_eq!(b.gc(&[]).unwrap().blobs, vec![blob]);
    }
}

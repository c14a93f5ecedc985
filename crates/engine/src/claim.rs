//! Who serves a data root: one daemon alone, or any number of in-process
//! engines (`wharf compose` without a daemon) — never both at once, so no
//! two processes reconcile one store, restart its containers by policy or
//! rebuild its firewall rules at the same time. The claim is a `flock` on
//! `<data-root>/serve.lock` (exclusive for the daemon, shared for the
//! in-process engines), let go when the process ends however it ends.

use std::fs;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::{EngineError, Result};

/// How a process serves the data root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// `wharf daemon`: alone.
    Daemon,
    /// An engine inside a client process: alongside other such, never a daemon.
    Embedded,
}

/// Held while the process serves the data root.
#[derive(Debug)]
pub struct Claimed(#[allow(dead_code)] Flock<fs::File>);

/// Claims `data_root` (created if missing), or says who holds it.
pub fn claim(data_root: &Path, how: Claim) -> Result<Claimed> {
    fs::create_dir_all(data_root).map_err(EngineError::io("create", data_root))?;
    let path = data_root.join("serve.lock");
    let file = fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(EngineError::io("open", &path))?;
    let arg = match how {
        Claim::Daemon => FlockArg::LockExclusiveNonblock,
        Claim::Embedded => FlockArg::LockSharedNonblock,
    };
    match Flock::lock(file, arg) {
        Ok(lock) => Ok(Claimed(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            Err(EngineError::DataRootInUse { root: data_root.to_path_buf(), by_daemon: how == Claim::Embedded })
        }
        Err((_, e)) => Err(EngineError::Io { context: "lock", path, source: e.into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_serves_alone_and_embedded_engines_together() {
        let dir = tempfile::tempdir().unwrap();
        let a = claim(dir.path(), Claim::Embedded).unwrap();
        let b = claim(dir.path(), Claim::Embedded).unwrap();
        let e = claim(dir.path(), Claim::Daemon).unwrap_err();
        assert!(matches!(e, EngineError::DataRootInUse { by_daemon: false, .. }), "{e}");
        drop((a, b));
        let d = claim(dir.path(), Claim::Daemon).unwrap();
        let e = claim(dir.path(), Claim::Embedded).unwrap_err();
        assert!(matches!(e, EngineError::DataRootInUse { by_daemon: true, .. }), "{e}");
        assert!(claim(dir.path(), Claim::Daemon).is_err(), "one daemon per data root");
        drop(d);
        claim(dir.path(), Claim::Embedded).unwrap();
    }
}

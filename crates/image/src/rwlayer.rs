//! What a container changed in its writable layer, as Docker reports it
//! (`GET /containers/{id}/changes`, `SizeRw`): read from the snapshotter's
//! diff of the view, streamed through a pipe (never held whole), each path
//! classified against the parent.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::error::{ImageError, Result};
use crate::service::Images;
use crate::snapshot::Snapshotter;
use crate::unpack::WHITEOUT_PREFIX;

/// Docker's change kinds (`archive.ChangeType`): the numbers are the API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute, as Docker prints it (`/etc/passwd`).
    pub path: String,
    pub kind: ChangeKind,
    /// Bytes of the regular file stored (0 for anything else).
    pub size: u64,
}

/// A diff entry's name as a clean relative path (`./a/b/` → `a/b`); `None`
/// for a name that leaves the root (a snapshotter never writes one).
fn clean(name: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

impl Images {
    /// The changes of writable view `key`, sorted by path, as Docker lists
    /// them: every stored entry is `Added` or `Modified` (the parent held
    /// it), every whiteout a `Deleted`; opaque markers are not changes.
    pub fn changes(&self, key: &str) -> Result<Vec<Change>> {
        let (r, w) = nix::unistd::pipe().map_err(|e| ImageError::Other(format!("pipe: {e}")))?;
        let snapshots = &self.snapshots;
        let mut out = Vec::new();
        let parsed = std::thread::scope(|s| {
            let writer = s.spawn(move || snapshots.diff(key, &mut File::from(w)));
            let parsed = classify(snapshots, key, File::from(r), &mut out);
            // The reader is closed now: a writer still at work stops (EPIPE);
            // the parse error is the one that says why.
            match (parsed, writer.join()) {
                (Err(e), _) | (Ok(()), Ok(Err(e))) => Err(e),
                (Ok(()), Ok(Ok(()))) => Ok(()),
                (Ok(()), Err(_)) => Err(ImageError::Other("diff writer panicked".into())),
            }
        });
        parsed?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

fn classify(snapshots: &dyn Snapshotter, key: &str, diff: File, out: &mut Vec<Change>) -> Result<()> {
    let mut archive = tar::Archive::new(diff);
    for entry in archive.entries().map_err(ImageError::io("read diff", key))? {
        let entry = entry.map_err(ImageError::io("read diff", key))?;
        let name = entry.path().map_err(ImageError::io("read diff", key))?.into_owned();
        let Some(rel) = clean(&name) else {
            return Err(ImageError::UnsafeEntry {
                path: name.display().to_string(),
                reason: "outside the root".into(),
            });
        };
        let base = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (rel, kind) = match base.strip_prefix(WHITEOUT_PREFIX) {
            Some(rest) if rest.starts_with(WHITEOUT_PREFIX) => continue,
            Some(rest) => (rel.with_file_name(rest), ChangeKind::Deleted),
            None if snapshots.parent_has(key, &rel)? => (rel, ChangeKind::Modified),
            None => (rel, ChangeKind::Added),
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let size = match (kind, entry.header().entry_type()) {
            (ChangeKind::Deleted, _) => 0,
            (_, tar::EntryType::Regular | tar::EntryType::Continuous) => entry.size(),
            _ => 0,
        };
        out.push(Change { path: format!("/{}", rel.display()), kind, size });
    }
    // The end-of-archive blocks, so the writer finishes without EPIPE.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(ImageError::io("read diff", key))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_or_refused() {
        assert_eq!(clean(Path::new("./a/b/")), Some(PathBuf::from("a/b")));
        assert_eq!(clean(Path::new("../x")), None);
        assert_eq!(clean(Path::new("/x")), None);
    }
}

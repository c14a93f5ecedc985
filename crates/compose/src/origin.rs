//! Which file a node came from: files get ids (1-based) in a process-wide
//! table, and every node's position carries its file's id, so a position
//! names its file after files are merged. A leaf: it uses no other module.

use std::path::{Path, PathBuf};

/// The files read in this process, by id (1-based), so that a node's
/// position can name its file after files are merged.
static FILES: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// `file`'s id (the same one each time it is asked for).
pub fn file_id(file: &Path) -> u32 {
    let mut files = FILES.lock().unwrap_or_else(|e| e.into_inner());
    match files.iter().position(|f| f == file) {
        Some(i) => i as u32 + 1,
        None => {
            files.push(file.to_path_buf());
            files.len() as u32
        }
    }
}

/// The file of an id [`file_id`] gave.
pub fn file_path(id: u32) -> Option<PathBuf> {
    let files = FILES.lock().unwrap_or_else(|e| e.into_inner());
    id.checked_sub(1).and_then(|i| files.get(i as usize)).cloned()
}

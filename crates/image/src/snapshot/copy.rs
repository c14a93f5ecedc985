//! A faithful tree copy for the native snapshotter: ownership, modes
//! (setuid/setgid included), xattrs, symlinks (never followed), hardlinks
//! within the tree, device nodes, FIFOs and nanosecond mtimes. Sockets are
//! skipped.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use filetime::FileTime;
use nix::sys::stat::{mknod, Mode, SFlag};

use crate::error::{ImageError, Result};

/// Copies the content of directory `src` into directory `dst` (which must
/// exist, empty), and `src`'s own metadata onto `dst`.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut dirs: Vec<(PathBuf, PathBuf, fs::Metadata)> = Vec::new();
    let root_md = fs::symlink_metadata(src).map_err(ImageError::io("stat", src))?;
    dirs.push((src.to_path_buf(), dst.to_path_buf(), root_md));
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = src.join(&rel);
        for entry in fs::read_dir(&dir).map_err(ImageError::io("list", &dir))? {
            let entry = entry.map_err(ImageError::io("list", &dir))?;
            let rel_path = rel.join(entry.file_name());
            let (s, d) = (src.join(&rel_path), dst.join(&rel_path));
            let md = fs::symlink_metadata(&s).map_err(ImageError::io("stat", &s))?;
            let ft = md.file_type();
            if !ft.is_dir() && md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    fs::hard_link(first, &d).map_err(ImageError::io("hardlink", &d))?;
                    continue;
                }
                links.insert((md.dev(), md.ino()), d.clone());
            }
            if ft.is_dir() {
                fs::create_dir(&d).map_err(ImageError::io("create", &d))?;
                stack.push(rel_path);
                dirs.push((s, d, md));
                continue; // metadata once its children are in
            } else if ft.is_file() {
                let mut from = File::open(&s).map_err(ImageError::io("open", &s))?;
                let mut to = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&d)
                    .map_err(ImageError::io("create", &d))?;
                io::copy(&mut from, &mut to).map_err(ImageError::io("copy", &d))?;
            } else if ft.is_symlink() {
                let target = fs::read_link(&s).map_err(ImageError::io("readlink", &s))?;
                std::os::unix::fs::symlink(target, &d).map_err(ImageError::io("symlink", &d))?;
            } else {
                let kind = if ft.is_char_device() {
                    SFlag::S_IFCHR
                } else if ft.is_block_device() {
                    SFlag::S_IFBLK
                } else if ft.is_fifo() {
                    SFlag::S_IFIFO
                } else {
                    continue; // sockets belong to a process, not a layer
                };
                mknod(&d, kind, Mode::from_bits_truncate(md.mode() & 0o7777), md.rdev())
                    .map_err(|e| ImageError::Io { context: "mknod", path: d.clone(), source: e.into() })?;
            }
            copy_metadata(&s, &d, &md)?;
        }
    }
    // Directory metadata last (deepest first): creating children changed their mtimes.
    for (s, d, md) in dirs.iter().rev() {
        copy_metadata(s, d, md)?;
    }
    Ok(())
}

/// Ownership, then mode (chown clears setuid bits), xattrs and times of `src` onto `dst`.
fn copy_metadata(src: &Path, dst: &Path, md: &fs::Metadata) -> Result<()> {
    std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid())).map_err(ImageError::io("chown", dst))?;
    let symlink = md.file_type().is_symlink();
    if !symlink {
        fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(ImageError::io("chmod", dst))?;
    }
    if let Ok(names) = xattr::list(src) {
        for name in names {
            if let Ok(Some(value)) = xattr::get(src, &name) {
                if let Err(e) = xattr::set(dst, &name, &value) {
                    // Filesystems without user xattrs still get a usable copy.
                    tracing::debug!("xattr {name:?} on {}: {e}", dst.display());
                }
            }
        }
    }
    let (atime, mtime) = (FileTime::from_last_access_time(md), FileTime::from_last_modification_time(md));
    filetime::set_symlink_file_times(dst, atime, mtime).map_err(ImageError::io("set times", dst))
}

//! Directory trees → tar streams (Docker's layer and `docker export`
//! shapes: hard links once, overlay whiteouts turned into `.wh.` entries,
//! ownership, modes, xattrs and times kept). A leaf: used by the archive
//! code and by the snapshotters.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{ImageError, Result};

/// `export`: a container's filesystem (its mounted root) as a tar stream,
/// keeping ownership, permission bits, mtimes, symlinks, hardlinks and device
/// nodes; links are stored, never followed.
pub fn export_dir(root: &Path, out: impl Write) -> Result<()> {
    tar_tree(root, out, false)
}

/// An overlay upper directory as an OCI layer: overlay whiteouts (0/0
/// character devices, `trusted.overlay.opaque` directories) become the
/// `.wh.` files of the layer format.
pub fn layer_from_upper(upper: &Path, out: impl Write) -> Result<()> {
    tar_tree(upper, out, true)
}

/// `docker cp` out of a container: `path` (a file, link or directory tree)
/// as a tar whose entries are named under `name` (the path's base name).
pub fn tar_path(path: &Path, name: &Path, out: impl Write) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let mut seen = std::collections::HashMap::new();
    let md = fs::symlink_metadata(path).map_err(ImageError::io("stat", path))?;
    if append_entry(&mut b, path, name, &md, &mut seen, false)? {
        walk(&mut b, path, name, false, &mut seen)?;
    }
    b.into_inner().map_err(ImageError::io("archive", path))?;
    Ok(())
}

fn tar_tree(root: &Path, out: impl Write, whiteouts: bool) -> Result<()> {
    let mut b = tar::Builder::new(out);
    walk(&mut b, root, Path::new(""), whiteouts, &mut std::collections::HashMap::new())?;
    b.into_inner().map_err(ImageError::io("export", root))?;
    Ok(())
}

pub(crate) type Inodes = std::collections::HashMap<(u64, u64), PathBuf>;

/// Appends everything under directory `root`, named under `prefix`, in name order.
fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    prefix: &Path,
    whiteouts: bool,
    seen: &mut Inodes,
) -> Result<()> {
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let mut names: Vec<_> =
            fs::read_dir(&dir).map_err(ImageError::io("export", &dir))?.flatten().map(|e| e.file_name()).collect();
        names.sort();
        // Reverse so the stack pops in name order.
        for name in names.into_iter().rev() {
            let rel_path = rel.join(&name);
            let path = root.join(&rel_path);
            let md = fs::symlink_metadata(&path).map_err(ImageError::io("export", &path))?;
            if append_entry(b, &path, &prefix.join(&rel_path), &md, seen, whiteouts)? {
                stack.push(rel_path);
            }
        }
    }
    Ok(())
}

/// One entry; true if it is a directory to descend into. Links are stored,
/// never followed; hard links are kept; sockets are skipped.
pub(crate) fn append_entry<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    md: &fs::Metadata,
    seen: &mut Inodes,
    whiteouts: bool,
) -> Result<bool> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let ft = md.file_type();
    let fail = |e: io::Error| ImageError::Io { context: "archive", path: path.to_path_buf(), source: e };
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(md, tar::HeaderMode::Complete);
    h.set_mode(md.mode() & 0o7777);
    h.set_size(0);
    let whiteout = |b: &mut tar::Builder<W>, wh_name: PathBuf| -> Result<()> {
        let mut wh = tar::Header::new_gnu();
        wh.set_entry_type(tar::EntryType::Regular);
        wh.set_mode(0o600);
        wh.set_size(0);
        wh.set_mtime(md.mtime().max(0) as u64);
        b.append_data(&mut wh, &wh_name, io::empty()).map_err(fail)
    };
    if whiteouts && ft.is_char_device() && md.rdev() == 0 {
        let mut wh_name = std::ffi::OsString::from(".wh.");
        wh_name.push(name.file_name().unwrap_or_default());
        whiteout(b, name.with_file_name(wh_name))?;
        return Ok(false);
    }
    if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        if !name.as_os_str().is_empty() {
            b.append_data(&mut h, name, io::empty()).map_err(fail)?;
        }
        if whiteouts && xattr::get(path, "trusted.overlay.opaque").ok().flatten().as_deref() == Some(b"y") {
            whiteout(b, name.join(".wh..wh..opq"))?;
        }
        return Ok(true);
    }
    if ft.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        let target = fs::read_link(path).map_err(ImageError::io("readlink", path))?;
        b.append_link(&mut h, name, target).map_err(fail)?;
    } else if ft.is_file() {
        if md.nlink() > 1 {
            if let Some(first) = seen.get(&(md.dev(), md.ino())) {
                h.set_entry_type(tar::EntryType::Link);
                b.append_link(&mut h, name, first).map_err(fail)?;
                return Ok(false);
            }
            seen.insert((md.dev(), md.ino()), name.to_path_buf());
        }
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(md.len());
        let f = File::open(path).map_err(ImageError::io("open", path))?;
        b.append_data(&mut h, name, f).map_err(fail)?;
    } else {
        let kind = if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else if ft.is_fifo() {
            tar::EntryType::Fifo
        } else {
            return Ok(false);
        };
        h.set_entry_type(kind);
        let rdev = md.rdev();
        let _ = h.set_device_major(nix::sys::stat::major(rdev) as u32);
        let _ = h.set_device_minor(nix::sys::stat::minor(rdev) as u32);
        b.append_data(&mut h, name, io::empty()).map_err(fail)?;
    }
    Ok(false)
}

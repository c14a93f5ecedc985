//! Unpacking untrusted layer tarballs into a snapshot directory.
//!
//! Every entry is confined to the snapshot root: `..` may not climb out,
//! symlinks met while resolving a parent directory are followed *inside* the
//! root, hardlinks must point at something already in this layer, and files
//! are created with `O_NOFOLLOW`. Docker's whiteouts become overlayfs ones
//! (`.wh.name` → a 0:0 character device, `.wh..wh..opq` → the
//! `trusted.overlay.opaque` xattr) or, unpacking onto a full tree (the
//! native snapshotter), deletions of what lower layers put there. Ownership, modes, xattrs, mtimes and
//! hardlinks are kept.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use filetime::FileTime;
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use crate::error::{ImageError, Result};

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Wraps `reader` in the decompressor its magic bytes call for (gzip, zstd or none).
pub fn decompress<'a>(reader: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut buf = BufReader::with_capacity(1 << 16, reader);
    let head = buf.fill_buf().map_err(ImageError::io("read layer", ""))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(buf)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let dec = ruzstd::decoding::StreamingDecoder::new(buf).map_err(|e| ImageError::invalid("zstd layer", e))?;
        Ok(Box::new(dec))
    } else {
        Ok(Box::new(buf))
    }
}

/// A tar path made relative and lexically clean; `None` if it climbs out.
pub fn clean_path(raw: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir if !out.pop() => return None,
            _ => {}
        }
    }
    Some(out)
}

/// Resolves `rel` (a clean relative path) under `root`, following symlinks
/// in the tree as if `root` were `/`. The result is always inside `root`
/// (the one resolver: `wharf_common::confined::join`).
pub fn resolve_in_root(root: &Path, rel: &Path) -> Result<PathBuf> {
    use wharf_common::confined::{join, ConfinedError};
    join(root, rel).map_err(|e| match e {
        ConfinedError::TooManySymlinks(_) => {
            ImageError::UnsafeEntry { path: rel.display().to_string(), reason: "symlink loop".into() }
        }
        ConfinedError::Io { context, path, source } => ImageError::Io { context, path, source },
        other => ImageError::UnsafeEntry { path: rel.display().to_string(), reason: other.to_string() },
    })
}

/// Removes whatever sits at `path` (without following a symlink there).
fn remove_existing(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => fs::remove_dir_all(path).map_err(ImageError::io("remove", path)),
        Ok(_) => fs::remove_file(path).map_err(ImageError::io("remove", path)),
        Err(_) => Ok(()),
    }
}

/// What unpacking a layer produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unpacked {
    pub entries: u64,
    pub bytes: u64,
}

/// What a layer's whiteouts become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// Overlayfs' form: 0:0 character devices and opaque directories.
    Overlay,
    /// `root` is the whole lower tree: whited-out entries are deleted.
    Delete,
}

/// Unpacks one (uncompressed) layer tar into `root`, which must exist,
/// whiteouts in overlay form.
pub fn unpack_layer(reader: impl Read, root: &Path) -> Result<Unpacked> {
    unpack_layer_with(reader, root, Whiteouts::Overlay)
}

/// Unpacks one (uncompressed) layer tar into `root`, which must exist.
pub fn unpack_layer_with(reader: impl Read, root: &Path, whiteouts: Whiteouts) -> Result<Unpacked> {
    let mut archive = tar::Archive::new(reader);
    // Entries this layer wrote: whiteouts only ever hide lower layers' ones.
    let mut written: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    let mut stats = Unpacked::default();
    let mut dir_times: Vec<(PathBuf, FileTime)> = Vec::new();
    let entries = archive.entries().map_err(ImageError::io("read layer", root))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ImageError::invalid("layer tar", e))?;
        let raw = entry.path().map_err(|e| ImageError::invalid("layer tar path", e))?.into_owned();
        let unsafe_entry =
            |reason: &str| ImageError::UnsafeEntry { path: raw.display().to_string(), reason: reason.into() };
        let rel = clean_path(&raw).ok_or_else(|| unsafe_entry("path leaves the layer"))?;
        let Some(name) = rel.file_name().map(OsStr::to_os_string) else {
            continue; // the root itself
        };
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let parent = resolve_in_root(root, parent_rel)?;
        fs::create_dir_all(&parent).map_err(ImageError::io("create", &parent))?;
        let name_bytes = name.as_bytes();
        if name_bytes == OPAQUE_MARKER.as_bytes() {
            if whiteouts == Whiteouts::Overlay {
                xattr::set(&parent, "trusted.overlay.opaque", b"y").map_err(ImageError::io("set opaque", &parent))?;
            } else {
                for child in fs::read_dir(&parent).map_err(ImageError::io("list", &parent))?.flatten() {
                    if !written.contains(&child.path()) {
                        remove_existing(&child.path())?;
                    }
                }
            }
            stats.entries += 1;
            continue;
        }
        if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
                return Err(unsafe_entry("invalid whiteout"));
            }
            let target = parent.join(OsStr::from_bytes(hidden));
            if whiteouts == Whiteouts::Delete {
                if !written.contains(&target) {
                    remove_existing(&target)?;
                }
                stats.entries += 1;
                continue;
            }
            remove_existing(&target)?;
            mknod(&target, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).map_err(|e| ImageError::Io {
                context: "whiteout",
                path: target.clone(),
                source: e.into(),
            })?;
            stats.entries += 1;
            continue;
        }
        let path = parent.join(&name);
        written.insert(path.clone());
        let header = entry.header().clone();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        match kind {
            tar::EntryType::Directory => match fs::symlink_metadata(&path) {
                Ok(md) if md.is_dir() => {}
                _ => {
                    remove_existing(&path)?;
                    fs::create_dir(&path).map_err(ImageError::io("create", &path))?;
                }
            },
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_existing(&path)?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&path)
                    .map_err(ImageError::io("create", &path))?;
                stats.bytes += io::copy(&mut entry, &mut f).map_err(ImageError::io("write", &path))?;
            }
            tar::EntryType::Symlink => {
                let target =
                    entry.link_name().map_err(|e| ImageError::invalid("symlink target", e))?.unwrap_or_default();
                remove_existing(&path)?;
                std::os::unix::fs::symlink(&target, &path).map_err(ImageError::io("symlink", &path))?;
            }
            tar::EntryType::Link => {
                let target =
                    entry.link_name().map_err(|e| ImageError::invalid("hardlink target", e))?.unwrap_or_default();
                let target_rel = clean_path(&target).ok_or_else(|| unsafe_entry("hardlink target leaves the layer"))?;
                let target_parent = resolve_in_root(root, target_rel.parent().unwrap_or(Path::new("")))?;
                let source =
                    target_parent.join(target_rel.file_name().ok_or_else(|| unsafe_entry("hardlink to the root"))?);
                if fs::symlink_metadata(&source).is_err() {
                    return Err(unsafe_entry("hardlink target is not in this layer"));
                }
                remove_existing(&path)?;
                fs::hard_link(&source, &path).map_err(ImageError::io("hardlink", &path))?;
                stats.entries += 1;
                continue; // shares the target's metadata
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let flag = match kind {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let dev = makedev(
                    u64::from(header.device_major().ok().flatten().unwrap_or(0)),
                    u64::from(header.device_minor().ok().flatten().unwrap_or(0)),
                );
                remove_existing(&path)?;
                mknod(&path, flag, Mode::from_bits_truncate(mode), dev).map_err(|e| ImageError::Io {
                    context: "mknod",
                    path: path.clone(),
                    source: e.into(),
                })?;
            }
            // PAX/GNU metadata records are consumed by the tar reader; anything else is skipped.
            _ => continue,
        }
        stats.entries += 1;
        // Ownership first: chown clears setuid/setgid bits that chmod then restores.
        let uid = header.uid().unwrap_or(0) as u32;
        let gid = header.gid().unwrap_or(0) as u32;
        std::os::unix::fs::lchown(&path, Some(uid), Some(gid)).map_err(ImageError::io("chown", &path))?;
        if kind != tar::EntryType::Symlink {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(ImageError::io("chmod", &path))?;
        }
        if let Ok(Some(exts)) = entry.pax_extensions() {
            for ext in exts.flatten() {
                if let Some(key) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                    if let Err(e) = xattr::set(&path, key, ext.value_bytes()) {
                        // Filesystems without user xattrs still get a usable layer.
                        tracing::debug!("xattr {key} on {}: {e}", path.display());
                    }
                }
            }
        }
        let mtime = FileTime::from_unix_time(header.mtime().unwrap_or(0) as i64, 0);
        if kind == tar::EntryType::Directory {
            dir_times.push((path, mtime));
        } else {
            filetime::set_symlink_file_times(&path, mtime, mtime).map_err(ImageError::io("set times", &path))?;
        }
    }
    // Directory times last: creating their children changed them.
    for (path, mtime) in dir_times.into_iter().rev() {
        filetime::set_symlink_file_times(&path, mtime, mtime).map_err(ImageError::io("set times", &path))?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    enum E<'a> {
        File(&'a str, &'a str),
        Dir(&'a str),
        Sym(&'a str, &'a str),
        Hard(&'a str, &'a str),
    }

    fn tar_of(entries: &[E<'_>]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(1_000_000);
            h.set_uid(1000);
            h.set_gid(1000);
            match e {
                E::File(p, data) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o4755);
                    h.set_size(data.len() as u64);
                    // set_path refuses '..': write the raw name for hostile cases.
                    let name = h.as_old_mut().name.as_mut();
                    name[..p.len()].copy_from_slice(p.as_bytes());
                    h.set_cksum();
                    b.append(&h, data.as_bytes()).unwrap();
                }
                E::Dir(p) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o750);
                    h.set_size(0);
                    h.set_path(p).unwrap();
                    h.set_cksum();
                    b.append(&h, &[][..]).unwrap();
                }
                E::Sym(p, t) | E::Hard(p, t) => {
                    h.set_entry_type(if matches!(e, E::Sym(..)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    });
                    h.set_mode(0o777);
                    h.set_size(0);
                    h.set_path(p).unwrap();
                    let link = h.as_old_mut().linkname.as_mut();
                    link[..t.len()].copy_from_slice(t.as_bytes());
                    h.set_cksum();
                    b.append(&h, &[][..]).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn unpack(entries: &[E<'_>]) -> (tempfile::TempDir, Result<Unpacked>) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir(&root).unwrap();
        let r = unpack_layer(&tar_of(entries)[..], &root);
        (tmp, r)
    }

    #[test]
    fn keeps_metadata_and_hardlinks() {
        let (tmp, r) =
            unpack(&[E::Dir("etc"), E::File("etc/a", "hello"), E::Hard("etc/b", "etc/a"), E::Sym("etc/l", "a")]);
        r.unwrap();
        let root = tmp.path().join("root");
        let a = fs::metadata(root.join("etc/a")).unwrap();
        assert_eq!(a.mode() & 0o7777, 0o4755, "setuid survives chown");
        assert_eq!((a.uid(), a.gid()), (1000, 1000));
        assert_eq!(a.mtime(), 1_000_000);
        assert_eq!(a.nlink(), 2);
        assert_eq!(fs::read_link(root.join("etc/l")).unwrap(), PathBuf::from("a"));
        let d = fs::metadata(root.join("etc")).unwrap();
        assert_eq!((d.mode() & 0o7777, d.mtime()), (0o750, 1_000_000));
    }

    #[test]
    fn hostile_entries_are_refused_or_confined() {
        let outside = tempfile::tempdir().unwrap();
        let out = outside.path().to_str().unwrap().to_string();
        let evil_sym_dir = out.clone();
        let table: Vec<(&str, Vec<E<'_>>, bool)> = vec![
            ("dot-dot", vec![E::File("../evil", "x")], false),
            ("nested dot-dot", vec![E::File("a/../../evil", "x")], false),
            ("hardlink out", vec![E::Hard("h", "../../etc/passwd")], false),
            ("hardlink to host file", vec![E::Hard("h", "/etc/passwd")], false),
            ("symlink then write through", vec![E::Sym("link", &evil_sym_dir), E::File("link/pwned", "x")], true),
            ("relative symlink climb", vec![E::Sym("up", "../../../../.."), E::File("up/pwned2", "x")], true),
            ("absolute path", vec![E::File("/abs-file", "x")], true),
        ];
        for (name, entries, ok) in table {
            let (tmp, r) = unpack(&entries);
            assert_eq!(r.is_ok(), ok, "{name}: {r:?}");
            if let Err(e) = r {
                assert!(matches!(e, ImageError::UnsafeEntry { .. }), "{name}: {e}");
            }
            assert!(fs::read_dir(outside.path()).unwrap().next().is_none(), "{name}: wrote outside the root");
            assert!(!tmp.path().join("evil").exists() && !tmp.path().join("pwned2").exists(), "{name}");
        }
        // The write through the symlink landed inside the root.
        let (tmp, _) = unpack(&[E::Sym("link", &evil_sym_dir), E::File("link/pwned", "x")]);
        assert!(tmp.path().join("root").join(out.trim_start_matches('/')).join("pwned").exists());
    }

    #[test]
    fn whiteouts_become_overlay_form() {
        let (tmp, r) = unpack(&[E::Dir("d"), E::File("d/.wh..wh..opq", ""), E::File(".wh.gone", "")]);
        r.unwrap();
        let root = tmp.path().join("root");
        let md = fs::symlink_metadata(root.join("gone")).unwrap();
        assert!(md.file_type().is_char_device());
        assert_eq!(md.rdev(), 0);
        assert_eq!(xattr::get(root.join("d"), "trusted.overlay.opaque").unwrap().as_deref(), Some(&b"y"[..]));
        assert!(!root.join(".wh.gone").exists());
    }

    #[test]
    fn truncated_tar_fails() {
        let data = tar_of(&[E::File("f", &"x".repeat(2000))]);
        let tmp = tempfile::tempdir().unwrap();
        assert!(unpack_layer(&data[..700], tmp.path()).is_err());
    }

    #[test]
    fn detects_compression() {
        use std::io::Write;
        let data = tar_of(&[E::File("f", "z")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let mut out = Vec::new();
        decompress(&gz[..]).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let mut out = Vec::new();
        decompress(&data[..]).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let zst = ruzstd::encoding::compress_to_vec(&data[..], ruzstd::encoding::CompressionLevel::Fastest);
        let mut out = Vec::new();
        decompress(&zst[..]).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }
}

//! The changes between two full trees as a layer tar (containerd's
//! `fs.Changes` double walk): entries added or changed in `upper` are
//! stored, entries gone from it become `.wh.<name>` whiteouts. An entry is
//! unchanged when its type, mode, ownership, size, mtime, device, symlink
//! target and xattrs are equal — and, for regular files whose mtime has no
//! nanoseconds (copied from a tar), their bytes too.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{ImageError, Result};
use crate::tarball::{append_entry, Inodes};
use crate::unpack::WHITEOUT_PREFIX;

/// Writes what turns `lower` (None: nothing) into `upper` as an uncompressed layer tar.
pub(crate) fn write_changes(lower: Option<&Path>, upper: &Path, out: &mut dyn Write) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let mut seen: Inodes = HashMap::new();
    walk(&mut b, lower, upper, Path::new(""), &mut seen)?;
    b.into_inner().map_err(ImageError::io("diff", upper))?;
    Ok(())
}

fn names(dir: &Path) -> Result<BTreeSet<OsString>> {
    Ok(fs::read_dir(dir).map_err(ImageError::io("list", dir))?.flatten().map(|e| e.file_name()).collect())
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    lower: Option<&Path>,
    upper: &Path,
    rel: &Path,
    seen: &mut Inodes,
) -> Result<()> {
    let up_names = names(upper)?;
    let low_names = lower.map(names).transpose()?.unwrap_or_default();
    for name in up_names.union(&low_names) {
        let name_rel = rel.join(name);
        let (u, l) = (upper.join(name), lower.map(|l| l.join(name)));
        if !up_names.contains(name) {
            let mut wh = OsString::from(WHITEOUT_PREFIX);
            wh.push(name);
            whiteout(b, &rel.join(wh))?;
            continue;
        }
        let umd = fs::symlink_metadata(&u).map_err(ImageError::io("stat", &u))?;
        let lmd = match (&l, low_names.contains(name)) {
            (Some(l), true) => Some(fs::symlink_metadata(l).map_err(ImageError::io("stat", l))?),
            _ => None,
        };
        let same = match (&l, &lmd) {
            (Some(l), Some(lmd)) => unchanged(&u, &umd, l, lmd)?,
            _ => false,
        };
        if !same {
            append_entry(b, &u, &name_rel, &umd, seen, false)?;
        }
        if umd.is_dir() {
            // A directory that replaced a non-directory has only new children.
            let lower_dir = l.filter(|_| lmd.as_ref().is_some_and(|m| m.is_dir()));
            walk(b, lower_dir.as_deref(), &u, &name_rel, seen)?;
        }
    }
    Ok(())
}

fn whiteout<W: Write>(b: &mut tar::Builder<W>, name: &Path) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o600);
    h.set_size(0);
    h.set_mtime(0);
    b.append_data(&mut h, name, io::empty()).map_err(ImageError::io("diff", name))
}

fn unchanged(u: &Path, umd: &fs::Metadata, l: &Path, lmd: &fs::Metadata) -> Result<bool> {
    let (ut, lt) = (umd.file_type(), lmd.file_type());
    if ut != lt || umd.mode() != lmd.mode() || umd.uid() != lmd.uid() || umd.gid() != lmd.gid() {
        return Ok(false);
    }
    if umd.mtime() != lmd.mtime() || umd.mtime_nsec() != lmd.mtime_nsec() || umd.rdev() != lmd.rdev() {
        return Ok(false);
    }
    if !ut.is_dir() && umd.len() != lmd.len() {
        return Ok(false);
    }
    if ut.is_symlink() && fs::read_link(u).ok() != fs::read_link(l).ok() {
        return Ok(false);
    }
    if xattrs(u) != xattrs(l) {
        return Ok(false);
    }
    if ut.is_file() && umd.mtime_nsec() == 0 {
        return same_bytes(u, l);
    }
    Ok(true)
}

fn xattrs(p: &Path) -> Vec<(OsString, Option<Vec<u8>>)> {
    let mut out: Vec<_> = xattr::list(p)
        .map(|names| names.map(|n| (n.clone(), xattr::get(p, &n).ok().flatten())).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    let open =
        |p: &Path| File::open(p).map(|f| BufReader::with_capacity(1 << 16, f)).map_err(ImageError::io("open", p));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(ImageError::io("read", a))?;
        let nb = read_full(&mut fb, &mut bb).map_err(ImageError::io("read", b))?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

use wharf_common::io::read_full;

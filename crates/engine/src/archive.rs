//! A container's filesystem from the outside: `export` (the whole tree),
//! `docker cp` (stat, copy out, copy in — through volumes and binds too) and
//! `commit` (its writable layer as a new image). A container that is not
//! running gets its root mounted for the duration of the call.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use wharf_image::rwlayer::{Change, ChangeKind};

use serde::Serialize;
use wharf_image::Images;
use wharf_runtime::confined::{Kind, Node, Root};

/// The confined resolver, for crates of the engine's users (the builder
/// reads its context through it) that do not depend on the runtime.
pub use wharf_runtime::confined;

use crate::error::{EngineError, Result};
use crate::model::{Container, Status};
use crate::Engine;

/// What `HEAD/GET /containers/{id}/archive` report in `X-Docker-Container-Path-Stat`.
/// `mode` uses Go's `os.FileMode` bits, which the docker CLI decodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: u64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;
const GO_MODE_DEVICE: u32 = 1 << 26;
const GO_MODE_PIPE: u32 = 1 << 25;
const GO_MODE_SOCKET: u32 = 1 << 24;
const GO_MODE_SETUID: u32 = 1 << 23;
const GO_MODE_SETGID: u32 = 1 << 22;
const GO_MODE_CHAR: u32 = 1 << 21;
const GO_MODE_STICKY: u32 = 1 << 20;

/// Go's `os.FileMode` of a raw `st_mode`.
fn go_mode(m: u32) -> u32 {
    let mut out = m & 0o777;
    for (bit, go) in [(0o4000, GO_MODE_SETUID), (0o2000, GO_MODE_SETGID), (0o1000, GO_MODE_STICKY)] {
        if m & bit != 0 {
            out |= go;
        }
    }
    out | match Kind::of_mode(m) {
        Kind::Directory => GO_MODE_DIR,
        Kind::Symlink => GO_MODE_SYMLINK,
        Kind::CharDevice => GO_MODE_DEVICE | GO_MODE_CHAR,
        Kind::BlockDevice => GO_MODE_DEVICE,
        Kind::Fifo => GO_MODE_PIPE,
        Kind::Socket => GO_MODE_SOCKET,
        Kind::Regular => 0,
    }
}

/// A cleaned absolute container path ("" components and ".." resolved lexically).
fn clean(path: &str) -> Result<PathBuf> {
    if !path.starts_with('/') {
        return Err(EngineError::Invalid {
            what: "path".into(),
            reason: format!("{path:?} is not absolute in the container"),
        });
    }
    let mut out = PathBuf::from("/");
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    Ok(out)
}

impl Engine {
    /// Runs `f` with the container's root filesystem mounted: the live mount
    /// of a running container (frozen meanwhile, as Docker does, so its
    /// processes cannot swap a path component for a symlink between our
    /// resolution and our use of it), else a temporary one.
    fn with_rootfs<T>(&self, c: &Container, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
        let dir = Container::dir(self.root(), &c.id);
        match c.state.status {
            Status::Paused => return f(&dir.join("rootfs")),
            Status::Running => {
                self.runtime_for(&c.id).pause(&c.id)?;
                let result = f(&dir.join("rootfs"));
                let resumed = self.runtime_for(&c.id).resume(&c.id);
                let out = result?;
                resumed?;
                return Ok(out);
            }
            _ => {}
        }
        let (_, img) = self.images.resolve(&c.image_id)?;
        let specs = self.images.prepare_rootfs(&c.id, &img)?;
        let view = dir.join(format!("view-{}", &wharf_common::ids::new_id()[..12]));
        self.mount_rootfs(&specs, &view)?;
        let result = f(&view);
        self.host().unmount(&view);
        let _ = fs::remove_dir(&view);
        result
    }

    /// The mount covering container path `path` (volume or bind, not
    /// tmpfs): its host source and the rest of the path inside it.
    fn covering(&self, c: &Container, path: &Path) -> Result<Option<(PathBuf, PathBuf)>> {
        let covering = c
            .opts
            .mounts
            .iter()
            .filter(|m| m.typ != "tmpfs" && path.starts_with(&m.target))
            .max_by_key(|m| m.target.len());
        let Some(m) = covering else { return Ok(None) };
        let source = if m.typ == "volume" { self.volume(&m.source)?.mountpoint } else { PathBuf::from(&m.source) };
        let rest = path.strip_prefix(&m.target).unwrap_or(Path::new("")).to_path_buf();
        Ok(Some((source, rest)))
    }

    /// The host path of container path `path` (to write into): through the
    /// mount that covers it (volume or bind), else in the root filesystem.
    /// Symlinks resolve inside the container's root, never out of it.
    fn host_path(&self, c: &Container, rootfs: &Path, path: &str) -> Result<PathBuf> {
        let path = clean(path)?;
        if let Some((source, rest)) = self.covering(c, &path)? {
            return Ok(wharf_runtime::mounts::secure_join(&source, &rest)?);
        }
        Ok(wharf_runtime::mounts::secure_join(rootfs, &path)?)
    }

    /// The node at container path `path` (to read): resolved by the confined
    /// resolver inside the covering mount's source or else the root
    /// filesystem; a final symlink is followed inside that root too. `None`
    /// if nothing is there.
    fn node(&self, c: &Container, rootfs: &Path, path: &str) -> Result<Option<Node>> {
        let path = clean(path)?;
        let (root, rel) = match self.covering(c, &path)? {
            Some((source, rest)) => (source, rest),
            None => (rootfs.to_path_buf(), path),
        };
        Ok(Root::open(&root)?.node_following(&rel)?)
    }

    /// `export`: the container's whole filesystem as a tar stream, walked on
    /// descriptors ([`tar_node`]).
    pub fn export(&self, key: &str, out: impl Write) -> Result<()> {
        let c = self.get(key)?;
        self.with_rootfs(&c, |root| {
            let top = Root::open(root)?.node(Path::new("/"))?;
            let top = top.ok_or_else(|| EngineError::NotFound(format!("{}: no root filesystem", root.display())))?;
            tar_node(top, Path::new(""), out)
        })
    }

    /// `GET /containers/{id}/changes`: what the container changed in its
    /// writable layer, sorted by path.
    /// The mountpoints the engine creates (Docker's "init layer") are not
    /// the container's changes; a container never started has none.
    pub fn changes(&self, key: &str) -> Result<Vec<Change>> {
        let c = self.get(key)?;
        match self.images.changes(&c.id) {
            Ok(list) => Ok(without_mountpoints(list)),
            Err(wharf_image::ImageError::SnapshotNotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Docker's `SizeRw`: bytes of the files the container wrote.
    pub fn rw_size(&self, key: &str) -> Result<u64> {
        Ok(self.changes(key)?.iter().map(|c| c.size).sum())
    }

    fn stat_of(node: Option<&Node>, path: &str) -> Result<PathStat> {
        let node = node.ok_or_else(|| EngineError::NotFound(format!("Could not find the file {path} in container")))?;
        let st = node.stat();
        let name = Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into());
        let link_target = match node.kind() {
            Kind::Symlink => node.read_link().map(|t| t.display().to_string()).unwrap_or_default(),
            _ => String::new(),
        };
        let mtime = u64::try_from(st.st_mtime)
            .ok()
            .map(|s| std::time::UNIX_EPOCH + std::time::Duration::new(s, st.st_mtime_nsec.clamp(0, 999_999_999) as u32))
            .map(wharf_common::time::rfc3339)
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
        Ok(PathStat { name, size: st.st_size.max(0) as u64, mode: go_mode(st.st_mode), mtime, link_target })
    }

    /// `HEAD /archive`: what is at `path`.
    pub fn stat_path(&self, key: &str, path: &str) -> Result<PathStat> {
        let c = self.get(key)?;
        self.with_rootfs(&c, |root| Self::stat_of(self.node(&c, root, path)?.as_ref(), path))
    }

    /// `GET /archive`: `path` as a tar (entries under its base name), and its
    /// stat. Read on descriptors ([`tar_node`]): no symlink is followed on
    /// the host side, no FIFO or device opened.
    pub fn copy_out(&self, key: &str, path: &str, out: impl Write) -> Result<PathStat> {
        let c = self.get(key)?;
        self.with_rootfs(&c, |root| {
            let node = self.node(&c, root, path)?;
            let stat = Self::stat_of(node.as_ref(), path)?;
            let name = if stat.name == "/" { PathBuf::from(".") } else { PathBuf::from(&stat.name) };
            if let Some(node) = node {
                tar_node(node, &name, out)?;
            }
            Ok(stat)
        })
    }

    /// `PUT /archive`: extracts a tar into directory `path` (which must exist).
    pub fn copy_in(&self, key: &str, path: &str, tar: impl Read) -> Result<()> {
        let c = self.get(key)?;
        // Docker refuses copies into a read-only root filesystem or mount.
        let host_and_ro = |root: &Path| -> Result<(PathBuf, bool)> {
            let host = self.host_path(&c, root, path)?;
            let p = clean(path)?;
            let mount_ro = c
                .opts
                .mounts
                .iter()
                .filter(|m| p.starts_with(&m.target))
                .max_by_key(|m| m.target.len())
                .map(|m| m.read_only);
            Ok((host, mount_ro.unwrap_or(c.opts.read_only)))
        };
        self.with_rootfs(&c, |root| {
            let (host, read_only) = host_and_ro(root)?;
            if read_only {
                return Err(EngineError::Conflict(format!(
                    "container rootfs is marked read-only: cannot copy to {path}"
                )));
            }
            let md = fs::metadata(&host)
                .map_err(|_| EngineError::NotFound(format!("Could not find the file {path} in container")))?;
            if !md.is_dir() {
                return Err(EngineError::Invalid {
                    what: "copy destination".into(),
                    reason: format!("{path} is not a directory"),
                });
            }
            wharf_image::unpack::unpack_layer(tar, &host)?;
            Ok(())
        })
    }

    /// A builder's COPY/ADD: unpacks `tar` into directory `dest` of the
    /// container's root filesystem, creating it (and its parents) if missing.
    pub fn add_files(&self, key: &str, dest: &str, tar: impl Read) -> Result<()> {
        let c = self.get(key)?;
        self.with_rootfs(&c, |root| {
            let host = self.host_path(&c, root, dest)?;
            fs::create_dir_all(&host).map_err(EngineError::io("create", &host))?;
            wharf_image::unpack::unpack_layer(tar, &host)?;
            Ok(())
        })
    }

    /// `commit`: the container's changes as a new image whose config is the
    /// container's (Cmd, Entrypoint, Env, WorkingDir, User, Labels…) with
    /// `changes` applied.
    pub fn commit(&self, key: &str, req: &CommitRequest) -> Result<wharf_image::Image> {
        let c = self.get(key)?;
        let (_, base) = self.images.resolve(&c.image_id)?;
        let mut run = Images::run_config(&base);
        if !c.opts.cmd.is_empty() {
            run.cmd = Some(c.opts.cmd.clone());
        }
        if let Some(ep) = &c.opts.entrypoint {
            run.entrypoint = (!ep.is_empty()).then(|| ep.clone());
            if c.opts.cmd.is_empty() {
                run.cmd = None;
            }
        }
        let mut env = run.env.take().unwrap_or_default();
        for kv in &c.opts.env {
            let k = kv.split('=').next().unwrap_or(kv);
            env.retain(|e| e.split('=').next() != Some(k));
            env.push(kv.clone());
        }
        run.env = Some(env);
        if let Some(w) = &c.opts.workdir {
            run.working_dir = Some(w.clone());
        }
        if let Some(u) = &c.opts.user {
            run.user = Some(u.clone());
        }
        if !c.labels.is_empty() {
            run.labels = Some(c.labels.clone());
        }
        if let Some(sig) = &c.stop_signal {
            run.stop_signal = Some(sig.clone());
        }
        run.apply_changes(&req.changes)?;
        // A container that exits meanwhile needs no pause (its record says
        // running a moment longer than its process lives).
        let rt = self.runtime_for(&c.id);
        let paused_here = match req.pause && c.state.status == Status::Running {
            false => false,
            true => match rt.pause(&c.id) {
                Ok(()) => true,
                Err(e) => match rt.state(&c.id) {
                    Ok(s) if s.status == wharf_runtime::Status::Running => return Err(e.into()),
                    _ => false,
                },
            },
        };
        let result = self.images.commit(
            &c.id,
            &base,
            run,
            req.comment.as_deref(),
            req.author.as_deref(),
            req.reference.as_deref(),
        );
        if paused_here {
            let _ = rt.resume(&c.id);
        }
        let img = result?;
        let attrs = [("comment".to_string(), req.comment.clone().unwrap_or_default())];
        self.emit(&c.event("commit", &attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect::<Vec<_>>()));
        Ok(img)
    }
}

/// Where the engine mounts over the image's tree: what it creates there
/// to mount on is its own, as Docker's init layer.
const MOUNTPOINTS: &[&str] = &["/dev", "/proc", "/sys", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// `list` without the empty mountpoints the engine added; a directory
/// changed only to hold one is gone too, and one that holds the
/// container's own changes as well is reported modified (Docker's init
/// layer made it).
fn without_mountpoints(list: Vec<Change>) -> Vec<Change> {
    let is_mountpoint =
        |c: &Change| c.kind == ChangeKind::Added && c.size == 0 && MOUNTPOINTS.contains(&c.path.as_str());
    let holds = |dir: &str, p: &str| p.len() > dir.len() && p.starts_with(dir) && p.as_bytes()[dir.len()] == b'/';
    let init_dir = |c: &Change| c.kind != ChangeKind::Deleted && MOUNTPOINTS.iter().any(|m| holds(&c.path, m));
    let kept: Vec<Change> = list.iter().filter(|c| !is_mountpoint(c)).cloned().collect();
    kept.iter()
        .filter_map(|c| {
            if !init_dir(c) {
                return Some(c.clone());
            }
            let own = kept.iter().any(|o| holds(&c.path, &o.path) && !init_dir(o));
            own.then(|| Change { kind: ChangeKind::Modified, ..c.clone() })
        })
        .collect()
}

/// `node` (a file, link or tree inside a [`Root`]) as a tar whose entries
/// are named under `name` ("" for the tree's content only), walked on
/// descriptors: directories are listed through their own descriptor and
/// their entries reached one name at a time, never following a symlink;
/// symlinks are stored as symlinks (`readlinkat` on the `O_PATH`
/// descriptor), hard links as links, device nodes and FIFOs as nodes (never
/// opened); sockets are skipped (tar has no type for them). Regular files
/// are read through [`Node::open`] and exactly their `fstat` size is
/// stored (a file that grows is cut there, one that shrinks zero-padded), so
/// the archive stays well-formed whatever the tree's owner does meanwhile.
pub fn tar_node(node: Node, name: &Path, out: impl Write) -> Result<()> {
    let mut t = tar::Builder::new(out);
    t.mode(tar::HeaderMode::Complete);
    let mut seen = Inodes::new();
    // Directories being walked: their root, their entries' name prefix, the names still to do.
    let mut stack: Vec<(Root, PathBuf, std::vec::IntoIter<OsString>)> = Vec::new();
    if let Some(dir) = append_node(&mut t, node, name, &mut seen)? {
        let names = dir.list()?;
        stack.push((dir, name.to_path_buf(), names.into_iter()));
    }
    while let Some((dir, prefix, names)) = stack.last_mut() {
        let Some(entry) = names.next() else {
            stack.pop();
            continue;
        };
        // Gone since it was listed: nothing to archive.
        let Some(child) = dir.child(&entry)? else { continue };
        let child_name = prefix.join(&entry);
        if let Some(sub) = append_node(&mut t, child, &child_name, &mut seen)? {
            let names = sub.list()?;
            stack.push((sub, child_name, names.into_iter()));
        }
    }
    t.into_inner().and_then(|mut w| w.flush()).map_err(EngineError::io("archive", name))
}

type Inodes = std::collections::HashMap<(u64, u64), PathBuf>;

/// One entry of [`tar_node`]; a directory is returned as a [`Root`] to descend into.
fn append_node<W: Write>(t: &mut tar::Builder<W>, node: Node, name: &Path, seen: &mut Inodes) -> Result<Option<Root>> {
    let st = *node.stat();
    let fail = |e: std::io::Error| EngineError::Io { context: "archive", path: node.path().to_path_buf(), source: e };
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    match node.kind() {
        Kind::Directory => {
            if !name.as_os_str().is_empty() {
                h.set_entry_type(tar::EntryType::Directory);
                t.append_data(&mut h, name, std::io::empty()).map_err(fail)?;
            }
            return Ok(Some(node.into_root()?));
        }
        Kind::Symlink => {
            h.set_entry_type(tar::EntryType::Symlink);
            t.append_link(&mut h, name, node.read_link()?).map_err(fail)?;
        }
        Kind::Regular => {
            if st.st_nlink > 1 {
                let key = (st.st_dev, st.st_ino);
                if let Some(first) = seen.get(&key) {
                    h.set_entry_type(tar::EntryType::Link);
                    t.append_link(&mut h, name, first).map_err(fail)?;
                    return Ok(None);
                }
                seen.insert(key, name.to_path_buf());
            }
            // Exactly the stat size: a file that grows is cut, one that shrinks zero-padded.
            let size = st.st_size.max(0) as u64;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(size);
            let data = node.open()?.take(size).chain(std::io::repeat(0)).take(size);
            t.append_data(&mut h, name, data).map_err(fail)?;
        }
        Kind::CharDevice | Kind::BlockDevice | Kind::Fifo => {
            h.set_entry_type(match node.kind() {
                Kind::CharDevice => tar::EntryType::Char,
                Kind::BlockDevice => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            });
            h.set_device_major(nix::sys::stat::major(st.st_rdev) as u32).map_err(fail)?;
            h.set_device_minor(nix::sys::stat::minor(st.st_rdev) as u32).map_err(fail)?;
            t.append_data(&mut h, name, std::io::empty()).map_err(fail)?;
        }
        Kind::Socket => {}
    }
    Ok(None)
}

/// Docker's volume copy-up: the content, owner and mode of directory
/// `target` of the container's root (`rootfs`) into the (empty) volume
/// directory `data`; nothing happens if `target` is not a directory there.
/// `target` is resolved by the confined resolver (symlinks on the way, and a
/// final one, resolve inside the rootfs as the container will see them) and
/// walked on descriptors ([`tar_node`]): no symlink is followed on the host,
/// symlinks are copied as symlinks, regular files read through
/// [`Node::open`], and device nodes and FIFOs recreated as nodes without
/// being opened (as Docker's `fs.CopyDir`, which `mknod`s them); sockets are
/// skipped.
pub fn copy_up(rootfs: &Root, target: &Path, data: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let src = match rootfs.node_following(target) {
        Ok(Some(src)) if src.kind() == Kind::Directory => src,
        Ok(_) => return Ok(()),
        Err(e) => {
            tracing::warn!("volume copy-up from {}: {e}", target.display());
            return Ok(());
        }
    };
    let st = *src.stat();
    let mut tar = Vec::new();
    tar_node(src, Path::new(""), &mut tar)?;
    wharf_image::unpack::unpack_layer(&tar[..], data)?;
    std::os::unix::fs::chown(data, Some(st.st_uid), Some(st.st_gid)).map_err(EngineError::io("chown", data))?;
    fs::set_permissions(data, fs::Permissions::from_mode(st.st_mode & 0o7777))
        .map_err(EngineError::io("chmod", data))?;
    Ok(())
}

/// `docker commit`'s options.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `repo[:tag]`; None leaves the image untagged.
    pub reference: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub changes: Vec<String>,
    pub pause: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths() {
        assert_eq!(clean("/a/../b/./c/").unwrap(), PathBuf::from("/b/c"));
        assert_eq!(clean("/../..").unwrap(), PathBuf::from("/"));
        assert!(clean("rel").is_err());
    }

    #[test]
    fn mountpoints_are_not_changes() {
        use ChangeKind::*;
        let ch = |path: &str, kind, size| Change { path: path.into(), kind, size };
        let list = vec![
            ch("/bin", Modified, 0),
            ch("/bin/ls", Deleted, 0),
            ch("/dev", Added, 0),
            ch("/etc", Added, 0),
            ch("/etc/hosts", Added, 0),
            ch("/etc/passwd", Added, 5),
            ch("/proc", Added, 0),
            ch("/run", Added, 0),
        ];
        let got: Vec<(String, ChangeKind)> = without_mountpoints(list).into_iter().map(|c| (c.path, c.kind)).collect();
        let want =
            [("/bin", Modified), ("/bin/ls", Deleted), ("/etc", Modified), ("/etc/passwd", Added), ("/run", Added)];
        assert_eq!(got, want.map(|(p, k)| (p.to_string(), k)));
        // An /etc that only holds mountpoints is the engine's; one the image had and a written /etc/hosts stay.
        assert!(without_mountpoints(vec![ch("/etc", Added, 0), ch("/etc/hosts", Added, 0)]).is_empty());
        assert!(without_mountpoints(vec![ch("/etc", Modified, 0), ch("/etc/hosts", Added, 0)]).is_empty());
        assert_eq!(without_mountpoints(vec![ch("/etc/hosts", Added, 3)]).len(), 1);
    }

    /// Runs `f` on a thread; a hang (a FIFO opened) fails the test.
    fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(5)).expect("the operation blocked")
    }

    /// A container root with a tree at /data: a file, a hard link, a long
    /// name, a FIFO, a symlink to a host file and one to a host directory;
    /// /vol -> /data and /esc -> (a host directory); the host directory outside.
    fn rootfs() -> (tempfile::TempDir, tempfile::TempDir) {
        use std::os::unix::fs::symlink;
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "host secret\n").unwrap();
        let data = root.path().join("data");
        fs::create_dir_all(data.join("sub")).unwrap();
        fs::write(data.join("f"), "made\n").unwrap();
        fs::hard_link(data.join("f"), data.join("sub/h")).unwrap();
        fs::write(data.join("sub").join("n".repeat(150)), "long\n").unwrap();
        nix::unistd::mkfifo(&data.join("pipe"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        symlink(outside.path().join("secret"), data.join("leak")).unwrap();
        symlink(outside.path(), data.join("out")).unwrap();
        symlink("/data", root.path().join("vol")).unwrap();
        symlink(outside.path(), root.path().join("esc")).unwrap();
        (root, outside)
    }

    #[test]
    fn trees_are_archived_on_descriptors() {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let (root, outside) = rootfs();
        let r = Root::open(root.path()).unwrap();
        let node = r.node(Path::new("/data")).unwrap().unwrap();
        let tar = bounded(move || {
            let mut out = Vec::new();
            tar_node(node, Path::new("d"), &mut out).unwrap();
            out
        });
        assert!(!tar.windows(11).any(|w| w == b"host secret"), "the host file was read");
        let back = tempfile::tempdir().unwrap();
        wharf_image::unpack::unpack_layer(&tar[..], back.path()).unwrap();
        let d = back.path().join("d");
        assert_eq!(fs::read_to_string(d.join("f")).unwrap(), "made\n");
        assert_eq!(fs::read_to_string(d.join("sub").join("n".repeat(150))).unwrap(), "long\n");
        assert_eq!(fs::metadata(d.join("f")).unwrap().ino(), fs::metadata(d.join("sub/h")).unwrap().ino());
        assert!(fs::symlink_metadata(d.join("pipe")).unwrap().file_type().is_fifo());
        assert_eq!(fs::read_link(d.join("leak")).unwrap(), outside.path().join("secret"));
        assert_eq!(fs::read_link(d.join("out")).unwrap(), outside.path());
        // The stat docker cp reports, from the descriptor (a FIFO is not opened).
        let r = Root::open(root.path()).unwrap();
        let pipe = r.node(Path::new("data/pipe")).unwrap();
        let st = bounded(move || Engine::stat_of(pipe.as_ref(), "/data/pipe").unwrap());
        assert_eq!((st.name.as_str(), st.mode & GO_MODE_PIPE), ("pipe", GO_MODE_PIPE));
        let leak = r.node(Path::new("data/leak")).unwrap();
        let st = Engine::stat_of(leak.as_ref(), "/data/leak").unwrap();
        assert_eq!(st.link_target, outside.path().join("secret").display().to_string());
        // A path through a symlinked directory pointing out resolves inside the root.
        assert!(r.node_following(Path::new("/data/out/secret")).unwrap().is_none());
        assert!(r.node_following(Path::new("/data/leak")).unwrap().is_none());
        assert!(matches!(Engine::stat_of(None, "/x"), Err(EngineError::NotFound(_))));
    }

    #[test]
    fn copy_up_stays_in_the_root_and_never_opens_fifos() {
        use std::os::unix::fs::FileTypeExt;
        let (root, outside) = rootfs();
        let r = Root::open(root.path()).unwrap();
        let vol = tempfile::tempdir().unwrap();
        let v = vol.path().to_path_buf();
        bounded(move || copy_up(&r, Path::new("/vol"), &v).unwrap());
        assert_eq!(fs::read_to_string(vol.path().join("f")).unwrap(), "made\n");
        assert!(fs::symlink_metadata(vol.path().join("pipe")).unwrap().file_type().is_fifo());
        assert_eq!(fs::read_link(vol.path().join("leak")).unwrap(), outside.path().join("secret"));
        assert!(fs::symlink_metadata(vol.path().join("out")).unwrap().file_type().is_symlink());
        // /esc -> the host directory, /data/out/ -> the host directory: resolved
        // inside the root, where there is nothing; the host's files are not copied.
        let r = Root::open(root.path()).unwrap();
        for target in ["/esc", "/data/out", "/vol/out"] {
            let empty = tempfile::tempdir().unwrap();
            copy_up(&r, Path::new(target), empty.path()).unwrap();
            assert_eq!(fs::read_dir(empty.path()).unwrap().count(), 0, "{target}");
        }
    }

    #[test]
    fn go_file_modes() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let md = fs::symlink_metadata(tmp.path()).unwrap();
        assert_eq!(go_mode(md.mode()) & GO_MODE_DIR, GO_MODE_DIR);
        let f = tmp.path().join("f");
        fs::write(&f, "x").unwrap();
        fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
        assert_eq!(go_mode(fs::metadata(&f).unwrap().mode()), 0o755 | GO_MODE_SETUID);
        std::os::unix::fs::symlink("f", tmp.path().join("l")).unwrap();
        assert_eq!(
            go_mode(fs::symlink_metadata(tmp.path().join("l")).unwrap().mode()) & GO_MODE_SYMLINK,
            GO_MODE_SYMLINK
        );
    }
}

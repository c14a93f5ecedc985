//! A container's filesystem from the outside: `export` (the whole tree),
//! `docker cp` (stat, copy out, copy in — through volumes and binds too) and
//! `commit` (its writable layer as a new image). A container that is not
//! running gets its root mounted for the duration of the call.

use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use nix::mount::{umount2, MntFlags};
use serde::Serialize;
use wharf_image::Images;

use crate::containers::{Container, Status};
use crate::error::{EngineError, Result};
use crate::run::Engine;

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

fn go_mode(md: &fs::Metadata) -> u32 {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let ft = md.file_type();
    let m = md.mode();
    let mut out = m & 0o777;
    for (bit, go) in [(0o4000, GO_MODE_SETUID), (0o2000, GO_MODE_SETGID), (0o1000, GO_MODE_STICKY)] {
        if m & bit != 0 {
            out |= go;
        }
    }
    if ft.is_dir() {
        out |= GO_MODE_DIR;
    } else if ft.is_symlink() {
        out |= GO_MODE_SYMLINK;
    } else if ft.is_char_device() {
        out |= GO_MODE_DEVICE | GO_MODE_CHAR;
    } else if ft.is_block_device() {
        out |= GO_MODE_DEVICE;
    } else if ft.is_fifo() {
        out |= GO_MODE_PIPE;
    } else if ft.is_socket() {
        out |= GO_MODE_SOCKET;
    }
    out
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
                self.runtime().pause(&c.id)?;
                let result = f(&dir.join("rootfs"));
                let resumed = self.runtime().resume(&c.id);
                let out = result?;
                resumed?;
                return Ok(out);
            }
            _ => {}
        }
        let (_, img) = self.images.resolve(&c.image_id)?;
        let specs = self.images.prepare_rootfs(&c.id, &img)?;
        let view = dir.join(format!("view-{}", &crate::run::new_id()?[..12]));
        self.mount_rootfs(&specs, &view)?;
        let result = f(&view);
        let _ = umount2(&view, MntFlags::MNT_DETACH);
        let _ = fs::remove_dir(&view);
        result
    }

    /// The host path of container path `path`: through the mount that covers
    /// it (volume or bind), else in the root filesystem. Symlinks resolve
    /// inside the container's root, never out of it.
    fn host_path(&self, c: &Container, rootfs: &Path, path: &str) -> Result<PathBuf> {
        let path = clean(path)?;
        let covering = c
            .opts
            .mounts
            .iter()
            .filter(|m| m.typ != "tmpfs" && path.starts_with(&m.target))
            .max_by_key(|m| m.target.len());
        if let Some(m) = covering {
            let source = if m.typ == "volume" { self.volume(&m.source)?.mountpoint } else { PathBuf::from(&m.source) };
            let rest = path.strip_prefix(&m.target).unwrap_or(Path::new(""));
            return Ok(wharf_runtime::mounts::secure_join(&source, rest)?);
        }
        Ok(wharf_runtime::mounts::secure_join(rootfs, &path)?)
    }

    /// `export`: the container's whole filesystem as a tar stream.
    pub fn export(&self, key: &str, out: impl Write) -> Result<()> {
        let c = self.get(key)?;
        self.with_rootfs(&c, |root| Ok(wharf_image::archive::export_dir(root, out)?))
    }

    fn stat_at(host: &Path, path: &str) -> Result<PathStat> {
        let md = fs::symlink_metadata(host)
            .map_err(|_| EngineError::NotFound(format!("Could not find the file {path} in container")))?;
        let name = Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into());
        let link_target = if md.file_type().is_symlink() {
            fs::read_link(host).map(|t| t.display().to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        let mtime = md
            .modified()
            .map(|t| humantime::format_rfc3339_nanos(t).to_string())
            .unwrap_or_else(|_| "0001-01-01T00:00:00Z".into());
        Ok(PathStat { name, size: md.len(), mode: go_mode(&md), mtime, link_target })
    }

    /// `HEAD /archive`: what is at `path`.
    pub fn stat_path(&self, key: &str, path: &str) -> Result<PathStat> {
        let c = self.get(key)?;
        self.with_rootfs(&c, |root| Self::stat_at(&self.host_path(&c, root, path)?, path))
    }

    /// `GET /archive`: `path` as a tar (entries under its base name), and its stat.
    pub fn copy_out(&self, key: &str, path: &str, out: impl Write) -> Result<PathStat> {
        let c = self.get(key)?;
        self.with_rootfs(&c, |root| {
            let host = self.host_path(&c, root, path)?;
            let stat = Self::stat_at(&host, path)?;
            let name = if stat.name == "/" { PathBuf::from(".") } else { PathBuf::from(&stat.name) };
            wharf_image::archive::tar_path(&host, &name, out)?;
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
        let paused_here = req.pause && c.state.status == Status::Running;
        if paused_here {
            self.runtime().pause(&c.id)?;
        }
        let result = self.images.commit(
            &c.id,
            &base,
            run,
            req.comment.as_deref(),
            req.author.as_deref(),
            req.reference.as_deref(),
        );
        if paused_here {
            let _ = self.runtime().resume(&c.id);
        }
        let img = result?;
        let attrs = [("comment".to_string(), req.comment.clone().unwrap_or_default())];
        self.emit(&c.event("commit", &attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect::<Vec<_>>()));
        Ok(img)
    }
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
    fn go_file_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let md = fs::symlink_metadata(tmp.path()).unwrap();
        assert_eq!(go_mode(&md) & GO_MODE_DIR, GO_MODE_DIR);
        let f = tmp.path().join("f");
        fs::write(&f, "x").unwrap();
        fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
        assert_eq!(go_mode(&fs::metadata(&f).unwrap()), 0o755 | GO_MODE_SETUID);
        std::os::unix::fs::symlink("f", tmp.path().join("l")).unwrap();
        assert_eq!(go_mode(&fs::symlink_metadata(tmp.path().join("l")).unwrap()) & GO_MODE_SYMLINK, GO_MODE_SYMLINK);
    }
}

//! Building the container's filesystem view inside its new mount namespace:
//! spec mounts, /dev, pivot_root, masked and read-only paths.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::statvfs::{statvfs, FsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::cgroups::Hierarchy;
use crate::error::{Result, RuntimeError};

/// Resolves `unsafe_path` inside `root` the way the container will see it
/// (the one resolver: [`crate::confined::join`]).
pub fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    Ok(crate::confined::join(root, unsafe_path)?)
}

/// Mount flags and propagation parsed from a mount's option list.
#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// Flags to clear (e.g. `rw`, `suid`) — only meaningful on remount.
    pub clear: MsFlags,
    pub propagation: MsFlags,
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            clear: MsFlags::empty(),
            propagation: MsFlags::empty(),
            data: Vec::new(),
            bind: false,
            recursive: false,
        }
    }
}

pub fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => {
                o.bind = true;
                (MsFlags::MS_BIND, MsFlags::empty())
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty())
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable" | "runbindable" => {
                o.propagation |= propagation_flags(opt).unwrap_or(MsFlags::empty());
                continue;
            }
            "tmpcopyup" | "idmap" | "ridmap" | "defaults" => continue,
            other => {
                o.data.push(other.to_string());
                continue;
            }
        };
        o.flags |= set;
        o.flags &= !clear;
        o.clear |= clear;
    }
    o
}

/// `rslave` → MS_SLAVE|MS_REC, etc.
pub fn propagation_flags(name: &str) -> Option<MsFlags> {
    let (rec, base) = match name.strip_prefix('r') {
        Some(rest) if rest != "o" => (MsFlags::MS_REC, rest),
        _ => (MsFlags::empty(), name),
    };
    let flag = match base {
        "private" => MsFlags::MS_PRIVATE,
        "shared" => MsFlags::MS_SHARED,
        "slave" => MsFlags::MS_SLAVE,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        _ => return None,
    };
    Some(flag | rec)
}

fn sys<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> RuntimeError + 'a {
    move |e| RuntimeError::Io { context, path: path.to_path_buf(), source: std::io::Error::from(e) }
}

/// Flags a bind remount must keep: those locked on the source mount.
fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = statvfs(path) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs_flag, ms_flag) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs_flag) {
            out |= ms_flag;
        }
    }
    out
}

fn bind_remount(path: &Path, extra: MsFlags) -> Result<()> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | locked_flags(path) | extra;
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>).map_err(sys("remount", path))
}

/// What [`prepare_rootfs`] needs to know beyond the spec.
pub struct RootfsContext<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub user_ns: bool,
    pub cgroup_ns: bool,
    pub cgroup_path: &'a Path,
    pub hierarchy: &'a Hierarchy,
}

/// Sets up mounts and /dev under the rootfs. Runs in the container's mount
/// namespace, before pivot_root.
pub fn prepare_rootfs(ctx: &RootfsContext<'_>) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    let propagation = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .map(|p| {
            propagation_flags(p).ok_or_else(|| RuntimeError::InvalidSpec(format!("rootfsPropagation {p:?} is unknown")))
        })
        .transpose()?;
    // Keep our mounts from leaking to the host: slave (or the requested private) recursively.
    let root_prop = match propagation {
        Some(p) if p.contains(MsFlags::MS_PRIVATE) => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    mount(None::<&str>, "/", None::<&str>, root_prop, None::<&str>).map_err(sys("make / slave", Path::new("/")))?;
    // pivot_root needs the new root to be a mount point.
    mount(Some(ctx.rootfs), ctx.rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(sys("bind rootfs", ctx.rootfs))?;

    let mut dev_is_tmpfs = false;
    let mut dev_bound = false;
    for m in ctx.spec.mounts().iter().flatten() {
        if m.destination() == Path::new("/dev") {
            let opts = parse_options(m.options().as_deref().unwrap_or_default());
            if opts.bind || m.typ().as_deref() == Some("bind") {
                dev_bound = true;
            } else {
                dev_is_tmpfs = true;
            }
        }
        mount_one(ctx, m)?;
    }
    if !dev_bound {
        create_devices(ctx.rootfs, linux.and_then(|l| l.devices().as_deref()).unwrap_or_default(), ctx.user_ns)?;
    }
    if dev_is_tmpfs {
        dev_symlinks(ctx.rootfs)?;
    }
    Ok(())
}

fn mount_one(ctx: &RootfsContext<'_>, m: &Mount) -> Result<()> {
    let opts = parse_options(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().clone().unwrap_or_default();
    let dest = secure_join(ctx.rootfs, m.destination())?;
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(ctx, &dest, &opts);
    }
    let bind = opts.bind || typ == "bind";
    let data = opts.data.join(",");
    let data = (!data.is_empty()).then_some(data);
    // SELinux labels every filesystem runc labels: not proc and sysfs (labelled by policy),
    // nor mqueue (labelled per file); bind mounts take no data.
    let data = match typ.as_str() {
        "proc" | "sysfs" | "mqueue" => data,
        _ => crate::lsm::with_mount_label(data, crate::lsm::mount_label(ctx.spec)),
    };
    if bind {
        let src = m.source().clone().unwrap_or_default();
        let src = if src.is_absolute() { src } else { ctx.bundle.join(src) };
        let md = fs::metadata(&src).map_err(RuntimeError::io("bind source", &src))?;
        make_mountpoint(&dest, md.is_dir())?;
        let mut flags = MsFlags::MS_BIND;
        if opts.recursive {
            flags |= MsFlags::MS_REC;
        }
        mount(Some(&src), &dest, None::<&str>, flags, None::<&str>).map_err(sys("bind mount", &dest))?;
        let extra = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            bind_remount(&dest, extra)?;
        }
    } else {
        make_mountpoint(&dest, true)?;
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(&typ));
        let result = mount(Some(&source), &dest, Some(typ.as_str()), opts.flags, data.as_deref());
        match result {
            // sysfs cannot be mounted without owning the network namespace: bind the host's, read-only.
            Err(nix::Error::EPERM) if typ == "sysfs" => {
                mount(Some("/sys"), &dest, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                    .map_err(sys("bind /sys", &dest))?;
                bind_remount(&dest, MsFlags::MS_RDONLY)?;
            }
            // mqueue needs its own IPC namespace; fall back to the host's like runc.
            Err(nix::Error::EPERM) if typ == "mqueue" => {
                mount(Some("/dev/mqueue"), &dest, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                    .map_err(sys("bind /dev/mqueue", &dest))?;
            }
            r => r.map_err(|e| RuntimeError::Io {
                context: "mount",
                path: m.destination().clone(),
                source: std::io::Error::other(format!("{typ}: {e}")),
            })?,
        }
    }
    if !opts.propagation.is_empty() {
        mount(None::<&str>, &dest, None::<&str>, opts.propagation, None::<&str>).map_err(sys("propagation", &dest))?;
    }
    Ok(())
}

/// `/sys/fs/cgroup` inside the container: cgroup2 on v2 hosts; on v1 a tmpfs
/// holding one mount per hierarchy showing only the container's own cgroup.
fn mount_cgroup(ctx: &RootfsContext<'_>, dest: &Path, opts: &MountOptions) -> Result<()> {
    make_mountpoint(dest, true)?;
    let flags = opts.flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let label = crate::lsm::mount_label(ctx.spec);
    match ctx.hierarchy {
        Hierarchy::V2 { root } => {
            if ctx.cgroup_ns {
                let data = crate::lsm::with_mount_label(None, label);
                mount(Some("cgroup2"), dest, Some("cgroup2"), flags, data.as_deref())
                    .map_err(sys("mount cgroup2", dest))?;
            } else {
                let src = root.join(ctx.cgroup_path);
                mount(Some(&src), dest, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                    .map_err(sys("bind cgroup", dest))?;
                if flags.contains(MsFlags::MS_RDONLY) {
                    bind_remount(dest, MsFlags::MS_RDONLY)?;
                }
            }
        }
        Hierarchy::V1(mounts) => {
            let tmpfs_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            let data = crate::lsm::with_mount_label(Some("mode=755".into()), label);
            mount(Some("tmpfs"), dest, Some("tmpfs"), tmpfs_flags, data.as_deref())
                .map_err(sys("mount cgroup tmpfs", dest))?;
            for m in mounts {
                let name = m.mountpoint.file_name().map(PathBuf::from).unwrap_or_default();
                let target = dest.join(&name);
                fs::create_dir_all(&target).map_err(RuntimeError::io("mkdir", &target))?;
                let data = m.subsystems.join(",");
                // A v1 cgroupfs can only be mounted from the initial user namespace:
                // elsewhere (or without a cgroup namespace) bind the container's own directory.
                let mounted = ctx.cgroup_ns
                    && !ctx.user_ns
                    && mount(Some("cgroup"), &target, Some("cgroup"), flags, Some(data.as_str())).is_ok();
                if !mounted {
                    let src = m.mountpoint.join(ctx.cgroup_path);
                    mount(Some(&src), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                        .map_err(sys("bind cgroup", &target))?;
                    bind_remount(&target, flags & MsFlags::MS_RDONLY)?;
                }
                // cpu,cpuacct is also reachable as cpu and cpuacct.
                if m.subsystems.len() > 1 {
                    for sub in &m.subsystems {
                        let link = dest.join(sub);
                        if !link.exists() && !sub.starts_with("name=") {
                            symlink(&name, &link).map_err(RuntimeError::io("symlink", &link))?;
                        }
                    }
                }
            }
            if flags.contains(MsFlags::MS_RDONLY) {
                mount(
                    None::<&str>,
                    dest,
                    None::<&str>,
                    MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | tmpfs_flags,
                    None::<&str>,
                )
                .map_err(sys("remount cgroup tmpfs", dest))?;
            }
        }
    }
    Ok(())
}

fn make_mountpoint(dest: &Path, dir: bool) -> Result<()> {
    if dir {
        fs::create_dir_all(dest).map_err(RuntimeError::io("create mount point", dest))
    } else {
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(RuntimeError::io("create mount point", parent))?;
        }
        if !dest.exists() {
            fs::File::create(dest).map_err(RuntimeError::io("create mount point", dest))?;
        }
        Ok(())
    }
}

/// Device nodes every container gets (runc's default set).
fn default_devices() -> Vec<(&'static str, u64, u64)> {
    vec![("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
}

/// path, kind, major, minor, mode, owner (uid, gid)
type DeviceNode = (PathBuf, SFlag, u64, u64, u32, Option<(u32, u32)>);

fn create_devices(rootfs: &Path, devices: &[LinuxDevice], user_ns: bool) -> Result<()> {
    let dev = rootfs.join("dev");
    fs::create_dir_all(&dev).map_err(RuntimeError::io("mkdir", &dev))?;
    let mut all: Vec<DeviceNode> = default_devices()
        .into_iter()
        .map(|(n, maj, min)| (PathBuf::from("/dev").join(n), SFlag::S_IFCHR, maj, min, 0o666, None))
        .collect();
    for d in devices {
        let kind = match d.typ() {
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            _ => SFlag::S_IFCHR,
        };
        let owner = Some((d.uid().unwrap_or(0), d.gid().unwrap_or(0)));
        all.retain(|e| e.0 != *d.path());
        all.push((d.path().clone(), kind, d.major() as u64, d.minor() as u64, d.file_mode().unwrap_or(0o666), owner));
    }
    for (path, kind, major, minor, mode, owner) in all {
        let dest = secure_join(rootfs, &path)?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(RuntimeError::io("mkdir", parent))?;
        }
        if user_ns {
            // Unprivileged users cannot mknod: bind the host's node instead.
            make_mountpoint(&dest, false)?;
            mount(Some(&path), &dest, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .map_err(sys("bind device", &dest))?;
            continue;
        }
        let _ = fs::remove_file(&dest);
        mknod(&dest, kind, Mode::from_bits_truncate(mode & 0o7777), makedev(major, minor))
            .map_err(sys("mknod", &dest))?;
        // mknod honours the umask; set the exact mode.
        fs::set_permissions(&dest, fs::Permissions::from_mode(mode & 0o7777))
            .map_err(RuntimeError::io("chmod", &dest))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dest, Some(uid), Some(gid)).map_err(RuntimeError::io("chown", &dest))?;
        }
    }
    Ok(())
}

fn dev_symlinks(rootfs: &Path) -> Result<()> {
    let dev = rootfs.join("dev");
    let links = [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    for (target, name) in links {
        let link = dev.join(name);
        if fs::symlink_metadata(&link).is_err() {
            symlink(target, &link).map_err(RuntimeError::io("symlink", &link))?;
        }
    }
    if dev.join("pts").is_dir() {
        let ptmx = dev.join("ptmx");
        let _ = fs::remove_file(&ptmx);
        symlink("pts/ptmx", &ptmx).map_err(RuntimeError::io("symlink", &ptmx))?;
    }
    Ok(())
}

/// Makes `rootfs` the root (pivot_root, then detach the old root).
pub fn pivot_root(rootfs: &Path) -> Result<()> {
    use nix::fcntl::{open, OFlag};
    let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old = open("/", flags, Mode::empty()).map_err(sys("open", Path::new("/")))?;
    let new = open(rootfs, flags, Mode::empty()).map_err(sys("open", rootfs))?;
    nix::unistd::fchdir(&new).map_err(sys("fchdir", rootfs))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; no put_old dir needed.
    nix::unistd::pivot_root(".", ".").map_err(sys("pivot_root", rootfs))?;
    nix::unistd::fchdir(&old).map_err(sys("fchdir", Path::new("/")))?;
    mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .map_err(sys("make old root slave", Path::new("/")))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys("detach old root", Path::new("/")))?;
    nix::unistd::chdir("/").map_err(sys("chdir", Path::new("/")))?;
    Ok(())
}

/// After pivot_root: masked and read-only paths, sysctls, read-only root, propagation.
pub fn finish_rootfs(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    // Sysctls first: /proc/sys becomes read-only below.
    apply_sysctls(spec)?;
    for p in linux.and_then(|l| l.readonly_paths().as_ref()).into_iter().flatten() {
        readonly_path(Path::new(p))?;
    }
    let label = crate::lsm::mount_label(spec);
    for p in linux.and_then(|l| l.masked_paths().as_ref()).into_iter().flatten() {
        mask_path(Path::new(p), label)?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        bind_remount(Path::new("/"), MsFlags::MS_RDONLY)?;
    }
    if let Some(p) = linux.and_then(|l| l.rootfs_propagation().as_deref()).and_then(propagation_flags) {
        mount(None::<&str>, "/", None::<&str>, p, None::<&str>).map_err(sys("rootfs propagation", Path::new("/")))?;
    }
    Ok(())
}

/// Writes the spec's sysctls through the /proc of the current root (they
/// apply to the namespaces the calling process is in).
pub fn apply_sysctls(spec: &Spec) -> Result<()> {
    for (key, value) in spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()).into_iter().flatten() {
        if key.contains("..") || key.contains('/') {
            return Err(RuntimeError::InvalidSpec(format!("sysctl {key:?} is not a valid key")));
        }
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        fs::write(&path, value).map_err(RuntimeError::io("sysctl", &path))?;
    }
    Ok(())
}

/// Confines the process to `dir` (the container's rootfs, or an open
/// container root) without a mount namespace of its own: a plain chroot, as
/// runc does when there is no mount namespace to pivot in.
pub fn chroot_into(dir: &Path) -> Result<()> {
    nix::unistd::chdir(dir).map_err(sys("chdir", dir))?;
    nix::unistd::chroot(".").map_err(sys("chroot", dir))?;
    nix::unistd::chdir("/").map_err(sys("chdir", Path::new("/")))
}

fn mask_path(path: &Path, label: Option<&str>) -> Result<()> {
    let md = match fs::metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(RuntimeError::Io { context: "mask", path: path.to_path_buf(), source: e }),
    };
    if md.is_dir() {
        let data = crate::lsm::with_mount_label(None, label);
        mount(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, data.as_deref()).map_err(sys("mask", path))
    } else {
        mount(Some("/dev/null"), path, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(sys("mask", path))
    }
}

fn readonly_path(path: &Path) -> Result<()> {
    match mount(Some(path), path, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>) {
        Err(nix::Error::ENOENT) => return Ok(()),
        r => r.map_err(sys("readonly path", path))?,
    }
    bind_remount(path, MsFlags::MS_RDONLY | MsFlags::MS_REC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_join_stays_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink("../../../../..", root.join("a/up")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        assert_eq!(secure_join(root, Path::new("/a/b")).unwrap(), root.join("a/b"));
        assert_eq!(secure_join(root, Path::new("/../../etc")).unwrap(), root.join("etc"));
        assert_eq!(secure_join(root, Path::new("/abs/passwd")).unwrap(), root.join("etc/passwd"));
        assert_eq!(secure_join(root, Path::new("/a/up/x")).unwrap(), root.join("x"));
        assert!(secure_join(root, Path::new("/loop1")).is_err());
    }

    #[test]
    fn parses_mount_options() {
        let o = parse_options(&["rbind".into(), "ro".into(), "rslave".into(), "mode=755".into(), "nosuid".into()]);
        assert!(o.bind && o.recursive);
        assert!(o.flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_BIND | MsFlags::MS_REC));
        assert_eq!(o.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(o.data, vec!["mode=755"]);
        let o = parse_options(&["ro".into(), "rw".into()]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert_eq!(propagation_flags("private"), Some(MsFlags::MS_PRIVATE));
        assert_eq!(propagation_flags("bogus"), None);
    }
}

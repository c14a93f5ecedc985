//! Linux security modules a spec can ask for: an AppArmor profile
//! (`process.apparmorProfile`), an SELinux process label
//! (`process.selinuxLabel`) and an SELinux label for the container's mounts
//! (`linux.mountLabel`).
//!
//! As in runc, an empty value asks for nothing, any other value is a request:
//! it is applied where the kernel has the module, and refused at `create` (or
//! `exec`), before anything is made, where it has not: a container never runs
//! unconfined because its profile was silently dropped.
//!
//! The profile and label take effect at the container's `execve`: the child
//! writes them to its own `attr/exec` file, opened on the host's procfs before
//! it enters the container's mount namespace (a mount over the container's
//! `/proc` cannot intercept the write, the CVE-2019-16884 class).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::{Process, Spec};

use crate::error::{Result, RuntimeError};

/// AppArmor is enabled when its module parameter reads `Y`.
pub const APPARMOR_ENABLED_PARAM: &str = "/sys/module/apparmor/parameters/enabled";

/// Whether the kernel runs AppArmor (`/sys/module/apparmor/parameters/enabled` reads `Y`).
pub fn apparmor_enabled() -> bool {
    apparmor_enabled_at(Path::new(APPARMOR_ENABLED_PARAM))
}

/// [`apparmor_enabled`] reading the parameter file at `param`.
pub fn apparmor_enabled_at(param: &Path) -> bool {
    fs::read(param).is_ok_and(|b| b.first() == Some(&b'Y'))
}

/// Whether the kernel runs SELinux: a selinuxfs is mounted (normally at
/// `/sys/fs/selinux`) and has its `enforce` file.
pub fn selinux_enabled() -> bool {
    fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| selinux_enabled_in(&m))
}

/// [`selinux_enabled`] on the given `/proc/self/mountinfo` text.
pub fn selinux_enabled_in(mountinfo: &str) -> bool {
    selinuxfs_mounts(mountinfo).iter().any(|m| m.join("enforce").is_file())
}

/// Mount points of selinuxfs in mountinfo text.
fn selinuxfs_mounts(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            if right.split(' ').next()? != "selinuxfs" {
                return None;
            }
            left.split(' ').nth(4).map(PathBuf::from)
        })
        .collect()
}

/// Which modules the host has, detected once per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Available {
    pub apparmor: bool,
    pub selinux: bool,
}

impl Available {
    pub fn detect() -> Available {
        Available { apparmor: apparmor_enabled(), selinux: selinux_enabled() }
    }
}

fn requested(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Refuses a process asking for a module the host lacks.
pub fn check_process(process: &Process, available: Available) -> Result<()> {
    if requested(process.apparmor_profile()).is_some() && !available.apparmor {
        return Err(RuntimeError::LsmUnavailable { lsm: "AppArmor", field: "process.apparmorProfile" });
    }
    if requested(process.selinux_label()).is_some() && !available.selinux {
        return Err(RuntimeError::LsmUnavailable { lsm: "SELinux", field: "process.selinuxLabel" });
    }
    Ok(())
}

/// Refuses a spec asking for a module the host lacks (its process and `linux.mountLabel`).
pub fn check_spec(spec: &Spec, available: Available) -> Result<()> {
    if let Some(p) = spec.process() {
        check_process(p, available)?;
    }
    if mount_label(spec).is_some() && !available.selinux {
        return Err(RuntimeError::LsmUnavailable { lsm: "SELinux", field: "linux.mountLabel" });
    }
    Ok(())
}

/// The spec's SELinux mount label, if it asks for one.
pub fn mount_label(spec: &Spec) -> Option<&str> {
    spec.linux().as_ref().and_then(|l| requested(l.mount_label()))
}

/// `data` with the SELinux `context=` option for `label` appended, as runc's
/// `FormatMountLabel` does.
pub fn with_mount_label(data: Option<String>, label: Option<&str>) -> Option<String> {
    match (data, label) {
        (d, None) => d,
        (None, Some(l)) => Some(format!("context=\"{l}\"")),
        (Some(d), Some(l)) if d.is_empty() => Some(format!("context=\"{l}\"")),
        (Some(d), Some(l)) => Some(format!("{d},context=\"{l}\"")),
    }
}

/// What the child writes to its `attr/exec` files just before `execve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExecWrite {
    /// Candidates relative to `/proc/thread-self`, the first that exists is used.
    pub files: &'static [&'static str],
    pub value: String,
    pub what: &'static str,
}

/// The writes `process` asks for (already checked against the host).
pub(crate) fn exec_writes(process: &Process) -> Vec<ExecWrite> {
    let mut out = Vec::new();
    if let Some(profile) = requested(process.apparmor_profile()) {
        // aa_change_onexec: the newer per-LSM file first, then the shared one.
        out.push(ExecWrite {
            files: &["attr/apparmor/exec", "attr/exec"],
            value: format!("exec {profile}"),
            what: "apparmor profile",
        });
    }
    if let Some(label) = requested(process.selinux_label()) {
        out.push(ExecWrite { files: &["attr/exec"], value: label.to_string(), what: "selinux label" });
    }
    out
}

/// An `attr/exec` file of the calling thread, opened (on procfs, checked)
/// while the host's /proc is still ours, written just before `execve`.
pub(crate) struct OpenedWrite {
    file: fs::File,
    value: String,
    what: &'static str,
}

impl OpenedWrite {
    pub(crate) fn open(proc_root: &Path, w: &ExecWrite) -> Result<OpenedWrite> {
        let base = proc_root.join("thread-self");
        let path = w.files.iter().map(|f| base.join(f)).find(|p| p.exists()).unwrap_or_else(|| base.join(w.files[0]));
        let fd = open(&path, OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW, Mode::empty())
            .map_err(|e| RuntimeError::Init(format!("open {} for the {}: {e}", path.display(), w.what)))?;
        let fs = nix::sys::statfs::fstatfs(&fd).map_err(RuntimeError::sys("fstatfs attr/exec"))?;
        if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
            return Err(RuntimeError::Init(format!("{} is not on procfs", path.display())));
        }
        Ok(OpenedWrite { file: fd.into(), value: w.value.clone(), what: w.what })
    }

    /// Applies the profile or label to the next `execve` of this thread.
    pub(crate) fn apply(mut self) -> Result<()> {
        self.file
            .write_all(self.value.as_bytes())
            .map_err(|e| RuntimeError::Init(format!("apply {} {:?}: {e}", self.what, self.value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, ProcessBuilder, SpecBuilder};

    #[test]
    fn detects_apparmor_from_its_parameter() {
        let tmp = tempfile::tempdir().unwrap();
        let param = tmp.path().join("enabled");
        assert!(!apparmor_enabled_at(&param), "no module, no AppArmor");
        fs::write(&param, "N\n").unwrap();
        assert!(!apparmor_enabled_at(&param));
        fs::write(&param, "Y\n").unwrap();
        assert!(apparmor_enabled_at(&param));
    }

    #[test]
    fn detects_selinux_from_a_selinuxfs_mount() {
        let tmp = tempfile::tempdir().unwrap();
        let mnt = tmp.path().join("selinux");
        fs::create_dir(&mnt).unwrap();
        let line = format!("30 23 0:27 / {} rw,relatime - selinuxfs selinuxfs rw\n", mnt.display());
        let other = format!("31 23 0:28 / {} rw - tmpfs tmpfs rw\n", tmp.path().display());
        assert!(!selinux_enabled_in(&other));
        assert!(!selinux_enabled_in(&line), "a selinuxfs without enforce is not a loaded policy");
        fs::write(mnt.join("enforce"), "1").unwrap();
        assert!(selinux_enabled_in(&format!("{other}{line}")));
        // A tmpfs with an `enforce` file is not selinuxfs.
        fs::write(tmp.path().join("enforce"), "1").unwrap();
        assert!(!selinux_enabled_in(&other));
    }

    fn spec(apparmor: &str, label: &str, mount_label: &str) -> Spec {
        let process = ProcessBuilder::default()
            .apparmor_profile(apparmor)
            .selinux_label(label)
            .args(vec!["true".to_string()])
            .build()
            .unwrap();
        let linux = LinuxBuilder::default().mount_label(mount_label).build().unwrap();
        SpecBuilder::default().process(process).linux(linux).build().unwrap()
    }

    #[test]
    fn refuses_requests_the_host_cannot_honour() {
        let none = Available::default();
        check_spec(&spec("", "", ""), none).unwrap();
        let err = check_spec(&spec("foo", "", ""), none).unwrap_err();
        assert!(matches!(err, RuntimeError::LsmUnavailable { lsm: "AppArmor", .. }), "{err}");
        assert_eq!(err.to_string(), "process.apparmorProfile is set but AppArmor is not enabled on this host");
        // "unconfined" is a profile name like any other.
        assert!(check_spec(&spec("unconfined", "", ""), none).is_err());
        let err = check_spec(&spec("", "system_u:system_r:container_t:s0", ""), none).unwrap_err();
        assert!(matches!(err, RuntimeError::LsmUnavailable { field: "process.selinuxLabel", .. }), "{err}");
        let err = check_spec(&spec("", "", "system_u:object_r:container_file_t:s0"), none).unwrap_err();
        assert!(matches!(err, RuntimeError::LsmUnavailable { field: "linux.mountLabel", .. }), "{err}");
        let both = Available { apparmor: true, selinux: true };
        check_spec(&spec("foo", "a:b:c:s0", "d:e:f:s0"), both).unwrap();
        assert!(check_spec(&spec("foo", "", ""), Available { apparmor: false, selinux: true }).is_err());
    }

    #[test]
    fn exec_writes_follow_runc() {
        let s = spec("foo", "system_u:system_r:container_t:s0", "");
        let writes = exec_writes(s.process().as_ref().unwrap());
        assert_eq!(writes.len(), 2);
        assert_eq!(writes[0].value, "exec foo");
        assert_eq!(writes[0].files, ["attr/apparmor/exec", "attr/exec"]);
        assert_eq!(writes[1].value, "system_u:system_r:container_t:s0");
        assert_eq!(writes[1].files, ["attr/exec"]);
        assert!(exec_writes(spec("", "", "").process().as_ref().unwrap()).is_empty());
    }

    #[test]
    fn exec_files_must_be_on_procfs() {
        // The real file opens (writing it is what needs the LSM)...
        let w = ExecWrite { files: &["attr/exec"], value: "x".into(), what: "test" };
        OpenedWrite::open(Path::new("/proc"), &w).unwrap();
        // ...a look-alike tree does not.
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("thread-self/attr")).unwrap();
        fs::write(tmp.path().join("thread-self/attr/exec"), "").unwrap();
        let err = OpenedWrite::open(tmp.path(), &w).err().expect("a file off procfs must be refused");
        assert!(err.to_string().contains("not on procfs"), "{err}");
    }

    #[test]
    fn mount_label_is_appended_to_mount_data() {
        assert_eq!(with_mount_label(None, None), None);
        assert_eq!(with_mount_label(Some("mode=755".into()), None).as_deref(), Some("mode=755"));
        assert_eq!(with_mount_label(None, Some("s0")).as_deref(), Some("context=\"s0\""));
        assert_eq!(
            with_mount_label(Some("mode=755,size=65536k".into()), Some("system_u:object_r:container_file_t:s0"))
                .as_deref(),
            Some("mode=755,size=65536k,context=\"system_u:object_r:container_file_t:s0\"")
        );
    }
}

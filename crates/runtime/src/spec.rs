//! Reading and checking a bundle's `config.json`, and the default spec that
//! `runtime spec` writes.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Result, RuntimeError};

pub const CONFIG: &str = "config.json";

/// A loaded bundle: the spec plus its rootfs as an absolute path.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Self> {
        let dir = fs::canonicalize(dir).map_err(RuntimeError::io("bundle", dir))?;
        let path = dir.join(CONFIG);
        let data =
            fs::read(&path).map_err(|e| RuntimeError::InvalidConfig { path: path.clone(), reason: e.to_string() })?;
        let spec: Spec = serde_json::from_slice(&data)
            .map_err(|e| RuntimeError::InvalidConfig { path: path.clone(), reason: e.to_string() })?;
        validate(&spec).map_err(|reason| RuntimeError::InvalidConfig { path: path.clone(), reason })?;
        let root = spec.root().as_ref().map(|r| r.path().clone()).unwrap_or_default();
        let rootfs = if root.is_absolute() { root } else { dir.join(root) };
        if !rootfs.is_dir() {
            return Err(RuntimeError::RootfsMissing(rootfs));
        }
        let rootfs = fs::canonicalize(&rootfs).map_err(RuntimeError::io("rootfs", &rootfs))?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// Structural checks serde cannot express. Returns a human-readable reason.
pub fn validate(spec: &Spec) -> std::result::Result<(), String> {
    if spec.root().is_none() {
        return Err("root is missing".into());
    }
    let Some(process) = spec.process() else {
        return Err("process is missing".into());
    };
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err("process.args must not be empty".into());
    }
    if !process.cwd().is_absolute() {
        return Err(format!("process.cwd {:?} is not absolute", process.cwd()));
    }
    let linux = spec.linux().as_ref();
    let mut seen = HashSet::new();
    let namespaces = linux.and_then(|l| l.namespaces().as_ref());
    for ns in namespaces.into_iter().flatten() {
        if !seen.insert(ns.typ()) {
            return Err(format!("namespace {} listed twice", ns.typ()));
        }
        if ns.typ() == LinuxNamespaceType::Time && ns.path().is_none() {
            return Err("new time namespaces are not supported".into());
        }
        if let Some(p) = ns.path() {
            if !p.exists() {
                return Err(format!("namespace path {} does not exist", p.display()));
            }
        }
    }
    let new_user = namespaces.into_iter().flatten().any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let has_maps = linux.is_some_and(|l| l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty()));
    if new_user && !has_maps {
        return Err("a new user namespace needs linux.uidMappings and linux.gidMappings".into());
    }
    if !namespaces.into_iter().flatten().any(|n| n.typ() == LinuxNamespaceType::Mount) {
        without_mount_namespace(spec)?;
    }
    for m in spec.mounts().iter().flatten() {
        if !m.destination().is_absolute() {
            return Err(format!("mount destination {:?} is not absolute", m.destination()));
        }
    }
    for hooks in spec.hooks().iter() {
        let all = [
            hooks.prestart(),
            hooks.create_runtime(),
            hooks.create_container(),
            hooks.start_container(),
            hooks.poststart(),
            hooks.poststop(),
        ];
        for hook in all.into_iter().flatten().flatten() {
            if !hook.path().is_absolute() {
                return Err(format!("hook path {:?} is not absolute", hook.path()));
            }
        }
    }
    Ok(())
}

/// Without a mount namespace (new or joined) the container shares the
/// runtime's mount table and is only chrooted into its rootfs: nothing is
/// mounted or created for it, since that would change the host's mounts (or
/// rootfs) and outlive the container. runc mounts them on the host anyway
/// (and refuses masked and read-only paths); we refuse every such field.
fn without_mount_namespace(spec: &Spec) -> std::result::Result<(), String> {
    let linux = spec.linux().as_ref();
    let non_empty = |v: Option<&Vec<String>>| v.is_some_and(|v| !v.is_empty());
    let field = if spec.mounts().as_ref().is_some_and(|m| !m.is_empty()) {
        "mounts"
    } else if non_empty(linux.and_then(|l| l.masked_paths().as_ref())) {
        "linux.maskedPaths"
    } else if non_empty(linux.and_then(|l| l.readonly_paths().as_ref())) {
        "linux.readonlyPaths"
    } else if linux.and_then(|l| l.devices().as_ref()).is_some_and(|d| !d.is_empty()) {
        "linux.devices"
    } else if linux.and_then(|l| l.rootfs_propagation().as_ref()).is_some() {
        "linux.rootfsPropagation"
    } else if linux.and_then(|l| l.mount_label().as_ref()).is_some_and(|l| !l.is_empty()) {
        "linux.mountLabel"
    } else if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        "root.readonly"
    } else {
        return Ok(());
    };
    Err(format!(
        "{field} needs a mount namespace: without one the container shares the runtime's mounts \
         (add a \"mount\" namespace or remove {field})"
    ))
}

/// The spec `runtime spec` writes: runc's defaults, Docker's default seccomp
/// profile, and `wharf` as hostname. `rootless` swaps in a user namespace
/// mapping the caller's ids.
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = Spec::default();
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_terminal(Some(true));
    let mut env = process.env().clone().unwrap_or_default();
    env.retain(|e| !e.starts_with("TERM="));
    env.push("TERM=xterm".into());
    process.set_env(Some(env));
    spec.set_process(Some(process));
    spec.set_hostname(Some("wharf".into()));
    let caps = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().clone())
        .unwrap_or_default();
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(Some(crate::seccomp::docker::default_profile(&caps)));
    }
    if rootless {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
        let mut linux = oci_spec::runtime::Linux::rootless(uid, gid);
        linux.set_seccomp(seccomp);
        spec.set_linux(Some(linux));
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_valid_and_has_seccomp() {
        let spec = default_spec(false);
        validate(&spec).unwrap();
        let seccomp = spec.linux().as_ref().unwrap().seccomp().as_ref().unwrap();
        assert!(seccomp.syscalls().as_ref().unwrap().len() > 5);
        assert_eq!(spec.hostname().as_deref(), Some("wharf"));
    }

    #[test]
    fn rejects_bad_specs() {
        let mut spec = default_spec(false);
        spec.set_process(None);
        assert!(validate(&spec).unwrap_err().contains("process"));

        let text = serde_json::to_string(&default_spec(false)).unwrap().replace("\"uts\"", "\"bogus\"");
        assert!(serde_json::from_str::<Spec>(&text).is_err());
    }

    #[test]
    fn without_mount_namespace_nothing_may_be_mounted() {
        let mut spec = default_spec(false);
        let linux = spec.linux_mut().as_mut().unwrap();
        let mut ns = linux.namespaces().clone().unwrap();
        ns.retain(|n| n.typ() != LinuxNamespaceType::Mount);
        linux.set_namespaces(Some(ns));
        let err = validate(&spec).unwrap_err();
        assert!(err.starts_with("mounts needs a mount namespace"), "{err}");
        spec.set_mounts(Some(Vec::new()));
        let err = validate(&spec).unwrap_err();
        assert!(err.starts_with("linux.maskedPaths needs a mount namespace"), "{err}");
        let linux = spec.linux_mut().as_mut().unwrap();
        linux.set_masked_paths(None);
        linux.set_readonly_paths(Some(Vec::new()));
        assert!(validate(&spec).unwrap_err().starts_with("root.readonly"));
        spec.root_mut().as_mut().unwrap().set_readonly(Some(false));
        validate(&spec).unwrap();
        spec.root_mut().as_mut().unwrap().set_readonly(Some(true));
        assert!(validate(&spec).unwrap_err().starts_with("root.readonly"));
        // With a mount namespace, the default spec is fine (as checked above).
        validate(&default_spec(false)).unwrap();
    }

    #[test]
    fn bundle_errors_name_the_problem() {
        let tmp = tempfile::tempdir().unwrap();
        let err = Bundle::load(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
        fs::write(tmp.path().join(CONFIG), "{not json").unwrap();
        let err = Bundle::load(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("invalid config"), "{err}");
        fs::write(tmp.path().join(CONFIG), serde_json::to_vec(&default_spec(false)).unwrap()).unwrap();
        let err = Bundle::load(tmp.path()).unwrap_err();
        assert!(matches!(err, RuntimeError::RootfsMissing(_)), "{err}");
    }
}

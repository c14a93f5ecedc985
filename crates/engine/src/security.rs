//! A container's security settings beyond capabilities: Docker's
//! `--security-opt` values, the device cgroup policy, and Docker-format
//! seccomp profiles translated to the OCI form the runtime takes.
//!
//! Every value Docker knows is honoured or refused; nothing is dropped.

use std::collections::HashSet;

use oci_spec::runtime::{Capability, LinuxDeviceCgroup, LinuxDeviceType, LinuxSeccomp};
use serde_json::Value;

use crate::error::{EngineError, Result};

/// How seccomp is set up for a container.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Seccomp {
    /// Docker's default profile.
    #[default]
    Default,
    /// `seccomp=unconfined`.
    Unconfined,
    /// `seccomp=<profile JSON>` (the client sends the file's content).
    Profile(String),
}

/// The parsed `--security-opt` list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityOptions {
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    /// `apparmor=<profile>`; `unconfined` is kept as is.
    pub apparmor: Option<String>,
    /// `label=disable`.
    pub label_disable: bool,
    /// `label=user:…`, `role:`, `type:`, `level:`: SELinux label parts.
    pub label_parts: Vec<(String, String)>,
    /// `systempaths=unconfined`: no masked or read-only /proc and /sys paths.
    pub unconfined_paths: bool,
}

fn invalid(reason: String) -> EngineError {
    EngineError::Invalid { what: "--security-opt".into(), reason }
}

/// Parses Docker's `SecurityOpt` values (`no-new-privileges[:true|false]`,
/// `seccomp=…`, `apparmor=…`, `label=…`, `systempaths=unconfined`), both
/// `key=value` and the legacy `key:value` forms.
pub fn parse(opts: &[String]) -> Result<SecurityOptions> {
    let mut out = SecurityOptions::default();
    for opt in opts {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None if opt == "no-new-privileges" => (opt.as_str(), None),
            None => match opt.split_once(':') {
                Some((k, v)) => (k, Some(v)),
                None => return Err(invalid(format!("invalid --security-opt: {opt:?}"))),
            },
        };
        match (key, value) {
            ("no-new-privileges", None) => out.no_new_privileges = true,
            ("no-new-privileges", Some(v)) => {
                out.no_new_privileges = match v {
                    "true" | "1" | "t" | "T" | "TRUE" | "True" => true,
                    "false" | "0" | "f" | "F" | "FALSE" | "False" => false,
                    _ => return Err(invalid(format!("invalid --security-opt 2: {opt:?}"))),
                }
            }
            ("seccomp", Some("unconfined")) => out.seccomp = Seccomp::Unconfined,
            ("seccomp", Some("builtin")) => out.seccomp = Seccomp::Default,
            ("seccomp", Some(profile)) => {
                // Validate now: a bad profile is the client's error, at create.
                translate_profile(profile, &HashSet::new())?;
                out.seccomp = Seccomp::Profile(profile.to_string());
            }
            ("apparmor", Some(p)) if !p.is_empty() => out.apparmor = Some(p.to_string()),
            ("label", Some("disable")) => out.label_disable = true,
            ("label", Some(v)) => {
                let (k, val) =
                    v.split_once(':').ok_or_else(|| invalid(format!("invalid --security-opt 2: {opt:?}")))?;
                if !matches!(k, "user" | "role" | "type" | "level" | "filetype") {
                    return Err(invalid(format!("invalid --security-opt 2: {opt:?}")));
                }
                out.label_parts.push((k.to_string(), val.to_string()));
            }
            ("systempaths", Some("unconfined")) => out.unconfined_paths = true,
            _ => return Err(invalid(format!("invalid --security-opt 2: {opt:?}"))),
        }
    }
    Ok(out)
}

/// Checks that the host can apply what `opts` asks for (fail closed: an LSM
/// setting on a host without that LSM is refused, not ignored).
pub fn check_host(opts: &SecurityOptions) -> Result<()> {
    if let Some(p) = opts.apparmor.as_deref().filter(|p| *p != "unconfined") {
        if !wharf_runtime::lsm::apparmor_enabled() {
            return Err(invalid(format!("apparmor={p}: AppArmor is not enabled on this host")));
        }
    }
    if !opts.label_parts.is_empty() {
        let parts: Vec<String> = opts.label_parts.iter().map(|(k, v)| format!("label={k}:{v}")).collect();
        if !wharf_runtime::lsm::selinux_enabled() {
            return Err(invalid(format!("{}: SELinux is not enabled on this host", parts.join(", "))));
        }
        // Composing a full context needs the policy's container contexts, which Wharf does not read yet.
        return Err(invalid(format!("{}: SELinux label options are not supported", parts.join(", "))));
    }
    Ok(())
}

/// Docker's rules for `--sysctl`: only namespaced parameters (IPC's
/// `kernel.msg*`/`kernel.sem`/`kernel.shm*`, `fs.mqueue.*`, and `net.*` in a
/// network namespace of the container's own).
pub fn check_sysctls(
    sysctls: &std::collections::BTreeMap<String, String>,
    network: &crate::network::Mode,
) -> Result<()> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let bad = |reason: String| EngineError::Invalid { what: "sysctl".into(), reason };
    for key in sysctls.keys() {
        if IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            continue;
        }
        if key.starts_with("net.") {
            if matches!(network, crate::network::Mode::Host) {
                return Err(bad(format!("sysctl '{key}' is not allowed in host network namespace")));
            }
            if matches!(network, crate::network::Mode::Container(_)) {
                return Err(bad(format!(
                    "sysctl '{key}' is not allowed: the container shares another's network namespace"
                )));
            }
            continue;
        }
        return Err(bad(format!("sysctl '{key}' is not whitelisted")));
    }
    Ok(())
}

/// What this host cannot enforce, worded for the daemon's start-up log and
/// `/info`'s `Warnings`: containers that need it will not start.
pub fn host_warnings() -> Vec<String> {
    let hierarchy = match wharf_runtime::cgroups::Hierarchy::detect() {
        Ok(h) => h,
        Err(e) => return vec![format!("WARNING: cgroups cannot be detected ({e}): no container will start")],
    };
    if !hierarchy.has_controllers() {
        return vec![
            "WARNING: no cgroup controllers are visible (is /sys/fs/cgroup mounted here?): no container will start"
                .into(),
        ];
    }
    wharf_runtime::cgroups::missing_controllers(&hierarchy)
        .into_iter()
        .map(|c| format!("WARNING: the {c} cgroup controller is missing: containers that need it will not start"))
        .collect()
}

/// Docker's device cgroup policy for a default container: deny everything,
/// then the allowlist every container has (the runtime's own: `mknod` of any
/// node, which alone grants nothing, and use of null, zero, full, random,
/// urandom, tty, console, ptmx and pts). Privileged containers may use any
/// device.
pub fn device_policy(privileged: bool) -> Vec<LinuxDeviceCgroup> {
    let rule = crate::devices::rule;
    if privileged {
        return vec![rule(true, LinuxDeviceType::A, None, None, "rwm")];
    }
    let mut rules = vec![rule(false, LinuxDeviceType::A, None, None, "rwm")];
    for r in wharf_runtime::cgroups::devices::default_allows() {
        let typ = match r.kind {
            'b' => LinuxDeviceType::B,
            'c' => LinuxDeviceType::C,
            _ => LinuxDeviceType::A,
        };
        rules.push(rule(r.allow, typ, r.major, r.minor, &r.access));
    }
    rules
}

/// The host's architecture in the names Docker profiles use: (seccomp arch, Go arch).
fn host_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("SCMP_ARCH_X86_64", "amd64"),
        "aarch64" => ("SCMP_ARCH_AARCH64", "arm64"),
        "x86" => ("SCMP_ARCH_X86", "386"),
        "arm" => ("SCMP_ARCH_ARM", "arm"),
        "s390x" => ("SCMP_ARCH_S390X", "s390x"),
        "powerpc64" if cfg!(target_endian = "little") => ("SCMP_ARCH_PPC64LE", "ppc64le"),
        "powerpc64" => ("SCMP_ARCH_PPC64", "ppc64"),
        "riscv64" => ("SCMP_ARCH_RISCV64", "riscv64"),
        other => (other, other),
    }
}

/// `major.minor` of a kernel version string (`6.18.44-fc` → [6, 18]).
fn kernel_version(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).take(2).filter_map(|p| p.parse().ok()).collect()
}

fn kernel_at_least(min: &str) -> bool {
    let release = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    kernel_version(&release) >= kernel_version(min)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect()
}

/// Translates a Docker-format seccomp profile (`archMap`, per-rule `includes`
/// and `excludes` of capabilities, architectures and kernel versions) into
/// the OCI seccomp section for a container holding `caps`.
pub fn translate_profile(json: &str, caps: &HashSet<Capability>) -> Result<LinuxSeccomp> {
    let bad = |why: String| invalid(format!("seccomp profile: {why}"));
    let mut profile: Value = serde_json::from_str(json).map_err(|e| bad(format!("decoding: {e}")))?;
    let obj = profile.as_object_mut().ok_or_else(|| bad("not a JSON object".into()))?;
    let (arch, go_arch) = host_arch();
    if let Some(map) = obj.remove("archMap") {
        if obj.get("architectures").is_some_and(|a| !a.is_null()) {
            return Err(bad("use either 'architectures' or 'archMap' in the seccomp profile, not both".into()));
        }
        {
            let mut arches = Vec::new();
            for entry in map.as_array().into_iter().flatten() {
                if entry["architecture"].as_str() == Some(arch) {
                    arches.push(arch.to_string());
                    arches.extend(strings(&entry["subArchitectures"]));
                }
            }
            obj.insert("architectures".into(), arches.into());
        }
    }
    let cap_names: HashSet<String> =
        caps.iter().filter_map(|c| serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_string))).collect();
    let has_cap = |c: &str| {
        let full = if c.starts_with("CAP_") { c.to_string() } else { format!("CAP_{c}") };
        cap_names.contains(&full)
    };
    let mut syscalls = Vec::new();
    for mut rule in obj.remove("syscalls").and_then(|s| s.as_array().cloned()).unwrap_or_default() {
        let Some(r) = rule.as_object_mut() else { return Err(bad("a syscall rule is not an object".into())) };
        let includes = r.remove("includes").unwrap_or(Value::Null);
        let excludes = r.remove("excludes").unwrap_or(Value::Null);
        r.remove("comment");
        for k in [&includes["minKernel"], &excludes["minKernel"]] {
            if let Some(k) = k.as_str().filter(|k| !k.is_empty()) {
                if kernel_version(k).len() < 2 {
                    return Err(bad(format!("invalid minKernel {k:?}")));
                }
            }
        }
        let include_arches = strings(&includes["arches"]);
        if !strings(&includes["caps"]).iter().all(|c| has_cap(c))
            || (!include_arches.is_empty() && !include_arches.iter().any(|a| a == go_arch))
            || includes["minKernel"].as_str().is_some_and(|k| !k.is_empty() && !kernel_at_least(k))
            || strings(&excludes["caps"]).iter().any(|c| has_cap(c))
            || strings(&excludes["arches"]).iter().any(|a| a == go_arch)
            || excludes["minKernel"].as_str().is_some_and(|k| !k.is_empty() && kernel_at_least(k))
        {
            continue;
        }
        if let Some(name) = r.remove("name") {
            let mut names = strings(r.get("names").unwrap_or(&Value::Null));
            names.extend(name.as_str().map(str::to_string));
            r.insert("names".into(), names.into());
        }
        syscalls.push(rule);
    }
    obj.insert("syscalls".into(), syscalls.into());
    if !obj.contains_key("defaultAction") {
        return Err(bad("defaultAction is required".into()));
    }
    serde_json::from_value(profile).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Result<SecurityOptions> {
        parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_docker_values() {
        assert!(opts(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(opts(&["no-new-privileges:true"]).unwrap().no_new_privileges);
        assert!(opts(&["no-new-privileges=true"]).unwrap().no_new_privileges);
        assert!(!opts(&["no-new-privileges=false"]).unwrap().no_new_privileges);
        assert_eq!(opts(&["seccomp=unconfined"]).unwrap().seccomp, Seccomp::Unconfined);
        assert_eq!(opts(&["seccomp:unconfined"]).unwrap().seccomp, Seccomp::Unconfined);
        assert_eq!(opts(&["apparmor=unconfined"]).unwrap().apparmor.as_deref(), Some("unconfined"));
        assert!(opts(&["label=disable"]).unwrap().label_disable);
        assert_eq!(opts(&["label=type:svirt_t"]).unwrap().label_parts, [("type".to_string(), "svirt_t".to_string())]);
        assert!(opts(&["systempaths=unconfined"]).unwrap().unconfined_paths);
        for bad in
            ["bogus", "foo=bar", "no-new-privileges=maybe", "label=wat", "label=color:red", "seccomp={", "seccomp=[]"]
        {
            assert!(matches!(opts(&[bad]), Err(EngineError::Invalid { .. })), "{bad}");
        }
    }

    #[test]
    fn host_without_lsm_refuses_lsm_options() {
        if wharf_runtime::lsm::apparmor_enabled() || wharf_runtime::lsm::selinux_enabled() {
            return;
        }
        assert!(check_host(&opts(&["apparmor=docker-default"]).unwrap()).is_err());
        assert!(check_host(&opts(&["label=level:s0:c1"]).unwrap()).is_err());
        check_host(&opts(&["apparmor=unconfined", "label=disable", "no-new-privileges"]).unwrap()).unwrap();
    }

    #[test]
    fn device_policy_denies_by_default() {
        let rules = device_policy(false);
        assert!(!rules[0].allow() && rules[0].major().is_none() && rules[0].access().as_deref() == Some("rwm"));
        let allowed: Vec<(Option<i64>, Option<i64>, String)> = rules
            .iter()
            .filter(|r| r.allow())
            .map(|r| (r.major(), r.minor(), r.access().clone().unwrap_or_default()))
            .collect();
        assert!(allowed.contains(&(None, None, "m".into())), "mknod of any node stays allowed");
        assert!(allowed.contains(&(Some(1), Some(3), "rwm".into())));
        assert!(!allowed.iter().any(|(maj, _, acc)| *maj == Some(4) || (maj.is_none() && acc.contains('r'))));
        assert_eq!(device_policy(true).len(), 1);
        assert!(device_policy(true)[0].allow());
    }

    #[test]
    fn translates_docker_profiles() {
        let profile = r#"{
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "basics"},
                {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["chown"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_CHOWN"]}},
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}}
            ]}"#;
        let caps: HashSet<Capability> = [Capability::Chown].into_iter().collect();
        let s = translate_profile(profile, &caps).unwrap();
        let names: Vec<String> = s.syscalls().iter().flatten().flat_map(|r| r.names().clone()).collect();
        assert_eq!(names, ["read", "write", "mkdir", "getpid"]);
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(s.architectures().as_ref().map(|a| a.len()), Some(3));
        }
        assert!(translate_profile(r#"{"syscalls": []}"#, &caps).is_err(), "defaultAction is required");
        let both = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": []}"#;
        assert!(translate_profile(both, &caps).is_err(), "architectures and archMap together");
        let bad_kernel = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "new"}}]}"#;
        assert!(translate_profile(bad_kernel, &caps).is_err(), "unparsable minKernel");
        let empty_arches = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": []}}]}"#;
        assert_eq!(translate_profile(empty_arches, &caps).unwrap().syscalls().as_ref().map(|s| s.len()), Some(1));
    }
}

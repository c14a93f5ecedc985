//! Host devices given to a container (`--device`, `HostConfig.Devices`)
//! and extra device cgroup rules (`--device-cgroup-rule`,
//! `HostConfig.DeviceCgroupRules`), as Docker's: each device node is made
//! in the container (`linux.devices`) and allowed in the device cgroup with
//! the permissions asked; a directory gives every device node below it.
//! Nothing else is opened up: the deny-by-default policy stays.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceType};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// One `--device host[:container][:permissions]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceMapping {
    pub path_on_host: String,
    /// Empty: the host path.
    pub path_in_container: String,
    /// Subset of `rwm`; empty: `rwm`.
    pub permissions: String,
}

fn invalid(what: &str, reason: String) -> EngineError {
    EngineError::Invalid { what: what.into(), reason }
}

fn valid_permissions(p: &str) -> bool {
    !p.is_empty() && p.len() <= 3 && p.chars().all(|c| "rwm".contains(c))
}

impl DeviceMapping {
    /// Docker's CLI syntax: `/dev/x`, `/dev/x:/dev/y`, `/dev/x:rw`, `/dev/x:/dev/y:rwm`.
    pub fn parse(spec: &str) -> Result<DeviceMapping> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (host, ctr, perms) = match parts[..] {
            [h] => (h, "", ""),
            [h, p] if valid_permissions(p) => (h, "", p),
            [h, c] => (h, c, ""),
            [h, c, p] => (h, c, p),
            _ => return Err(invalid("device", format!("invalid device specification: {spec}"))),
        };
        let m = DeviceMapping { path_on_host: host.into(), path_in_container: ctr.into(), permissions: perms.into() };
        m.check()?;
        Ok(m)
    }

    fn permissions(&self) -> &str {
        if self.permissions.is_empty() {
            "rwm"
        } else {
            &self.permissions
        }
    }

    fn container_path(&self) -> &str {
        if self.path_in_container.is_empty() {
            &self.path_on_host
        } else {
            &self.path_in_container
        }
    }

    /// Docker's checks: absolute paths, `rwm` permissions, a device (or a
    /// directory of them) on the host.
    pub fn check(&self) -> Result<()> {
        if !self.path_on_host.starts_with('/') || !self.container_path().starts_with('/') {
            return Err(invalid("device", format!("{}: device paths must be absolute", self.path_on_host)));
        }
        if !valid_permissions(self.permissions()) {
            return Err(invalid("device", format!("invalid device mode: {}", self.permissions)));
        }
        let md = std::fs::metadata(&self.path_on_host).map_err(|e| {
            invalid(
                "device",
                format!("error gathering device information while adding custom device {:?}: {e}", self.path_on_host),
            )
        })?;
        let ft = md.file_type();
        if !(ft.is_char_device() || ft.is_block_device() || ft.is_dir()) {
            return Err(invalid("device", format!("{} is not a device node", self.path_on_host)));
        }
        Ok(())
    }
}

/// A device node of the host: what it is, where it goes, its mode and owner.
struct Node {
    typ: LinuxDeviceType,
    major: i64,
    minor: i64,
    container_path: PathBuf,
    mode: u32,
    uid: u32,
    gid: u32,
}

fn node_at(host: &Path, container_path: PathBuf) -> Option<Node> {
    let md = std::fs::metadata(host).ok()?;
    let ft = md.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return None;
    };
    let rdev = md.rdev();
    Some(Node {
        typ,
        major: nix::sys::stat::major(rdev) as i64,
        minor: nix::sys::stat::minor(rdev) as i64,
        container_path,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
    })
}

/// The nodes a mapping stands for (a directory: every node below it, at the
/// same place below the container path).
fn nodes(m: &DeviceMapping) -> Result<Vec<Node>> {
    let host = Path::new(&m.path_on_host);
    let ctr = PathBuf::from(m.container_path());
    if let Some(n) = node_at(host, ctr.clone()) {
        return Ok(vec![n]);
    }
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = host.join(&rel);
        let entries = std::fs::read_dir(&dir).map_err(EngineError::io("list devices", &dir))?;
        for e in entries.flatten() {
            let r = rel.join(e.file_name());
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() && r.components().count() < 8 {
                stack.push(r);
            } else if let Some(n) = node_at(&host.join(&r), ctr.join(&r)) {
                out.push(n);
            }
        }
    }
    if out.is_empty() {
        return Err(invalid("device", format!("{}: no device nodes found", m.path_on_host)));
    }
    Ok(out)
}

/// `linux.devices` for the mappings.
pub fn linux_devices(mappings: &[DeviceMapping]) -> Result<Vec<LinuxDevice>> {
    let mut out = Vec::new();
    for m in mappings {
        for n in nodes(m)? {
            let d = LinuxDeviceBuilder::default()
                .path(n.container_path)
                .typ(n.typ)
                .major(n.major)
                .minor(n.minor)
                .file_mode(n.mode)
                .uid(n.uid)
                .gid(n.gid)
                .build()
                .map_err(|e| invalid("device", e.to_string()))?;
            out.push(d);
        }
    }
    Ok(out)
}

/// One device cgroup rule (the policy's and the ones added here).
pub(crate) fn rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(Some(typ));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

fn allow(typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str) -> LinuxDeviceCgroup {
    rule(true, typ, major, minor, access)
}

/// One `--device-cgroup-rule`: `c 1:3 rwm`, `b 8:* r`, `a *:* m`.
pub fn parse_rule(rule: &str) -> Result<LinuxDeviceCgroup> {
    let bad =
        || invalid("device cgroup rule", format!("invalid device cgroup rule {rule:?}: use 'c|b|a major:minor rwm'"));
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let [kind, numbers, access] = parts[..] else { return Err(bad()) };
    let typ = match kind {
        "c" => LinuxDeviceType::C,
        "b" => LinuxDeviceType::B,
        "a" => LinuxDeviceType::A,
        _ => return Err(bad()),
    };
    let (maj, min) = numbers.split_once(':').ok_or_else(bad)?;
    let num = |s: &str| -> Result<Option<i64>> {
        match s {
            "*" => Ok(None),
            n => n.parse::<u32>().map(|v| Some(i64::from(v))).map_err(|_| bad()),
        }
    };
    if !valid_permissions(access) {
        return Err(bad());
    }
    Ok(allow(typ, num(maj)?, num(min)?, access))
}

/// The cgroup rules the mappings and the extra rules add to the policy.
pub fn cgroup_rules(mappings: &[DeviceMapping], rules: &[String]) -> Result<Vec<LinuxDeviceCgroup>> {
    let mut out = Vec::new();
    for m in mappings {
        for n in nodes(m)? {
            out.push(allow(n.typ, Some(n.major), Some(n.minor), m.permissions()));
        }
    }
    for r in rules {
        out.push(parse_rule(r)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_and_rules_parse_as_dockers() {
        let m = DeviceMapping::parse("/dev/null:/dev/xnull:rw").unwrap();
        assert_eq!((m.path_in_container.as_str(), m.permissions.as_str()), ("/dev/xnull", "rw"));
        assert_eq!(DeviceMapping::parse("/dev/null:r").unwrap().permissions, "r");
        assert!(DeviceMapping::parse("/dev/null:/x:rwz").is_err());
        assert!(DeviceMapping::parse("/etc/passwd").is_err(), "not a device");
        assert!(DeviceMapping::parse("/dev/nosuch").is_err());
        assert!(DeviceMapping::parse("dev/null").is_err());
        let devs = linux_devices(&[DeviceMapping::parse("/dev/null:/dev/xnull").unwrap()]).unwrap();
        assert_eq!((devs[0].major(), devs[0].minor()), (1, 3));
        let r = parse_rule("c 1:3 rwm").unwrap();
        assert_eq!((r.major(), r.minor(), r.access().as_deref()), (Some(1), Some(3), Some("rwm")));
        assert_eq!(parse_rule("b 8:* r").unwrap().minor(), None);
        for bad in ["c 1:3", "x 1:3 r", "c a:3 r", "c 1:3 rwx", "c 1 r"] {
            assert!(parse_rule(bad).is_err(), "{bad}");
        }
    }
}

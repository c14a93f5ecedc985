//! Turning the calling process into the spec's `process`: identity,
//! capabilities, rlimits, and the executable to run.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use caps::{CapSet, CapsHashSet};
use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{Capabilities, PosixRlimitType, Process};

use crate::error::{Result, RuntimeError};

fn to_caps(set: &Option<Capabilities>) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for cap in set.iter().flatten() {
        let name = serde_json::to_value(cap).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let c = caps::Capability::from_str(&name)
            .map_err(|e| RuntimeError::InvalidSpec(format!("capability {name}: {e}")))?;
        out.insert(c);
    }
    Ok(out)
}

fn caps_err(what: &'static str) -> impl FnOnce(caps::errors::CapsError) -> RuntimeError {
    move |e| RuntimeError::Init(format!("{what}: {e}"))
}

/// Drops bounding capabilities not in the spec. Needs CAP_SETPCAP, so it runs before setuid.
pub fn drop_bounding(process: &Process) -> Result<()> {
    let Some(c) = process.capabilities() else {
        return Ok(());
    };
    let keep = to_caps(c.bounding())?;
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap).map_err(caps_err("drop bounding capability"))?;
        }
    }
    Ok(())
}

/// Sets effective, permitted, inheritable and ambient sets (after setuid).
pub fn set_capabilities(process: &Process) -> Result<()> {
    let c = process.capabilities().clone().unwrap_or_default();
    let effective = to_caps(c.effective())?;
    let permitted = to_caps(c.permitted())?;
    let inheritable = to_caps(c.inheritable())?;
    caps::set(None, CapSet::Effective, &effective).map_err(caps_err("set effective capabilities"))?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(caps_err("set permitted capabilities"))?;
    caps::set(None, CapSet::Inheritable, &inheritable).map_err(caps_err("set inheritable capabilities"))?;
    let ambient = to_caps(c.ambient())?;
    caps::clear(None, CapSet::Ambient).map_err(caps_err("clear ambient capabilities"))?;
    for cap in ambient {
        // Ambient needs the capability permitted and inheritable; skip others like runc.
        if permitted.contains(&cap) && inheritable.contains(&cap) {
            caps::raise(None, CapSet::Ambient, cap).map_err(caps_err("raise ambient capability"))?;
        }
    }
    Ok(())
}

/// setgroups + setresgid + setresuid, keeping permitted capabilities across the uid change.
pub fn set_user(process: &Process) -> Result<()> {
    let user = process.user();
    nix::sys::prctl::set_keepcaps(true).map_err(RuntimeError::sys("keepcaps"))?;
    let groups: Vec<Gid> = user.additional_gids().iter().flatten().map(|g| Gid::from_raw(*g)).collect();
    // setgroups is denied in user namespaces with setgroups=deny; only fail if groups were asked for.
    if let Err(e) = nix::unistd::setgroups(&groups) {
        if !groups.is_empty() {
            return Err(RuntimeError::Sys("setgroups", e));
        }
    }
    let gid = Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(RuntimeError::sys("setresgid"))?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(RuntimeError::sys("setresuid"))?;
    nix::sys::prctl::set_keepcaps(false).map_err(RuntimeError::sys("keepcaps"))?;
    let umask = user.umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask as libc::mode_t));
    Ok(())
}

fn resource(t: PosixRlimitType) -> Option<Resource> {
    Some(match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    })
}

pub fn set_rlimits(process: &Process) -> Result<()> {
    for r in process.rlimits().iter().flatten() {
        let Some(res) = resource(r.typ()) else {
            continue;
        };
        setrlimit(res, r.soft(), r.hard()).map_err(RuntimeError::sys("setrlimit"))?;
    }
    Ok(())
}

/// The process's environment, with a default PATH when it has none.
pub fn env(process: &Process) -> Vec<String> {
    let mut env = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    env
}

/// Finds `arg0` on the process's PATH (as seen from the current root).
pub fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf> {
    let executable =
        |p: &Path| p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if arg0.contains('/') {
        // runc's words, which clients read the exit code from (127/126).
        let p = PathBuf::from(arg0);
        return match p.metadata() {
            Err(_) => {
                Err(RuntimeError::ExecutableNotFound(format!("exec: {arg0:?}: stat {arg0}: no such file or directory")))
            }
            Ok(_) if executable(&p) => Ok(p),
            Ok(_) => Err(RuntimeError::ExecutableNotRunnable(format!("exec: {arg0:?}: permission denied"))),
        };
    }
    let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("");
    path.split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(arg0))
        .find(|p| executable(p))
        .ok_or_else(|| RuntimeError::ExecutableNotFound(format!("exec: {arg0:?}: executable file not found in $PATH")))
}

pub fn cstrings(items: &[String]) -> Result<Vec<CString>> {
    items
        .iter()
        .map(|s| CString::new(s.as_str()).map_err(|_| RuntimeError::InvalidSpec(format!("{s:?} contains a NUL byte"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_executables_on_path() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        assert!(find_executable("sh", &env).unwrap().ends_with("sh"));
        let err = find_executable("definitely-not-here", &env).unwrap_err().to_string();
        assert!(err.contains("not found in $PATH"), "{err}");
        assert!(find_executable("/nonexistent/x", &env).is_err());
    }

    #[test]
    fn default_path_added() {
        let mut p = Process::default();
        p.set_env(Some(vec!["A=1".into()]));
        assert!(env(&p).iter().any(|e| e.starts_with("PATH=")));
    }
}

/// A signal by number or name (`9`, `KILL`, `SIGKILL`, `sigterm`).
/// Real-time signals too: `37`, `RTMIN`, `SIGRTMIN+3`, `RTMAX-1`.
pub fn parse_signal(s: &str) -> Result<i32> {
    let bad = || RuntimeError::InvalidSignal(s.to_string());
    let (min, max) = (crate::sys::sigrtmin(), crate::sys::sigrtmax());
    if let Ok(n) = s.parse::<i32>() {
        if (min..=max).contains(&n) {
            return Ok(n);
        }
        return nix::sys::signal::Signal::try_from(n).map(|sig| sig as i32).map_err(|_| bad());
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let rt = |base: i32, rest: &str| -> Option<i32> {
        let n = match rest {
            "" => base,
            r if r.starts_with('+') => base + r[1..].parse::<i32>().ok()?,
            r if r.starts_with('-') => base - r[1..].parse::<i32>().ok()?,
            _ => return None,
        };
        (min..=max).contains(&n).then_some(n)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(min, rest).ok_or_else(bad);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(max, rest).ok_or_else(bad);
    }
    format!("SIG{name}").parse::<nix::sys::signal::Signal>().map(|sig| sig as i32).map_err(|_| bad())
}

#[cfg(test)]
mod signal_tests {
    #[test]
    fn signals_by_name_and_number() {
        let min = crate::sys::sigrtmin();
        for (s, n) in [("9", 9), ("KILL", 9), ("sigterm", 15), ("SIGUSR1", 10), ("hup", 1)] {
            assert_eq!(super::parse_signal(s).unwrap(), n, "{s}");
        }
        for (s, n) in [("RTMIN", min), ("SIGRTMIN+3", min + 3), ("rtmax-1", crate::sys::sigrtmax() - 1)] {
            assert_eq!(super::parse_signal(s).unwrap(), n, "{s}");
        }
        assert_eq!(super::parse_signal(&(min + 2).to_string()).unwrap(), min + 2);
        for bad in ["", "BOGUS", "0", "999", "-1", "RTMIN+99", "RTMINX"] {
            assert!(super::parse_signal(bad).is_err(), "{bad}");
        }
    }
}

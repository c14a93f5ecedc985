//! Seccomp: an OCI `linux.seccomp` section compiled to a BPF program by
//! libseccomp in the runtime's own process, then installed by the container's
//! init with one `seccomp(2)` call (so the child never calls into libseccomp).

pub mod docker;

use std::path::Path;
use std::str::FromStr;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

use crate::error::{Result, RuntimeError};

const EPERM: u32 = 1;

/// A filter ready to install: classic BPF plus `seccomp(2)` flags.
#[derive(Debug, Clone)]
pub struct Filter {
    bpf: Vec<u8>,
    flags: u32,
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction> {
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno.unwrap_or(EPERM) as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno.unwrap_or(EPERM) as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(RuntimeError::Seccomp("SCMP_ACT_NOTIFY (seccomp listeners) is not supported".into()))
        }
    })
}

fn compare(a: &oci_spec::runtime::LinuxSeccompArg) -> ScmpArgCompare {
    let op = match a.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(a.value()),
    };
    let datum = if a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq { a.value_two().unwrap_or(0) } else { a.value() };
    ScmpArgCompare::new(a.index() as u32, op, datum)
}

fn err(context: &str) -> impl FnOnce(libseccomp::error::SeccompError) -> RuntimeError + '_ {
    move |e| RuntimeError::Seccomp(format!("{context}: {e}"))
}

/// Like [`compile`], but keeps compiled programs in `cache_dir`, keyed by the
/// SHA-256 of the section (plus this build's version): libseccomp needs ~15 ms
/// for Docker's profile, a cache hit is one small read. Cache failures only
/// cost speed.
pub fn compile_cached(s: &LinuxSeccomp, cache_dir: &Path) -> Result<Filter> {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(s).map_err(|e| RuntimeError::Seccomp(e.to_string()))?;
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update([0]);
    h.update(&json);
    let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let path = cache_dir.join(format!("{key}.bpf"));
    if let Ok(data) = std::fs::read(&path) {
        if let Some((flags, bpf)) = data.split_first_chunk::<4>() {
            if !bpf.is_empty() && bpf.len() % 8 == 0 {
                return Ok(Filter { bpf: bpf.to_vec(), flags: u32::from_le_bytes(*flags) });
            }
        }
    }
    let filter = compile(s)?;
    let mut data = filter.flags.to_le_bytes().to_vec();
    data.extend_from_slice(&filter.bpf);
    if std::fs::create_dir_all(cache_dir).is_ok() {
        if let Err(e) = crate::state::write_atomic(&path, &data) {
            tracing::debug!("seccomp cache: {e}");
        }
    }
    Ok(filter)
}

/// Compiles an OCI seccomp section. Syscall names this kernel/libseccomp does
/// not know are skipped, as runc does.
pub fn compile(s: &LinuxSeccomp) -> Result<Filter> {
    let default = action(s.default_action(), s.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(err("new filter"))?;
    // The runtime sets no_new_privs itself, when the spec asks for it.
    ctx.set_ctl_nnp(false).map_err(err("nnp attribute"))?;
    for arch in s.architectures().iter().flatten() {
        let name = serde_json::to_value(arch).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let arch = ScmpArch::from_str(&name).map_err(|e| RuntimeError::Seccomp(format!("architecture {name}: {e}")))?;
        ctx.add_arch(arch).map_err(err("add architecture"))?;
    }
    for rule in s.syscalls().iter().flatten() {
        let act = action(
            rule.action(),
            rule.errno_ret().or(if rule.action() == LinuxSeccompAction::ScmpActErrno {
                s.default_errno_ret()
            } else {
                None
            }),
        )?;
        if act == default {
            continue;
        }
        let args: Vec<ScmpArgCompare> = rule.args().iter().flatten().map(compare).collect();
        let mut indices: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
        indices.sort_unstable();
        let repeated = indices.windows(2).any(|w| w[0] == w[1]);
        for name in rule.names() {
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                tracing::debug!(syscall = %name, "unknown syscall skipped");
                continue;
            };
            let result = if args.is_empty() {
                ctx.add_rule(act, nr).map(|_| ())
            } else if repeated {
                // libseccomp cannot AND two comparisons of one argument: OR them instead, like runc.
                args.iter().try_for_each(|a| ctx.add_rule_conditional(act, nr, std::slice::from_ref(a)).map(|_| ()))
            } else {
                ctx.add_rule_conditional(act, nr, &args).map(|_| ())
            };
            result.map_err(|e| RuntimeError::Seccomp(format!("rule for {name}: {e}")))?;
        }
    }
    let mut flags = 0;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 1 << 5,
        } as u32;
    }
    // libseccomp 2.5 (Debian 12) can only export to a descriptor: use a memfd.
    let memfd = nix::sys::memfd::memfd_create(c"wharf-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| RuntimeError::Seccomp(format!("memfd: {e}")))?;
    ctx.export_bpf(&memfd).map_err(err("export"))?;
    let mut file = std::fs::File::from(memfd);
    let mut bpf = Vec::new();
    use std::io::{Read, Seek};
    file.seek(std::io::SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bpf))
        .map_err(|e| RuntimeError::Seccomp(format!("read filter: {e}")))?;
    Ok(Filter { bpf, flags })
}

impl Filter {
    /// Installs the filter on the calling thread.
    pub fn install(&self) -> Result<()> {
        crate::sys::seccomp_install(&self.bpf, self.flags).map_err(|e| RuntimeError::Seccomp(format!("install: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Capabilities;

    #[test]
    fn compiles_docker_default() {
        let f = compile(&docker::default_profile(&Capabilities::new())).unwrap();
        assert_eq!(f.bpf.len() % 8, 0);
        assert!(f.bpf.len() > 8 * 50);
    }

    #[test]
    fn cache_returns_the_same_program() {
        let tmp = tempfile::tempdir().unwrap();
        let profile = docker::default_profile(&Capabilities::new());
        let first = compile_cached(&profile, tmp.path()).unwrap();
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
        let second = compile_cached(&profile, tmp.path()).unwrap();
        assert_eq!(first.bpf, second.bpf);
        let mut other = profile.clone();
        other.set_default_errno_ret(Some(38));
        let third = compile_cached(&other, tmp.path()).unwrap();
        assert_ne!(first.bpf, third.bpf);
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2);
    }

    #[test]
    fn notify_is_refused() {
        let mut p = docker::default_profile(&Capabilities::new());
        p.set_default_action(LinuxSeccompAction::ScmpActNotify);
        assert!(compile(&p).unwrap_err().to_string().contains("NOTIFY"));
    }
}

//! Protection against CVE-2019-5736: a container process must never be able
//! to open the host's `wharf` binary for writing through /proc/PID/exe.
//!
//! Before an operation that puts our process image inside a container
//! (`create`, `run`, `exec`), we re-execute ourselves from a private,
//! detached, read-only bind mount of the binary (`open_tree` +
//! `mount_setattr` + `execveat`): /proc/PID/exe then resolves to a read-only
//! mount and opening it for writing fails with EROFS. The init also turns
//! non-dumpable before it joins anything. Cost: one extra execve.

use std::ffi::CString;
use std::os::fd::AsFd;

const MARK: &str = "_WHARF_SEALED";

/// Re-executes the current binary from a read-only detached mount, once.
/// Returns only if sealing is unavailable (old kernel); the caller goes on.
pub fn ensure_sealed() {
    if std::env::var_os(MARK).is_some() {
        return;
    }
    let Ok(fd) = wharf_runtime::sys::open_tree_readonly(c"/proc/self/exe") else {
        tracing::warn!("cannot seal the runtime binary (open_tree unsupported); continuing unsealed");
        return;
    };
    let args: Vec<CString> = std::env::args_os().filter_map(|a| CString::new(a.into_encoded_bytes()).ok()).collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    env.push(CString::new(format!("{MARK}=1")).expect("no NUL in a constant"));
    let argv: Vec<&std::ffi::CStr> = args.iter().map(|a| a.as_c_str()).collect();
    let envp: Vec<&std::ffi::CStr> = env.iter().map(|a| a.as_c_str()).collect();
    let err = wharf_runtime::sys::execveat_fd(fd.as_fd(), &argv, &envp);
    tracing::warn!("cannot re-execute sealed runtime binary: {err}; continuing unsealed");
}

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

/// Re-executes the current binary from a read-only detached mount, unless it
/// already runs from a read-only mount (sealed, or installed read-only).
/// Returns only if sealing is unavailable (old kernel); the caller goes on.
pub fn ensure_sealed() {
    let readonly = nix::sys::statvfs::statvfs("/proc/self/exe")
        .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
        .unwrap_or(false);
    if readonly {
        return;
    }
    let Ok(fd) = wharf_runtime::sys::open_tree_readonly(c"/proc/self/exe") else {
        tracing::warn!("cannot seal the runtime binary (open_tree unsupported); continuing unsealed");
        return;
    };
    let args: Vec<CString> = std::env::args_os().filter_map(|a| CString::new(a.into_encoded_bytes()).ok()).collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let argv: Vec<&std::ffi::CStr> = args.iter().map(|a| a.as_c_str()).collect();
    let envp: Vec<&std::ffi::CStr> = env.iter().map(|a| a.as_c_str()).collect();
    let err = wharf_runtime::sys::execveat_fd(fd.as_fd(), &argv, &envp);
    tracing::warn!("cannot re-execute sealed runtime binary: {err}; continuing unsealed");
}

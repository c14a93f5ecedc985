//! The few kernel calls `nix` does not wrap safely. Every `unsafe` block of
//! this crate lives here, each with the invariants it relies on.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::unistd::Pid;

/// Outcome of [`clone_process`].
pub enum Forked {
    Parent(Pid),
    Child,
}

/// Forks the calling process with extra `CLONE_NEW*` flags, like `fork(2)`:
/// the child continues on a copy of the caller's stack.
///
/// Only sound in a single-threaded process (only the calling thread survives
/// in the child, and locks other threads hold — the allocator's — would stay
/// locked): it checks, and refuses with `EDEADLK` otherwise.
pub fn clone_process(flags: libc::c_int) -> io::Result<Forked> {
    if !single_threaded() {
        return Err(io::Error::new(
            io::ErrorKind::Deadlock,
            "fork from a multi-threaded process: locks of other threads would stay held in the child",
        ));
    }
    // SAFETY: raw clone with a NULL stack behaves like fork(2): the child gets a
    // copy-on-write copy of the address space and continues here. There are no
    // other threads (checked above), so no lock can be left held.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Closes every descriptor from `first` upwards.
pub fn close_from(first: RawFd) {
    // SAFETY: close_range only closes descriptors; the caller owns none of them
    // through Rust handles it will use again.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, 0) };
    if ret == 0 {
        return;
    }
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|rd| rd.flatten().filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok())).collect())
        .unwrap_or_default();
    for fd in fds.into_iter().filter(|fd| *fd >= first) {
        // SAFETY: closing a descriptor number touches no memory; EBADF is harmless.
        unsafe { libc::close(fd) };
    }
}

/// Marks every descriptor from `first` upwards close-on-exec.
pub fn cloexec_from(first: RawFd) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes descriptor flags; no memory is passed.
    let ret =
        unsafe { libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC) };
    if ret == 0 {
        return Ok(());
    }
    // Kernels before 5.11: walk /proc/self/fd instead.
    for entry in std::fs::read_dir("/proc/self/fd")?.flatten() {
        if let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse::<RawFd>().ok()) {
            if fd >= first {
                // SAFETY: F_SETFD with FD_CLOEXEC on a descriptor number touches no memory;
                // a stale number (the read_dir handle itself) fails harmlessly with EBADF.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
    }
    Ok(())
}

/// Makes `fd` the controlling terminal of the calling session.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument, no pointer.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets a terminal's window size.
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize struct that lives for the whole call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads a terminal's window size.
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes a winsize struct we own and that outlives the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((ws.ws_row, ws.ws_col))
}

/// Brings the loopback interface of the current network namespace up.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills the ifreq we own; the name is NUL-terminated.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the flags member of the union was just written by the kernel.
    unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Clones the mount at `path` into a new detached mount (`open_tree(2)` with
/// `OPEN_TREE_CLONE`) and makes it read-only.
pub fn open_tree_readonly(path: &CStr) -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const MOUNT_ATTR_RDONLY: u64 = 1;
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that only we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr { attr_set: MOUNT_ATTR_RDONLY, attr_clr: 0, propagation: 0, userns_fd: 0 };
    // SAFETY: the empty path with AT_EMPTY_PATH addresses `fd` itself; `attr` lives
    // for the whole call and its size is passed along.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: runs the file behind `fd`.
/// Only returns on failure.
pub fn execveat_fd(fd: BorrowedFd<'_>, argv: &[&CStr], envp: &[&CStr]) -> io::Error {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    // SAFETY: both pointer arrays are NULL-terminated and point into CStrs that
    // outlive the call; the empty path with AT_EMPTY_PATH addresses `fd`.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

/// Resets every signal disposition to its default and unblocks all signals,
/// so a new container process starts from a clean slate.
pub fn reset_signals() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL passes no handler code; failures for
        // unsupported numbers are ignored.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
}

/// Loads a cgroup-device eBPF program (`BPF_PROG_TYPE_CGROUP_DEVICE`). On
/// failure the verifier's log is part of the error.
pub fn bpf_prog_load_cgroup_device(insns: &[u64]) -> io::Result<OwnedFd> {
    const BPF_PROG_LOAD: libc::c_int = 5;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    #[repr(C)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        _pad: [u8; 80],
    }
    let mut log = vec![0u8; 1 << 16];
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: c"Apache".as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        kern_version: 0,
        prog_flags: 0,
        _pad: [0; 80],
    };
    // SAFETY: `attr` is a zero-padded bpf_attr prefix whose pointers (program,
    // license, log buffer with its true size) stay valid for the call.
    let fd = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, &attr as *const ProgLoad, std::mem::size_of::<ProgLoad>())
    };
    if fd < 0 {
        let err = io::Error::last_os_error();
        let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
        let text = String::from_utf8_lossy(&log[..end]);
        let tail: Vec<&str> = text.lines().rev().take(4).collect();
        return Err(io::Error::new(
            err.kind(),
            format!("{err}: {}", tail.into_iter().rev().collect::<Vec<_>>().join(" | ")),
        ));
    }
    // SAFETY: the kernel returned a new descriptor that only we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Attaches a cgroup-device program to a cgroup v2 directory (alongside others: BPF_F_ALLOW_MULTI).
pub fn bpf_attach_cgroup_device(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    const BPF_PROG_ATTACH: libc::c_int = 8;
    const BPF_CGROUP_DEVICE: u32 = 6;
    const BPF_F_ALLOW_MULTI: u32 = 2;
    #[repr(C)]
    struct Attach {
        target_fd: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
        replace_bpf_fd: u32,
        _pad: [u8; 44],
    }
    let attr = Attach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
        _pad: [0; 44],
    };
    // SAFETY: `attr` is a zero-padded bpf_attr prefix living for the call; no pointers inside.
    let ret =
        unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_ATTACH, &attr as *const Attach, std::mem::size_of::<Attach>()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Installs a classic-BPF seccomp filter (`seccomp(SECCOMP_SET_MODE_FILTER)`).
pub fn seccomp_install(bpf: &[u8], flags: u32) -> io::Result<()> {
    let prog = libc::sock_fprog { len: (bpf.len() / 8) as u16, filter: bpf.as_ptr() as *mut libc::sock_filter };
    // SAFETY: `prog` points at `bpf`, whose length is a multiple of the 8-byte
    // sock_filter size (libseccomp's export); both outlive the call.
    let ret = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &prog as *const libc::sock_fprog)
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// kill(2) with any signal number, real-time ones included (nix's `Signal`
/// has no real-time signals).
pub fn send_signal(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes plain integers and touches no memory.
    if unsafe { libc::kill(pid, sig) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The highest real-time signal number.
pub fn sigrtmax() -> i32 {
    libc::SIGRTMAX()
}

/// The lowest real-time signal number usable by programs.
pub fn sigrtmin() -> i32 {
    libc::SIGRTMIN()
}

/// Whether this process has exactly one thread (`/proc/self/task`).
pub fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").map(|d| d.count() == 1).unwrap_or(false)
}

/// Takes ownership of a descriptor the kernel installed for us (SCM_RIGHTS).
pub fn own_received_fd(fd: std::os::fd::RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: the kernel just installed this descriptor in our table for this
    // message; nothing else refers to it, so it is ours to own and close.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// Returns the heap's free pages to the kernel (a long-lived process after
/// a burst of allocation, like a container monitor after start).
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe { libc::malloc_trim(0) };
}

/// Gives the kernel back the main thread's stack pages below the current
/// frame (touched once by a deep start-up, unused while the process idles).
/// Call only where no signal handler can run on this stack.
/// Checks that it runs on the main thread of a single-threaded process, and
/// does nothing otherwise.
pub fn release_stack_below_here() {
    if !single_threaded() {
        return;
    }
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return };
    let Some(line) = maps.lines().find(|l| l.ends_with("[stack]")) else { return };
    let Some((lo, hi)) = line.split_whitespace().next().and_then(|r| r.split_once('-')) else { return };
    let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16)) else { return };
    // Our frame must be on that mapping (the main thread's stack).
    if !(lo..hi).contains(&sp) {
        return;
    }
    const PAGE: usize = 4096;
    // Keep a margin under our own frame.
    let end = (sp.saturating_sub(16 << 10)) & !(PAGE - 1);
    if end <= lo {
        return;
    }
    // SAFETY: [lo, end) is part of the stack mapping strictly below the live
    // frames (with 16 KiB to spare); MADV_DONTNEED makes those pages read back
    // as zeros on next use, which is what an unused stack region holds anyway.
    unsafe { libc::madvise(lo as *mut libc::c_void, end - lo, libc::MADV_DONTNEED) };
}

/// Caps glibc's malloc arenas (a long-lived multi-threaded daemon otherwise
/// keeps one per thread, mostly free).
pub fn limit_malloc_arenas(n: i32) {
    // SAFETY: mallopt only changes the allocator's tuning parameters.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, n) };
}

/// Ends a forked child at once: no atexit handlers, no flushing of buffers
/// inherited from the parent.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) is async-signal-safe and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// setdomainname(2).
pub fn set_domainname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, valid for the call.
    let ret = unsafe { libc::setdomainname(name.as_ptr() as *const libc::c_char, name.len()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Restores the default SIGPIPE disposition (Rust ignores it), so a CLI
/// writing into a closed pipe (`wharf images | head -1`) ends quietly.
pub fn default_sigpipe() {
    // SAFETY: installing SIG_DFL passes no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

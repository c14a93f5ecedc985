//! End-to-end tests of `wharf runtime` (as root, on a busybox-static rootfs).

mod support;

#[path = "runtime/conformance.rs"]
mod conformance;
#[path = "runtime/security.rs"]
mod security;
#[path = "runtime/suite.rs"]
mod suite;

use std::path::Path;
use std::process::Command;

use serde_json::json;
use support::{cgroup_dirs, eventually, Env};

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

#[test]
fn pid1_hostname_and_mounts() {
    let env = Env::new();
    let b = env.bundle("b", &["sh", "-c", "echo $$; hostname; cat /proc/mounts; ls /dev"], |_| {});
    let (code, out, err) = env.run(&unique("pid1"), &b);
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1"));
    assert_eq!(lines.next(), Some("wharf"));
    for needle in [
        "proc /proc proc",
        "tmpfs /dev tmpfs",
        "devpts /dev/pts devpts",
        "mqueue /dev/mqueue",
        "sysfs /sys sysfs ro",
        "/sys/fs/cgroup",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    for dev in ["null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "fd", "stdin"] {
        assert!(out.lines().any(|l| l == dev), "missing /dev/{dev} in\n{out}");
    }
    assert!(env.ids().is_empty(), "run must delete the container");
}

#[test]
fn masked_and_readonly_paths() {
    let env = Env::new();
    assert!(
        Path::new("/proc/timer_list").exists() && Path::new("/sys/firmware").is_dir(),
        "host lacks the probed paths"
    );
    let script = "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/ns_last_pid && echo WRITABLE; cat /proc/sys/net/ipv4/ping_group_range";
    // A sysctl is written before /proc/sys turns read-only (Docker sets this one).
    let b = env.bundle("b", &["sh", "-c", script], |c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ping_group_range": "0 2147483647"})
    });
    let (code, out, err) = env.run(&unique("mask"), &b);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].trim(), "0", "/proc/timer_list is masked by /dev/null");
    assert_eq!(lines[1].trim(), "0", "/sys/firmware is an empty tmpfs");
    assert!(!out.contains("WRITABLE"), "/proc/sys must be read-only: {out}");
    assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>(), ["0", "2147483647"], "{out}");
    assert!(err.contains("Read-only file system"), "{err}");
}

#[test]
fn readonly_root() {
    let env = Env::new();
    let b =
        env.bundle("b", &["sh", "-c", "touch /should-fail || echo DENIED"], |c| c["root"]["readonly"] = json!(true));
    let (code, out, err) = env.run(&unique("ro"), &b);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("DENIED"), "{out}");
    assert!(!support::rootfs().join("should-fail").exists());
}

#[test]
fn memory_limit_oom_kills() {
    let env = Env::new();
    // tail buffers its whole (newline-free) input: it grows until the limit.
    let b = env.bundle("b", &["sh", "-c", "head -c 512m /dev/zero | tail > /dev/null; echo status=$?"], |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 32 << 20});
    });
    let (code, out, err) = env.run(&unique("oom"), &b);
    // The OOM killer picks its victim: usually tail (the shell reports 137),
    // sometimes the shell itself (the container exits 128+SIGKILL).
    assert!(out.contains("status=137") || code == 137, "expected an OOM kill: code {code}, {out}{err}");
}

#[test]
fn pids_limit() {
    let env = Env::new();
    let b = env.bundle("b", &["sh", "-c", "for i in $(seq 1 20); do sleep 3 & done 2>&1; echo spawned"], |c| {
        c["linux"]["resources"]["pids"] = json!({"limit": 8});
    });
    let (_, out, err) = env.run(&unique("pids"), &b);
    let all = format!("{out}{err}");
    assert!(all.contains("can't fork") || all.contains("Resource temporarily unavailable"), "{all}");
}

#[test]
fn cpu_limits_written_and_cgroup_removed() {
    let env = Env::new();
    let id = unique("cpu");
    let cg = format!("wharf-test/{id}");
    let b = env.bundle("b", &["sleep", "100"], |c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{cg}"));
        c["linux"]["resources"]["cpu"] = json!({"shares": 512, "quota": 25000, "period": 100000, "cpus": "0"});
    });
    env.quiet_ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
    let dirs = cgroup_dirs(&cg);
    assert!(!dirs.is_empty());
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if v2 {
        let dir = Path::new("/sys/fs/cgroup").join(&cg);
        assert_eq!(std::fs::read_to_string(dir.join("cpu.max")).unwrap().trim(), "25000 100000");
    } else {
        let cpu = Path::new("/sys/fs/cgroup/cpu").join(&cg);
        assert_eq!(std::fs::read_to_string(cpu.join("cpu.cfs_quota_us")).unwrap().trim(), "25000");
        assert_eq!(std::fs::read_to_string(cpu.join("cpu.cfs_period_us")).unwrap().trim(), "100000");
        assert_eq!(std::fs::read_to_string(cpu.join("cpu.shares")).unwrap().trim(), "512");
        let cpuset = Path::new("/sys/fs/cgroup/cpuset").join(&cg);
        assert_eq!(std::fs::read_to_string(cpuset.join("cpuset.cpus")).unwrap().trim(), "0");
    }
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    let procs = std::fs::read_to_string(dirs[0].join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l.trim() == pid.to_string()), "init {pid} must be in {}", dirs[0].display());
    env.ok(&["delete", "--force", &id]);
    for d in dirs {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn capabilities_dropped() {
    let env = Env::new();
    let script = "touch /tmp/f && chown 1 /tmp/f || echo NOCHOWN; mknod /tmp/n c 1 3 || echo NOMKNOD; grep CapEff /proc/self/status";
    let b = env.bundle("b", &["sh", "-c", script], |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
    });
    let (code, out, err) = env.run(&unique("caps"), &b);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("NOCHOWN") && out.contains("NOMKNOD"), "{out}{err}");
    // AUDIT_WRITE, KILL, NET_BIND_SERVICE: the default set.
    assert!(out.contains("CapEff:\t0000000020000420"), "{out}");
}

#[test]
fn seccomp_default_denies_namespace_syscalls() {
    let env = Env::new();
    let script = "unshare -u true && echo UNSHARE_OK || echo UNSHARE_DENIED; grep Seccomp: /proc/self/status";
    // Give CAP_SYS_ADMIN so only seccomp stands in the way.
    let add_admin = |c: &mut serde_json::Value| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_SYS_ADMIN"));
        }
    };
    let b = env.bundle("with", &["sh", "-c", script], add_admin);
    let (_, out, err) = env.run(&unique("sec"), &b);
    assert!(out.contains("UNSHARE_DENIED"), "{out}{err}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    let b = env.bundle("without", &["sh", "-c", script], |c| {
        add_admin(c);
        c["linux"].as_object_mut().unwrap().remove("seccomp");
    });
    let (_, out, err) = env.run(&unique("nosec"), &b);
    assert!(out.contains("UNSHARE_OK"), "without seccomp, CAP_SYS_ADMIN allows unshare: {out}{err}");
}

#[test]
fn user_namespace_mapping() {
    let env = Env::new();
    let b = env.bundle("b", &["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"], |c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let id = unique("userns");
    let (code, out, err) = env.run(&id, &b);
    assert_eq!(code, 0, "{err}");
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(&words[..7], ["0", "100000", "65536", "0", "100000", "65536", "0"], "{out}");
}

#[test]
fn exec_ps_pause_resume_kill() {
    let env = Env::new();
    let id = unique("exec");
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    env.quiet_ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert_eq!(env.status(&id), "created");
    env.ok(&["start", &id]);
    assert_eq!(env.status(&id), "running");

    let out = env.ok(&["exec", &id, "sh", "-c", "echo $$; hostname; cat /proc/1/cmdline"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines[0], "1");
    assert_eq!(lines[1], "wharf");
    assert!(lines[2].starts_with("sleep"), "{out}");
    let code = env.rt(&["exec", &id, "sh", "-c", "exit 7"]).status.code();
    assert_eq!(code, Some(7));

    let process = env.dir.path().join("process.json");
    std::fs::write(&process, json!({"args": ["sh", "-c", "echo from-process-file $FOO"], "cwd": "/", "env": ["FOO=bar", "PATH=/bin"], "user": {"uid": 0, "gid": 0}}).to_string()).unwrap();
    assert_eq!(env.ok(&["exec", "--process", process.to_str().unwrap(), &id]).trim(), "from-process-file bar");

    let pids: Vec<i64> = serde_json::from_str(&env.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(pids.contains(&env.state(&id)["pid"].as_i64().unwrap()));

    env.ok(&["pause", &id]);
    assert_eq!(env.status(&id), "paused");
    assert!(!env.rt(&["pause", &id]).status.success(), "pausing a paused container fails");
    env.ok(&["resume", &id]);
    assert_eq!(env.status(&id), "running");

    assert!(!env.rt(&["delete", &id]).status.success(), "delete of a running container needs --force");
    env.ok(&["kill", &id, "KILL"]);
    eventually("stopped", || env.status(&id) == "stopped");
    assert_eq!(env.state(&id)["pid"], 0);
    let out = env.rt(&["kill", &id, "9"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("container not running"));
    env.ok(&["delete", &id]);
    assert!(env.ids().is_empty());
}

#[test]
fn exit_codes_and_signal_forwarding() {
    let env = Env::new();
    let b = env.bundle("b", &["sh", "-c", "exit 3"], |_| {});
    assert_eq!(env.run(&unique("exit"), &b).0, 3);
    let b = env.bundle("trap", &["sh", "-c", "trap 'exit 42' TERM; echo ready; sleep 100 & wait"], |_| {});
    let mut child = env
        .cmd()
        .args(["run", "--bundle", b.to_str().unwrap(), &unique("sig")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut stdout, &mut buf).unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(42));
}

#[test]
fn hooks_fire_in_order() {
    let env = Env::new();
    let log_dir = env.dir.path().join("hooklog");
    std::fs::create_dir_all(&log_dir).unwrap();
    let log = log_dir.join("log");
    let host_hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read -r state; echo {name} >> {}; echo \"$state\" > {}/{name}.json", log.display(), log_dir.display())]});
    let b = env.bundle("b", &["true"], |c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/hooklog", "type": "bind", "source": log_dir, "options": ["rbind"]}));
        c["hooks"] = json!({
            "prestart": [host_hook("prestart")],
            "createRuntime": [host_hook("createRuntime")],
            "createContainer": [host_hook("createContainer")],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo startContainer >> /hooklog/log"]}],
            "poststart": [host_hook("poststart")],
            "poststop": [host_hook("poststop")],
        });
    });
    let id = unique("hooks");
    let (code, _, err) = env.run(&id, &b);
    assert_eq!(code, 0, "{err}");
    let order = std::fs::read_to_string(&log).unwrap();
    let order: Vec<&str> = order.lines().collect();
    assert_eq!(order, ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]);
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(log_dir.join("createRuntime.json")).unwrap()).unwrap();
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["status"], "creating");
    assert!(st["pid"].as_i64().unwrap() > 1);
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(log_dir.join("poststop.json")).unwrap()).unwrap();
    assert_eq!(st["status"], "stopped");
}

#[test]
fn failing_hook_fails_create_and_cleans_up() {
    let env = Env::new();
    let id = unique("badhook");
    let cg = format!("wharf-test/{id}");
    let b = env.bundle("b", &["true"], |c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{cg}"));
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    });
    let (ok, err) = env.quiet(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert!(!ok);
    assert!(err.contains("createRuntime hook /bin/false failed"), "{err}");
    assert!(env.ids().is_empty());
    assert!(cgroup_dirs(&cg).is_empty(), "cgroup left behind");
}

#[test]
fn delete_leaves_nothing_behind() {
    let env = Env::new();
    let id = unique("clean");
    let cg = format!("wharf-test/{id}");
    let b = env.bundle("b", &["sleep", "1000"], |c| c["linux"]["cgroupsPath"] = json!(format!("/{cg}")));
    env.quiet_ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    env.ok(&["start", &id]);
    env.ok(&["delete", "--force", &id]);
    assert!(!env.root().join(&id).exists(), "state dir left");
    assert!(cgroup_dirs(&cg).is_empty(), "cgroup left");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().contains(" Z ")
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(env.dir.path().to_str().unwrap()), "mount leaked on the host");
    // Deleting again: unknown id, but --force makes it a no-op.
    assert!(!env.rt(&["delete", &id]).status.success());
    env.ok(&["delete", "--force", &id]);
}

#[test]
fn bad_input_is_refused_cleanly() {
    let env = Env::new();
    let empty = env.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let check = |args: &[&str], needle: &str| {
        let (ok, err) = env.quiet(args);
        assert!(!ok, "{args:?} must fail");
        assert!(err.contains(needle), "{args:?}: expected {needle:?} in {err:?}");
        assert!(env.ids().is_empty(), "{args:?} left a container behind");
    };
    check(&["create", "--bundle", empty.to_str().unwrap(), "x1"], "config.json");
    std::fs::write(empty.join("config.json"), "{ not json").unwrap();
    check(&["create", "--bundle", empty.to_str().unwrap(), "x1"], "invalid config");
    let b = env.bundle("badns", &["true"], |c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "bogus"}))
    });
    check(&["create", "--bundle", b.to_str().unwrap(), "x2"], "bogus");
    let b = env.bundle("noroot", &["true"], |c| c["root"]["path"] = json!("/nonexistent/rootfs"));
    check(&["create", "--bundle", b.to_str().unwrap(), "x3"], "rootfs /nonexistent/rootfs does not exist");
    let b = env.bundle("noexe", &["/no/such/program"], |_| {});
    check(&["create", "--bundle", b.to_str().unwrap(), "x4"], "no such file or directory");
    check(&["create", "--bundle", b.to_str().unwrap(), "../evil"], "invalid container id");
    check(&["start", "nosuch"], "does not exist");
    check(&["kill", "nosuch"], "does not exist");

    let good = env.bundle("good", &["sleep", "1000"], |_| {});
    env.quiet_ok(&["create", "--bundle", good.to_str().unwrap(), "dup"]);
    let (ok, err) = env.quiet(&["create", "--bundle", good.to_str().unwrap(), "dup"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    env.ok(&["start", "dup"]);
    let (ok, err) = env.quiet(&["start", "dup"]);
    assert!(!ok && err.contains("is running"), "{err}");
    env.ok(&["delete", "--force", "dup"]);
    let leftovers: Vec<_> = std::fs::read_dir(env.root())
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The same bundles under Debian's runc and under wharf: what the process sees must match.
#[test]
fn differential_against_runc() {
    if !support::runc_available() {
        panic!("runc is not installed (apt-get install runc)");
    }
    let probes = [
        "id",
        "hostname",
        "echo $$",
        "grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status",
        "ls /dev /dev/pts",
        "cat /proc/self/uid_map",
        "ulimit -n",
        "awk '{print $2, $3}' /proc/mounts | sort",
        "ip link 2>/dev/null | grep -o 'lo:.*state [A-Z]*' || cat /sys/class/net/lo/operstate",
        "touch /proc/sys/x 2>&1 | head -1; ls /proc/kcore; wc -c < /proc/kcore",
        "pwd; umask",
    ];
    for probe in probes {
        let mut outputs = Vec::new();
        for rt in [vec![support::WHARF, "runtime"], vec!["runc"]] {
            let env = Env::with_runtime(&rt);
            let b = env.bundle("b", &["sh", "-c", probe], |_| {});
            let (code, out, err) = env.run(&unique("diff"), &b);
            outputs.push((code, out, err));
        }
        assert_eq!(outputs[0], outputs[1], "probe {probe:?}: wharf (left) and runc (right) differ");
    }
}

#[test]
fn console_socket_receives_pty_master() {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    let env = Env::new();
    let sock_path = env.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let id = unique("tty");
    let b = env.bundle("b", &["sh"], |c| c["process"]["terminal"] = json!(true));
    let (ok, err) =
        env.quiet(&["create", "--bundle", b.to_str().unwrap(), "--console-socket", sock_path.to_str().unwrap(), &id]);
    assert!(ok, "{err}");
    let (conn, _) = listener.accept().unwrap();
    let master = wharf_runtime::console::recv_fd(conn.as_fd()).unwrap();
    env.ok(&["start", &id]);
    let mut master = std::fs::File::from(master);
    master.write_all(b"tty; echo MARK$((40+2))\n").unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    eventually("shell output on the pty", || {
        let n = master.read(&mut buf).unwrap_or(0);
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        seen.contains("MARK42")
    });
    assert!(seen.contains("/dev/pts/0") || seen.contains("/dev/console"), "{seen}");
    env.ok(&["delete", "--force", &id]);
}

#[test]
fn features_and_spec() {
    let env = Env::new();
    let f: serde_json::Value = serde_json::from_str(&env.ok(&["features"])).unwrap();
    assert_eq!(f["linux"]["cgroup"]["v2"], true);
    assert!(f["hooks"].as_array().unwrap().len() == 6);
    let dir = env.dir.path().join("spec");
    std::fs::create_dir_all(&dir).unwrap();
    env.ok(&["spec", "--bundle", dir.to_str().unwrap()]);
    let out = env.rt(&["spec", "--bundle", dir.to_str().unwrap()]);
    assert!(!out.status.success(), "spec must not overwrite config.json");
    let _ = Command::new("true").status();
}

/// CVE-2019-5736: a descriptor to a runtime process's /proc/PID/exe must not
/// become a way to write the host binary once the runtime process is gone.
#[test]
fn runtime_binary_cannot_be_reopened_for_writing() {
    use std::os::fd::AsRawFd;
    // A private copy of the binary: no other test executes it, so a write
    // attempt can only be refused by the read-only seal (EROFS), not ETXTBSY.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("wharf");
    std::fs::copy(support::WHARF, &copy).unwrap();
    let env = Env::with_runtime(&[copy.to_str().unwrap(), "runtime"]);
    let id = unique("cve");
    let b = env.bundle("b", &["true"], |_| {});
    env.quiet_ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
    // Until start, the container's init is still our binary's image.
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    let exe = std::fs::File::options().read(true).custom_flags_path().open(format!("/proc/{pid}/exe")).unwrap();
    env.ok(&["delete", "--force", &id]);
    let err = std::fs::OpenOptions::new().write(true).open(format!("/proc/self/fd/{}", exe.as_raw_fd())).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "binary reachable for writing: {err}");
}

trait PathOnly {
    fn custom_flags_path(&mut self) -> &mut Self;
}

impl PathOnly for std::fs::OpenOptions {
    fn custom_flags_path(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_PATH)
    }
}

#[test]
fn namespaces_joined_by_path() {
    let env = Env::new();
    let first = unique("ns-a");
    let b = env.bundle("a", &["sleep", "1000"], |c| c["hostname"] = json!("first"));
    env.quiet_ok(&["create", "--bundle", b.to_str().unwrap(), &first]);
    let pid = env.state(&first)["pid"].as_i64().unwrap();
    let b = env.bundle("b", &["sh", "-c", "hostname; readlink /proc/self/ns/net; readlink /proc/self/ns/uts"], |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "uts" && n["type"] != "network");
        ns.push(json!({"type": "uts", "path": format!("/proc/{pid}/ns/uts")}));
        ns.push(json!({"type": "network", "path": format!("/proc/{pid}/ns/net")}));
        c.as_object_mut().unwrap().remove("hostname");
    });
    let (code, out, err) = env.run(&unique("ns-b"), &b);
    assert_eq!(code, 0, "{err}");
    let want_net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let want_uts = std::fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["first", want_net.to_str().unwrap(), want_uts.to_str().unwrap()]);
}

#[test]
fn device_allowlist() {
    let env = Env::new();
    // /dev/kmsg exists in the container (linux.devices) but the cgroup only lets it be created.
    let script = "head -c 1 /dev/kmsg > /dev/null && echo KMSG_OK; echo x > /dev/null && echo NULL_OK; head -c 1 /dev/zero >/dev/null && echo ZERO_OK";
    let b = env.bundle("b", &["sh", "-c", script], |c| {
        c["linux"]["devices"] = json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 420}]);
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "access": "m"},
            {"allow": false, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
        ]);
    });
    let (_, out, err) = env.run(&unique("dev"), &b);
    assert!(out.contains("NULL_OK"), "{out}{err}");
    assert!(out.contains("ZERO_OK"), "the runtime's default devices stay usable, as in runc: {out}{err}");
    assert!(!out.contains("KMSG_OK"), "/dev/kmsg must be denied: {out}");
    assert!(err.contains("Operation not permitted"), "{err}");
}

#[test]
fn process_limits_and_privileges() {
    let env = Env::new();
    let script = "cat /proc/self/oom_score_adj; ulimit -n; ulimit -Hn; grep NoNewPrivs /proc/self/status; id";
    let b = env.bundle("b", &["sh", "-c", script], |c| {
        c["process"]["oomScoreAdj"] = json!(500);
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000}]);
        c["process"]["noNewPrivileges"] = json!(true);
        c["process"]["user"] = json!({"uid": 65534, "gid": 65534, "additionalGids": [10, 20]});
    });
    let (code, out, err) = env.run(&unique("limits"), &b);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..4], ["500", "1000", "2000", "NoNewPrivs:\t1"], "{out}");
    assert!(lines[4].starts_with("uid=65534(nobody) gid=65534(nogroup) groups=10,20"), "{out}");
}

#[test]
fn bind_mounts_and_propagation() {
    let env = Env::new();
    let data = env.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "host file\n").unwrap();
    let script = "cat /data/f; touch /data/x 2>/dev/null || echo RO; awk '$5 == \"/\"' /proc/self/mountinfo";
    let b = env.bundle("b", &["sh", "-c", script], |c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/data", "type": "bind", "source": data, "options": ["rbind", "ro"]}));
        c["linux"]["rootfsPropagation"] = json!("shared");
    });
    let (code, out, err) = env.run(&unique("bind"), &b);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("host file\nRO\n"), "{out}");
    assert!(out.lines().nth(2).unwrap().contains("shared:"), "root must be shared: {out}");
    assert!(!data.join("x").exists());
}

#[test]
fn memory_and_swap_limits_written() {
    let env = Env::new();
    let id = unique("mem");
    let cg = format!("wharf-test/{id}");
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let memsw = Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    let b = env.bundle("b", &["sleep", "100"], |c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{cg}"));
        c["linux"]["resources"]["memory"] =
            if v2 || memsw { json!({"limit": 32 << 20, "swap": 64 << 20}) } else { json!({"limit": 32 << 20}) };
    });
    env.quiet_ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
    if v2 {
        let dir = Path::new("/sys/fs/cgroup").join(&cg);
        assert_eq!(std::fs::read_to_string(dir.join("memory.max")).unwrap().trim(), (32 << 20).to_string());
        assert_eq!(std::fs::read_to_string(dir.join("memory.swap.max")).unwrap().trim(), (32 << 20).to_string());
    } else {
        let dir = Path::new("/sys/fs/cgroup/memory").join(&cg);
        assert_eq!(std::fs::read_to_string(dir.join("memory.limit_in_bytes")).unwrap().trim(), (32 << 20).to_string());
        if memsw {
            let got = std::fs::read_to_string(dir.join("memory.memsw.limit_in_bytes")).unwrap();
            assert_eq!(got.trim(), (64 << 20).to_string());
        }
    }
    env.ok(&["delete", "--force", &id]);
}

#[test]
fn exec_detached_with_tty_and_pid_file() {
    let env = Env::new();
    let id = unique("execd");
    let b = env.bundle("b", &["sleep", "1000"], |_| {});
    env.quiet_ok(&["run", "--detach", "--bundle", b.to_str().unwrap(), &id]);
    assert_eq!(env.status(&id), "running");
    let pid_file = env.dir.path().join("exec.pid");
    env.quiet_ok(&["exec", "--detach", "--pid-file", pid_file.to_str().unwrap(), &id, "sleep", "500"]);
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let pids: Vec<i32> = serde_json::from_str(&env.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(pids.contains(&pid), "exec'd {pid} not in {pids:?}");
    // Foreground -t: the runtime holds the pty master and copies it to our stdout.
    let out = env.ok(&["exec", "-t", &id, "tty"]);
    assert!(out.contains("/dev/pts/"), "{out:?}");
    env.ok(&["delete", "--force", &id]);
    eventually("exec'd process gone", || {
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.contains(") Z")).unwrap_or(true)
    });
}

#[test]
fn preserve_fds_and_json_log() {
    let env = Env::new();
    let file = env.dir.path().join("passed");
    std::fs::write(&file, "through fd 3\n").unwrap();
    let b = env.bundle("b", &["cat", "/proc/self/fd/3"], |_| {});
    let script = format!(
        "exec 3<{}; exec {} runtime --root {} run --preserve-fds 1 --bundle {} {}",
        file.display(),
        support::WHARF,
        env.root().display(),
        b.display(),
        unique("fds")
    );
    let out = Command::new("bash").arg("-c").arg(&script).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through fd 3\n", "{}", String::from_utf8_lossy(&out.stderr));

    let log = env.dir.path().join("log.json");
    let (ok, _) = env.quiet(&["--log", log.to_str().unwrap(), "--log-format", "json", "start", "nosuch"]);
    assert!(!ok);
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&log).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("nosuch does not exist"), "{line}");
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
}

/// The cgroup v2 device filter, loaded into the kernel for real: on a v2 host
/// in /sys/fs/cgroup, on a hybrid host in its cgroup2 `unified` mount.
#[test]
fn v2_device_program_enforced_by_kernel() {
    use std::os::fd::AsFd;
    use wharf_runtime::cgroups::devices::{attach, bpf_program, effective_rules, DeviceRule};
    let base = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .map(Path::new)
        .find(|p| nix::sys::statfs::statfs(*p).map(|s| s.filesystem_type().0 == 0x6367_7270).unwrap_or(false))
        .expect("no cgroup2 mount on this host");
    let dir = base.join(unique("wharf-devtest"));
    std::fs::create_dir(&dir).unwrap();
    struct Remove<'a>(&'a Path);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(self.0);
        }
    }
    let _guard = Remove(&dir);
    // Deny all, then the runtime's defaults (/dev/null, /dev/zero, ...) are allowed.
    let mut rules = effective_rules(&[]);
    rules.insert(0, DeviceRule { allow: false, kind: 'a', major: None, minor: None, access: "rwm".into() });
    let cg = std::fs::File::open(&dir).unwrap();
    attach(cg.as_fd(), &bpf_program(&rules)).unwrap();
    let script = format!(
        "echo $$ > {}/cgroup.procs; head -c 1 /dev/zero >/dev/null && echo ZERO_OK; echo x > /dev/null && echo NULL_OK; head -c 1 /dev/kmsg >/dev/null 2>&1 && echo KMSG_OK; true",
        dir.display()
    );
    let out = Command::new("/bin/sh").arg("-c").arg(&script).output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("NULL_OK") && out.contains("ZERO_OK"), "{out}");
    assert!(!out.contains("KMSG_OK"), "/dev/kmsg is not in the allowlist: {out}");
}

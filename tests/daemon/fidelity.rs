//! Engine API fidelity (issue 11): options the docker CLI sends are honoured
//! — checked from inside the container, not only in inspect — or refused
//! with a 400 naming the field, creating nothing.

use super::support::daemon::Daemon;

const IMG: &str = "busybox:local";

fn daemon() -> Daemon {
    let d = Daemon::start();
    d.import_busybox();
    d
}

fn run(d: &Daemon, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[IMG, "sh", "-c", script]);
    d.ok(&args).trim().to_string()
}

fn ns(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap().display().to_string()
}

#[test]
fn namespace_modes_are_honoured() {
    let d = daemon();
    // The test runs in the host's pid/ipc/uts/cgroup namespaces (the daemon only in a netns of its own).
    let host = |kind: &str| ns("self", kind);
    // --pid host: the host's init is the container's pid 1.
    assert_eq!(run(&d, &["--pid", "host"], "readlink /proc/self/ns/pid"), host("pid"));
    assert_ne!(run(&d, &[], "readlink /proc/self/ns/pid"), host("pid"));
    assert_eq!(run(&d, &["--ipc", "host"], "readlink /proc/self/ns/ipc"), host("ipc"));
    assert_ne!(run(&d, &["--ipc", "shareable"], "readlink /proc/self/ns/ipc"), host("ipc"));
    // --ipc none: no /dev/shm mount.
    assert_eq!(run(&d, &["--ipc", "none"], "grep -c ' /dev/shm ' /proc/mounts || true"), "0");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(run(&d, &["--uts", "host"], "hostname"), hostname.trim());
    assert_eq!(run(&d, &["--uts", "host"], "readlink /proc/self/ns/uts"), host("uts"));
    assert_eq!(run(&d, &["--domainname", "example.org"], "cat /proc/sys/kernel/domainname"), "example.org");
    assert_ne!(run(&d, &["--cgroupns", "private"], "readlink /proc/self/ns/cgroup"), host("cgroup"));
    assert_eq!(run(&d, &["--cgroupns", "host"], "readlink /proc/self/ns/cgroup"), host("cgroup"));
    // Inspect reports what was asked.
    d.ok(&["create", "--name", "m", "--pid", "host", "--ipc", "host", "--uts", "host", IMG, "true"]);
    let v = d.ok(&["inspect", "-f", "{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}}", "m"]);
    assert_eq!(v.trim(), "host host host");
    // Modes Wharf cannot do yet are refused at create, naming them.
    let out = d.docker(&["create", "--pid", "container:m", IMG, "true"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("PID mode"));
}

#[test]
fn process_and_resource_options_reach_the_container() {
    let d = daemon();
    let mut groups: Vec<String> =
        run(&d, &["--group-add", "20", "--group-add", "root", "-u", "nobody"], "id -G").split(' ').map(String::from).collect();
    groups.sort();
    assert_eq!(groups, ["0", "20", "65534"]);
    let out = d.docker(&["run", "--rm", "--group-add", "no-such-group", IMG, "true"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no-such-group"));
    assert_eq!(run(&d, &["--oom-score-adj", "321"], "cat /proc/self/oom_score_adj"), "321");
    assert!(run(&d, &["--dns-search", "a.example", "--dns-option", "ndots:3"], "cat /etc/resolv.conf")
        .lines()
        .any(|l| l == "search a.example"));
    // The container's cgroup files (v1 on this host; the unified mount elsewhere).
    let cg = |flags: &[&str], files: &[&str]| -> String {
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[IMG, "sleep", "100"]);
        let id = d.ok(&args).trim().to_string();
        let found = files
            .iter()
            .find_map(|f| {
                let pattern = f.replace("{id}", &id);
                std::fs::read_to_string(&pattern).ok()
            })
            .unwrap_or_else(|| panic!("none of {files:?} for {id}"));
        d.ok(&["rm", "-f", &id]);
        found.trim().to_string()
    };
    assert_eq!(
        cg(
            &["--cpu-shares", "512"],
            &["/sys/fs/cgroup/cpu,cpuacct/wharf/{id}/cpu.shares", "/sys/fs/cgroup/cpu/wharf/{id}/cpu.shares"]
        ),
        "512"
    );
    assert_eq!(
        cg(
            &["--cpu-period", "50000", "--cpu-quota", "25000"],
            &[
                "/sys/fs/cgroup/cpu,cpuacct/wharf/{id}/cpu.cfs_quota_us",
                "/sys/fs/cgroup/cpu/wharf/{id}/cpu.cfs_quota_us"
            ]
        ),
        "25000"
    );
    assert_eq!(cg(&["--memory-swappiness", "7"], &["/sys/fs/cgroup/memory/wharf/{id}/memory.swappiness"]), "7");
    assert_eq!(
        cg(
            &["-m", "64m", "--memory-reservation", "32m"],
            &["/sys/fs/cgroup/memory/wharf/{id}/memory.soft_limit_in_bytes"]
        ),
        (32u64 << 20).to_string()
    );
    let oom = cg(&["-m", "64m", "--oom-kill-disable"], &["/sys/fs/cgroup/memory/wharf/{id}/memory.oom_control"]);
    assert!(oom.lines().any(|l| l == "oom_kill_disable 1"), "{oom}");
}

#[test]
fn options_wharf_does_not_honour_are_refused_naming_the_field() {
    let d = daemon();
    let before = d.ok(&["ps", "-aq"]);
    for (body, field) in [
        (r#"{"Image":"busybox:local","HostConfig":{"CgroupParent":"mine"}}"#, "HostConfig.CgroupParent"),
        (r#"{"Image":"busybox:local","HostConfig":{"VolumesFrom":["x"]}}"#, "HostConfig.VolumesFrom"),
        (r#"{"Image":"busybox:local","HostConfig":{"Links":["a:b"]}}"#, "HostConfig.Links"),
        (
            r#"{"Image":"busybox:local","HostConfig":{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/x","CgroupPermissions":"rwm"}]}}"#,
            "HostConfig.Devices",
        ),
        (r#"{"Image":"busybox:local","MacAddress":"02:42:ac:11:00:09"}"#, "MacAddress"),
        (r#"{"Image":"busybox:local","HostConfig":{"MemorySwappiness":101}}"#, "swappiness"),
        (r#"{"Image":"busybox:local","HostConfig":{"CpuQuota":10}}"#, "quota"),
    ] {
        let (status, text) = d.http("POST", "/containers/create", body);
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(field), "{body}: {text}");
    }
    // What the docker CLI sends for a plain run is accepted, and nothing was made by the refusals.
    assert_eq!(d.ok(&["ps", "-aq"]), before);
    assert_eq!(run(&d, &[], "echo ok"), "ok");
}

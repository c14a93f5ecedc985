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

/// A hijacked request (`Upgrade: tcp`): the raw stream after the 101 head.
fn hijack(d: &Daemon, path: &str, body: &str) -> Vec<u8> {
    let mut s = Session::open(d, path, body);
    let mut all = Vec::new();
    std::io::Read::read_to_end(&mut s.0, &mut all).unwrap();
    all
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
    let mut groups: Vec<String> = run(&d, &["--group-add", "20", "--group-add", "root", "-u", "nobody"], "id -G")
        .split(' ')
        .map(String::from)
        .collect();
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
        (r#"{"Image":"busybox:local","HostConfig":{"StorageOpt":{"size":"1G"}}}"#, "HostConfig.StorageOpt"),
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

#[test]
fn semantics_and_streams_as_docker() {
    let d = daemon();
    // kill -s KILL returns once the container has exited.
    d.ok(&["run", "-d", "--name", "k", IMG, "sleep", "1000"]);
    d.ok(&["kill", "k"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "k"]).trim(), "exited 137");
    // An exec created with a TTY, started without: its output is framed (the start request decides).
    d.ok(&["run", "-d", "--name", "e", IMG, "sleep", "1000"]);
    let (status, created) =
        d.http("POST", "/containers/e/exec", r#"{"Cmd":["echo","hi"],"Tty":true,"AttachStdout":true}"#);
    assert_eq!(status, 201, "{created}");
    let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["Id"].as_str().unwrap().to_string();
    let out = hijack(&d, &format!("/exec/{id}/start"), r#"{"Detach":false,"Tty":false}"#);
    assert!(out.first() == Some(&1) && out.ends_with(b"hi\r\n"), "{out:?}");
    // Volumes: filters, an unknown driver, what prune reclaims.
    d.ok(&["volume", "create", "--label", "team=a", "alpha"]);
    d.ok(&["volume", "create", "beta"]);
    d.ok(&["run", "--rm", "-v", "alpha:/a", IMG, "sh", "-c", "head -c 4096 /dev/zero > /a/f"]);
    d.ok(&["run", "-d", "--name", "user", "-v", "beta:/b", IMG, "sleep", "1000"]);
    let names = |args: &[&str]| {
        let mut a = vec!["volume", "ls", "-q"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = d.ok(&a).lines().map(String::from).collect();
        v.sort();
        v
    };
    assert_eq!(names(&["--filter", "name=alp"]), ["alpha"]);
    assert_eq!(names(&["--filter", "label=team=a"]), ["alpha"]);
    assert_eq!(names(&["--filter", "dangling=false"]), ["beta"]);
    assert!(!d.docker(&["volume", "ls", "--filter", "colour=red"]).status.success());
    let (status, text) = d.http("POST", "/volumes/create", r#"{"Name":"x","Driver":"nfs-plugin"}"#);
    assert_eq!(status, 404, "{text}");
    let (status, text) = d.http("POST", "/volumes/prune", "");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["VolumesDeleted"], serde_json::json!(["alpha"]));
    assert!(v["SpaceReclaimed"].as_u64().unwrap() >= 4096, "{v}");
    d.ok(&["rm", "-f", "user", "e"]);
}

#[test]
fn nulls_are_accepted_where_docker_accepts_them() {
    let d = daemon();
    let (status, text) = d.http(
        "POST",
        "/containers/create",
        r#"{"Image":"busybox:local","Cmd":["true"],"Healthcheck":{"Test":["CMD","true"],"Interval":null,"Timeout":null,"Retries":null,"StartPeriod":null},"HostConfig":{"Dns":null,"Binds":null}}"#,
    );
    assert_eq!(status, 201, "{text}");
    let (status, text) = d.http(
        "POST",
        "/networks/create",
        r#"{"Name":"n1","IPAM":{"Driver":"default","Config":[{"Subnet":"10.99.7.0/24","Gateway":null,"IPRange":null}],"Options":null}}"#,
    );
    assert_eq!(status, 201, "{text}");
    let (status, text) = d.http(
        "POST",
        "/networks/create",
        r#"{"Name":"n2","IPAM":{"Config":[{"Subnet":"10.99.8.0/24","IPRange":"10.99.8.128/25"}]}}"#,
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("IPRange"), "{text}");
    d.ok(&["network", "rm", "n1"]);
}

/// Docker takes any printable network name; a container joins it by that name.
#[test]
fn network_names_as_docker_takes_them() {
    let d = daemon();
    for name in ["my net", "-x", "é"] {
        d.ok(&["network", "create", "--", name]);
        assert_eq!(d.ok(&["network", "inspect", "-f", "{{.Name}}", "--", name]).trim(), name);
    }
    // Docker takes a slash too (though no path can name it): removed by id.
    let id = d.ok(&["network", "create", "a/b"]);
    let out = run(&d, &["--network", "my net"], "ip -o -4 addr show eth0 | grep -c inet");
    assert_eq!(out, "1");
    for name in ["my net", "-x", "é", id.trim()] {
        d.ok(&["network", "rm", "--", name]);
    }
    let (status, text) = d.http("POST", "/networks/create", r#"{"Name":"a\nb"}"#);
    assert_eq!(status, 400, "{text}");
    let (status, text) = d.http("POST", "/networks/create", r#"{"Name":""}"#);
    assert_eq!(status, 400, "{text}");
}

#[test]
fn a_pull_that_fails_before_any_progress_is_an_http_error() {
    let d = daemon();
    // Nothing listens there (the daemon's own network namespace): the pull fails before any byte.
    let (status, text) = d.http("POST", "/images/create?fromImage=127.0.0.1:1/nosuch&tag=x", "");
    assert!(status >= 400, "{status}: {text}");
    assert!(text.contains("\"message\""), "{text}");
    let out = d.docker(&["pull", "127.0.0.1:1/nosuch:x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Error response from daemon"), "{out:?}");
}

/// The exit codes of commands that cannot run, as dockerd 20.10 gives them:
/// `run` 127 when the command is not there, 126 when it cannot be executed;
/// `exec` 126 for both.
#[test]
fn command_failures_exit_as_docker() {
    let d = daemon();
    let code = |args: &[&str]| d.docker(args).status.code();
    assert_eq!(code(&["run", "--rm", IMG, "no-such-command"]), Some(127));
    assert_eq!(code(&["run", "--rm", IMG, "/no/such"]), Some(127));
    assert_eq!(code(&["run", "--rm", IMG, "/etc"]), Some(126));
    assert_eq!(d.wharf(&["run", "--rm", IMG, "/etc"]).status.code(), Some(126));
    d.ok(&["run", "-d", "--name", "x", IMG, "sleep", "1000"]);
    for cmd in ["no-such-command", "/no/such", "/etc"] {
        assert_eq!(code(&["exec", "x", cmd]), Some(126), "{cmd}");
    }
    d.ok(&["rm", "-f", "x"]);
}

/// `POST /images/load` of something that is not an image archive: the
/// error is in the stream (a 200), as dockerd reads the archive while it answers.
#[test]
fn loading_garbage_reports_in_the_stream() {
    let d = daemon();
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(d.sock())
        .args(["-X", "POST", "-H", "Content-Type: application/x-tar", "--data-binary", "garbage"])
        .arg("http://docker/images/load?quiet=1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    assert_eq!(code, "200", "{text}");
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert!(v["errorDetail"]["message"].is_string() && v["error"].is_string(), "{v}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("g.tar"), "garbage").unwrap();
    let out = d.docker(&["load", "-i", &dir.path().join("g.tar").display().to_string()]);
    assert!(!out.status.success(), "{out:?}");
}

/// A hijacked session driven by the test: the request, then writes and
/// reads on the raw stream.
struct Session(std::os::unix::net::UnixStream);

impl Session {
    fn open(d: &Daemon, path: &str, body: &str) -> Session {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(d.sock()).unwrap();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut b).unwrap(), 1, "{}", String::from_utf8_lossy(&head));
            head.push(b[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        Session(s)
    }

    fn send(&mut self, data: &[u8]) {
        std::io::Write::write_all(&mut self.0, data).unwrap();
    }

    /// Reads until `want` has arrived (multiplexed frames' payloads).
    fn expect(&mut self, want: &str) {
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&strip_frames(&got)).contains(want) {
            let mut buf = [0u8; 4096];
            let n = std::io::Read::read(&mut self.0, &mut buf).expect("output in time");
            assert!(n > 0, "stream ended before {want:?}: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    }

    /// True if the daemon closes the stream (within the read timeout).
    fn ends(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match std::io::Read::read(&mut self.0, &mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// The payloads of Docker's multiplexed frames.
fn strip_frames(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while raw.len() >= 8 {
        let n = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]) as usize;
        let end = (8 + n).min(raw.len());
        out.extend_from_slice(&raw[8..end]);
        raw = &raw[end..];
    }
    out
}

#[test]
fn detach_keys_end_attach_and_exec_sessions() {
    let d = daemon();
    d.ok(&["run", "-d", "-i", "--name", "cat", IMG, "cat"]);
    // Default keys (ctrl-p ctrl-q): input before them reaches the process, then the session ends.
    let mut s = Session::open(&d, "/containers/cat/attach?stream=1&stdin=1&stdout=1&stderr=1", "");
    s.send(b"hello\n");
    s.expect("hello");
    s.send(b"\x10\x11");
    assert!(s.ends(), "the default detach keys end the attach");
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Running}}", "cat"]).trim(), "true");
    // Custom keys; a broken prefix is input after all.
    let mut s = Session::open(&d, "/containers/cat/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,x", "");
    s.send(b"\x01y-again\n");
    s.expect("\x01y-again");
    s.send(b"\x01x");
    assert!(s.ends());
    let (status, _) = d.http("POST", "/containers/cat/attach?stream=1&stdin=1&detachKeys=ctrl-1", "");
    assert_eq!(status, 400);
    // Exec: the process outlives its detached session.
    let (_, created) = d.http(
        "POST",
        "/containers/cat/exec",
        r#"{"Cmd":["sh","-c","read l; echo got:$l; sleep 1000"],"AttachStdin":true,"AttachStdout":true,"DetachKeys":"ctrl-e"}"#,
    );
    let exec = serde_json::from_str::<serde_json::Value>(&created).unwrap()["Id"].as_str().unwrap().to_string();
    let mut s = Session::open(&d, &format!("/exec/{exec}/start"), r#"{"Detach":false,"Tty":false}"#);
    s.send(b"line\n");
    s.expect("got:line");
    s.send(b"\x05");
    assert!(s.ends(), "ctrl-e ends the exec session");
    let (_, v) = d.http("GET", &format!("/exec/{exec}/json"), "");
    let v: serde_json::Value = serde_json::from_str(&v).unwrap();
    assert_eq!((v["Running"].as_bool(), v["DetachKeys"].as_str()), (Some(true), Some("ctrl-e")), "{v}");
    d.ok(&["rm", "-f", "cat"]);
}

#[test]
fn attach_replays_logs_and_chooses_streams() {
    let d = daemon();
    d.ok(&["run", "--name", "o", IMG, "sh", "-c", "echo out; echo err >&2"]);
    let raw = hijack(&d, "/containers/o/attach?logs=1&stream=0&stdout=1", "");
    assert_eq!(String::from_utf8_lossy(&strip_frames(&raw)), "out\n");
    let raw = hijack(&d, "/containers/o/attach?logs=1&stream=0&stdout=1&stderr=1", "");
    assert_eq!(raw[0], 1, "stdout framed as stream 1");
    let text = String::from_utf8_lossy(&strip_frames(&raw)).into_owned();
    assert!(text.contains("out\n") && text.contains("err\n"), "{text}");
    assert!(hijack(&d, "/containers/o/attach?stream=0&stdout=1", "").is_empty(), "no logs asked, none sent");
}

/// Every `HostConfig` key dockerd 20.10 reports for a plain container.
const DOCKER_HOST_CONFIG_KEYS: &[&str] = &[
    "Binds",
    "ContainerIDFile",
    "LogConfig",
    "NetworkMode",
    "PortBindings",
    "RestartPolicy",
    "AutoRemove",
    "VolumeDriver",
    "VolumesFrom",
    "ConsoleSize",
    "CapAdd",
    "CapDrop",
    "CgroupnsMode",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "GroupAdd",
    "IpcMode",
    "Cgroup",
    "Links",
    "OomScoreAdj",
    "PidMode",
    "Privileged",
    "PublishAllPorts",
    "ReadonlyRootfs",
    "SecurityOpt",
    "UTSMode",
    "UsernsMode",
    "ShmSize",
    "Runtime",
    "Isolation",
    "CpuShares",
    "Memory",
    "NanoCpus",
    "CgroupParent",
    "BlkioWeight",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpusetCpus",
    "CpusetMems",
    "Devices",
    "DeviceCgroupRules",
    "DeviceRequests",
    "MemoryReservation",
    "MemorySwap",
    "MemorySwappiness",
    "OomKillDisable",
    "PidsLimit",
    "Ulimits",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
    "MaskedPaths",
    "ReadonlyPaths",
];

#[test]
fn inspect_has_dockers_shape_and_the_clients_values() {
    let d = daemon();
    d.ok(&["create", "--name", "plain", IMG, "true"]);
    let v: serde_json::Value = serde_json::from_str(&d.http("GET", "/containers/plain/json", "").1).unwrap();
    let h = v["HostConfig"].as_object().unwrap();
    let missing: Vec<&&str> = DOCKER_HOST_CONFIG_KEYS.iter().filter(|k| !h.contains_key(**k)).collect();
    assert!(missing.is_empty(), "HostConfig lacks {missing:?}");
    for k in [
        "ResolvConfPath",
        "HostnamePath",
        "HostsPath",
        "MountLabel",
        "ProcessLabel",
        "AppArmorProfile",
        "ExecIDs",
        "GraphDriver",
    ] {
        assert!(v.get(k).is_some(), "{k} missing");
    }
    assert_eq!(v["HostConfig"]["LogConfig"]["Config"], serde_json::json!({}), "defaults are not reported as set");
    assert_eq!(v["HostConfig"]["CapAdd"], serde_json::Value::Null);
    assert!(v["HostConfig"].get("Init").is_none() && v["Config"].get("ExposedPorts").is_none());

    d.ok(&[
        "create",
        "--name",
        "rich",
        "--log-opt",
        "max-size=1m",
        "-v",
        "/tmp:/h:ro",
        "--tmpfs",
        "/t:size=1m",
        "-m",
        "64m",
        "--init",
        IMG,
        "true",
    ]);
    let v: serde_json::Value = serde_json::from_str(&d.http("GET", "/containers/rich/json", "").1).unwrap();
    assert_eq!(v["HostConfig"]["LogConfig"]["Config"], serde_json::json!({"max-size": "1m"}));
    assert_eq!(v["HostConfig"]["Binds"], serde_json::json!(["/tmp:/h:ro"]));
    assert_eq!(v["HostConfig"]["Tmpfs"], serde_json::json!({"/t": "size=1m"}));
    assert_eq!(v["HostConfig"]["MemorySwap"], 128 << 20, "Docker's default: swap as large as memory");
    let memsw = "cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || \
                 expr $(cat /sys/fs/cgroup/memory.swap.max) + $(cat /sys/fs/cgroup/memory.max)";
    assert_eq!(run(&d, &["-m", "64m"], memsw), (128u64 << 20).to_string(), "and the cgroup says so");
    assert_eq!(v["HostConfig"]["Init"], true);
    assert_eq!(v["Mounts"][0]["Propagation"], "rprivate");
    d.ok(&["start", "rich"]);
    let v: serde_json::Value = serde_json::from_str(&d.http("GET", "/containers/rich/json", "").1).unwrap();
    assert!(v["HostsPath"].as_str().unwrap().ends_with("/hosts"), "{}", v["HostsPath"]);
}

#[test]
fn tmpfs_options_reach_the_mount() {
    let d = daemon();
    let opts = |flags: &[&str]| run(&d, flags, "grep ' /t ' /proc/mounts");
    let plain = opts(&["--tmpfs", "/t"]);
    assert!(plain.contains("noexec") && plain.contains("nosuid") && plain.contains("nodev"), "{plain}");
    let sized = opts(&["--tmpfs", "/t:size=1m,exec,mode=755"]);
    assert!(sized.contains("size=1024k") && !sized.contains("noexec") && sized.contains("mode=755"), "{sized}");
    let m = opts(&["--mount", "type=tmpfs,dst=/t,tmpfs-size=2097152,tmpfs-mode=0700"]);
    assert!(m.contains("size=2048k") && m.contains("mode=700"), "{m}");
    let out = d.docker(&["run", "--rm", "--tmpfs", "/t:size=lots", IMG, "true"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("size=lots"), "{out:?}");
    let out = d.docker(&["run", "--rm", "--mount", "type=bind,src=/tmp,dst=/t,bind-propagation=rshared", IMG, "true"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("BindOptions.Propagation"),
        "{out:?}"
    );
}

#[test]
fn image_list_and_inspect_as_docker() {
    let d = daemon();
    let (status, _, raw) =
        super::builds::build(&d, "FROM busybox:local\nRUN echo a > /a\nLABEL team=x\nRUN echo b > /b\n", "t=built:1");
    assert_eq!(status, 200, "{raw}");
    // A build's steps are the parents of what it built: hidden unless -a.
    let shown = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(shown.lines().filter(|l| l.starts_with("<none>")).count(), 0, "{shown}");
    let all = d.ok(&["images", "-a", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(all.lines().filter(|l| l.starts_with("<none>")).count() >= 2, "{all}");
    let q = |f: &str| d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f]);
    assert_eq!(q("label=team=x").trim(), "built:1");
    assert_eq!(q("reference=busy*").trim(), "busybox:local");
    assert_eq!(q("since=busybox:local").trim(), "built:1");
    assert_eq!(q("before=built:1").trim(), "busybox:local");
    let out = d.docker(&["images", "--filter", "colour=red"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("colour"), "{out:?}");
    // Inspect: Docker's Config keys; no repo digest for an image no registry has seen.
    let v: serde_json::Value = serde_json::from_str(&d.http("GET", "/images/busybox:local/json", "").1).unwrap();
    assert_eq!(v["RepoDigests"], serde_json::json!([]));
    assert_eq!(v["Comment"], "Imported from -");
    for k in ["Hostname", "User", "Env", "Cmd", "Volumes", "WorkingDir", "Entrypoint", "OnBuild", "Labels", "StdinOnce"]
    {
        assert!(v["Config"].get(k).is_some() && v["ContainerConfig"].get(k).is_some(), "{k}: {}", v["Config"]);
    }
    let v: serde_json::Value = serde_json::from_str(&d.http("GET", "/images/built:1/json", "").1).unwrap();
    assert_eq!(v["Config"]["Labels"]["team"], "x");
    assert_ne!(v["Metadata"]["LastTagTime"], "0001-01-01T00:00:00Z");
}

/// Every key dockerd 20.10 puts in `GET /info`.
const DOCKER_INFO_KEYS: &[&str] = &[
    "Architecture",
    "BridgeNfIp6tables",
    "BridgeNfIptables",
    "CPUSet",
    "CPUShares",
    "CgroupDriver",
    "CgroupVersion",
    "ContainerdCommit",
    "Containers",
    "ContainersPaused",
    "ContainersRunning",
    "ContainersStopped",
    "CpuCfsPeriod",
    "CpuCfsQuota",
    "Debug",
    "DefaultRuntime",
    "DockerRootDir",
    "Driver",
    "DriverStatus",
    "ExperimentalBuild",
    "GenericResources",
    "HttpProxy",
    "HttpsProxy",
    "ID",
    "IPv4Forwarding",
    "Images",
    "IndexServerAddress",
    "InitBinary",
    "InitCommit",
    "Isolation",
    "KernelMemory",
    "KernelMemoryTCP",
    "KernelVersion",
    "Labels",
    "LiveRestoreEnabled",
    "LoggingDriver",
    "MemTotal",
    "MemoryLimit",
    "NCPU",
    "NEventsListener",
    "NFd",
    "NGoroutines",
    "Name",
    "NoProxy",
    "OSType",
    "OSVersion",
    "OomKillDisable",
    "OperatingSystem",
    "PidsLimit",
    "Plugins",
    "RegistryConfig",
    "RuncCommit",
    "Runtimes",
    "SecurityOptions",
    "ServerVersion",
    "SwapLimit",
    "Swarm",
    "SystemTime",
    "Warnings",
];

#[test]
fn info_and_disk_usage_as_docker() {
    let mut d = daemon();
    let info = |d: &Daemon| serde_json::from_str::<serde_json::Value>(&d.http("GET", "/info", "").1).unwrap();
    let v = info(&d);
    let missing: Vec<&&str> = DOCKER_INFO_KEYS.iter().filter(|k| v.get(**k).is_none()).collect();
    assert!(missing.is_empty(), "/info lacks {missing:?}");
    assert!(v["NFd"].as_u64().unwrap() > 0 && v["NGoroutines"].as_u64().unwrap() > 0, "measured: {v}");
    // The engine ID survives a restart.
    let id = v["ID"].as_str().unwrap().to_string();
    d.kill9();
    d.spawn();
    assert_eq!(info(&d)["ID"], id.as_str());
    // system df -v: every section filled as the docker CLI prints it.
    d.ok(&["run", "--name", "x", IMG, "true"]);
    let df: serde_json::Value = serde_json::from_str(&d.http("GET", "/system/df", "").1).unwrap();
    let c = &df["Containers"][0];
    assert_eq!(c["Command"], "true");
    assert!(c["Status"].as_str().unwrap().starts_with("Exited (0)"), "{c}");
    assert!(df["Images"][0]["Created"].as_i64().unwrap() > 0);
    assert_eq!(df["Images"][0]["Containers"], 1);
    let out = d.ok(&["system", "df", "-v"]);
    assert!(out.contains("Exited (0)") && !out.contains("56 years ago"), "{out}");
}

/// `--device`: the node is in the container and usable (the device cgroup
/// allows it with the permissions asked); `--device-cgroup-rule` opens what
/// the default policy keeps shut — and nothing more.
#[test]
fn devices_are_given_as_asked() {
    let d = daemon();
    // /dev/loop-control (10:237) is not in the default allowlist; opening it has no effect.
    let probe = "(: < /dev/lc) 2>/dev/null && echo r-ok; (: > /dev/lc) 2>/dev/null && echo w-ok || echo w-denied";
    assert_eq!(
        run(&d, &["--device", "/dev/loop-control:/dev/lc"], &format!("ls -l /dev/lc | cut -c1; {probe}")),
        "c\nr-ok\nw-ok"
    );
    assert_eq!(run(&d, &["--device", "/dev/loop-control:/dev/lc:r"], probe), "r-ok\nw-denied", "the permissions asked");
    let shut = "mknod /tmp/lc c 10 237 && (: < /tmp/lc) 2>/dev/null && echo open || echo shut";
    assert_eq!(run(&d, &[], shut), "shut", "the default policy keeps 10:237 shut");
    assert_eq!(run(&d, &["--device-cgroup-rule", "c 10:237 r"], shut), "open");
    let v = d.ok(&["create", "--device", "/dev/null:/dev/xnull:rw", "--device-cgroup-rule", "c 1:11 r", IMG, "true"]);
    let v: serde_json::Value =
        serde_json::from_str(&d.http("GET", &format!("/containers/{}/json", v.trim()), "").1).unwrap();
    assert_eq!(v["HostConfig"]["Devices"][0]["PathInContainer"], "/dev/xnull");
    assert_eq!(v["HostConfig"]["DeviceCgroupRules"], serde_json::json!(["c 1:11 r"]));
    for bad in [&["--device", "/etc/passwd"][..], &["--device", "/dev/nosuch"], &["--device-cgroup-rule", "c 1:x r"]] {
        let mut args = vec!["create"];
        args.extend_from_slice(bad);
        args.extend([IMG, "true"]);
        let out = d.docker(&args);
        assert!(!out.status.success(), "{bad:?}: {out:?}");
    }
}

/// `--blkio-weight` reaches the container's blkio (or io) controller, in
/// whichever file the kernel's I/O scheduler has (CFQ's, BFQ's, v2's).
#[test]
fn blkio_weight_reaches_the_cgroup() {
    let d = daemon();
    let files = "for f in /sys/fs/cgroup/blkio/blkio.weight /sys/fs/cgroup/blkio/blkio.bfq.weight \
                 /sys/fs/cgroup/io.bfq.weight /sys/fs/cgroup/io.weight; do \
                 test -f $f && { cat $f; break; }; done";
    let v1 = std::path::Path::new("/sys/fs/cgroup/blkio");
    if v1.is_dir() && !["blkio.weight", "blkio.bfq.weight"].iter().any(|f| v1.join(f).exists()) {
        // No weight in this kernel's I/O scheduler: refused (fail closed), naming it.
        let out = d.docker(&["run", "--rm", "--blkio-weight", "300", IMG, "true"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("blkio weight"), "{err}");
        return;
    }
    let got = run(&d, &["--blkio-weight", "300"], files);
    assert!(got.split_whitespace().any(|w| w == "300"), "{got}");
    let default = run(&d, &[], files);
    assert!(!default.split_whitespace().any(|w| w == "300"), "{default}");
}

#[test]
fn shm_size_is_the_mount_size() {
    let d = daemon();
    let size = run(&d, &["--shm-size", "32m"], "df -k /dev/shm | tail -1 | awk '{print $2}'");
    assert_eq!(size, "32768");
    assert_eq!(run(&d, &[], "df -k /dev/shm | tail -1 | awk '{print $2}'"), "65536", "Docker's default 64 MiB");
}

/// Network connect and disconnect honour what they take (aliases) and
/// refuse the rest, naming it, before anything is connected.
#[test]
fn network_connect_refuses_what_it_does_not_do() {
    let d = daemon();
    d.ok(&["network", "create", "cn"]);
    d.ok(&["run", "-d", "--name", "c", "--network", "none", IMG, "sleep", "1000"]);
    let (status, text) = d.http(
        "POST",
        "/networks/cn/connect",
        r#"{"Container": "c", "EndpointConfig": {"IPAMConfig": {"IPv4Address": "172.30.0.9"}, "Aliases": null}}"#,
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("EndpointConfig.IPAMConfig"), "{text}");
    let (status, text) = d.http("POST", "/networks/cn/disconnect", r#"{"Container": "c", "Force": true}"#);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("Force"), "{text}");
    let v = d.ok(&["inspect", "-f", "{{len .NetworkSettings.Networks}}", "c"]);
    assert_eq!(v.trim(), "1", "nothing was connected");
    // Driver options the bridge driver does not apply, swarm-only fields: refused by name.
    let out = d.docker(&["network", "create", "--opt", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1", "hb"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("host_binding_ipv4"), "{out:?}");
    let (status, text) = d.http("POST", "/networks/create", r#"{"Name": "ing", "Ingress": true}"#);
    assert_eq!(status, 400, "{text}");
}

#[test]
fn volume_driver_options_are_refused_by_name() {
    let d = daemon();
    let out = d.docker(&["volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "v"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("DriverOpts"), "{out:?}");
    assert!(d.ok(&["volume", "ls", "-q"]).trim().is_empty(), "nothing made");
    d.ok(&["volume", "create", "plain"]);
}

/// `logs --details`: each line after its attributes (the `labels`/`env`
/// log options), as Docker prints them.
#[test]
fn logs_details_show_the_attributes() {
    let d = daemon();
    d.ok(&[
        "run",
        "--name",
        "l",
        "--label",
        "team=blue",
        "--log-opt",
        "labels=team",
        "-e",
        "STAGE=dev",
        "--log-opt",
        "env=STAGE",
        IMG,
        "echo",
        "hi",
    ]);
    assert_eq!(d.ok(&["logs", "--details", "l"]), "STAGE=dev,team=blue hi\n");
    assert_eq!(d.ok(&["logs", "l"]), "hi\n");
}

/// `--ip` and `--mac-address` on a user-defined network: the container has
/// them; Docker's refusals (the default bridge, an address outside the
/// subnet or in use, a multicast MAC) leave nothing behind.
#[test]
fn static_addresses_on_user_networks() {
    let d = daemon();
    d.ok(&["network", "create", "--subnet", "10.77.0.0/24", "fixed"]);
    let show = "ip -o -4 addr show eth0 | awk '{print $4}'; cat /sys/class/net/eth0/address";
    // Wharf's CLI sends both for the network (the docker CLI 28 sends a per-network MAC only to API 1.44).
    let out = d.w(&[
        "run",
        "--rm",
        "--network",
        "fixed",
        "--ip",
        "10.77.0.50",
        "--mac-address",
        "02:AA:BB:CC:DD:EE",
        IMG,
        "sh",
        "-c",
        show,
    ]);
    assert_eq!(out.trim(), "10.77.0.50/24\n02:aa:bb:cc:dd:ee");
    // The container-level MacAddress of API 1.41, on the default bridge.
    let body = r#"{"Image": "busybox:local", "Cmd": ["cat", "/sys/class/net/eth0/address"], "MacAddress": "02:aa:bb:cc:dd:01"}"#;
    let (status, text) = d.http("POST", "/containers/create?name=m", body);
    assert_eq!(status, 201, "{text}");
    d.ok(&["start", "-a", "m"]);
    assert_eq!(d.ok(&["logs", "m"]).trim(), "02:aa:bb:cc:dd:01");
    let bad = d.wharf(&["run", "--rm", "--network", "fixed", "--mac-address", "01:00:5e:00:00:01", IMG, "true"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("MAC"), "{bad:?}");
    d.ok(&["run", "-d", "--name", "s", "--network", "fixed", "--ip", "10.77.0.60", IMG, "sleep", "1000"]);
    let v = d.ok(&["inspect", "-f", "{{(index .NetworkSettings.Networks \"fixed\").IPAMConfig.IPv4Address}} {{(index .NetworkSettings.Networks \"fixed\").IPAddress}}", "s"]);
    assert_eq!(v.trim(), "10.77.0.60 10.77.0.60");
    let before = d.ok(&["ps", "-aq"]);
    for (flags, why) in [
        (&["--network", "fixed", "--ip", "10.77.0.60"][..], "in use"),
        (&["--network", "fixed", "--ip", "10.78.0.5"], "subnets"),
        (&["--ip", "172.17.0.9"], "user defined networks"),
        (&["--network", "fixed", "--ip", "not-an-ip"], "IPv4"),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend([IMG, "true"]);
        let out = d.docker(&args);
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains(why), "{flags:?}: {out:?}");
    }
    assert_eq!(d.ok(&["ps", "-aq"]), before, "refused runs left no container");
    d.ok(&["rm", "-f", "s"]);
}

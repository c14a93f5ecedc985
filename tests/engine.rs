//! The engine's shape as users see it (issue 10): the wharf CLI prints what
//! the docker CLI prints for the same objects, errors once, Docker's exit
//! codes; log drivers (json-file with attrs, local, none); `--exec-root`
//! honoured; `--systemd-cgroup` refused rather than half-done.
//!
//! Every test owns a daemon (`support::daemon::Daemon`), whose drop removes
//! its containers, the daemon and its network namespace, also on failure.

mod support;

use std::process::Output;

use support::daemon::Daemon;

const IMG: &str = "busybox:local";

fn daemon() -> Daemon {
    let d = Daemon::start();
    d.import_busybox();
    d
}

fn text(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Durations as Docker's HumanDuration prints them vary between two calls a
/// second apart, and column widths follow the longest cell; everything else
/// must be equal.
fn normalise(s: &str) -> String {
    s.lines()
        .map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let mut out = Vec::new();
            let mut i = 0;
            while i < t.len() {
                if t[i..].starts_with(&["Less", "than", "a", "second"]) {
                    out.push("N units");
                    i += 4;
                } else if t[i..].starts_with(&["About", "a", "minute"]) {
                    out.push("N units");
                    i += 3;
                } else if t[i].parse::<u64>().is_ok()
                    && t.get(i + 1).is_some_and(|u| u.starts_with("second") || u.starts_with("minute"))
                {
                    out.push("N units");
                    i += 2;
                } else {
                    out.push(t[i]);
                    i += 1;
                }
            }
            out.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The image commands are written once over two engines: without a daemon
/// (`--data-root`) they print what they print through it.
#[test]
fn image_commands_print_the_same_with_and_without_a_daemon() {
    let d = daemon();
    d.ok(&["tag", IMG, "other:v1"]);
    let data = d.data();
    let local = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
            .arg("--data-root")
            .arg(&data)
            .args(args)
            .output()
            .unwrap();
        text(&out)
    };
    for args in [
        vec!["images"],
        vec!["images", "--digests", "--no-trunc"],
        vec!["images", "-q"],
        vec!["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
        vec!["image", "history", IMG],
        vec!["system", "df"],
    ] {
        let (code, ours, err) = local(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        let remote = d.w(&args);
        assert_eq!(normalise(&ours), normalise(&remote), "{args:?}\nlocal:\n{ours}\ndaemon:\n{remote}");
    }
    let inspect = |s: &str| -> Vec<(String, serde_json::Value)> {
        let v: serde_json::Value = serde_json::from_str(s).unwrap();
        let i = &v[0];
        ["Id", "RepoTags", "Architecture", "Os"].iter().map(|k| (k.to_string(), i[*k].clone())).collect()
    };
    let (code, ours, _) = local(&["image", "inspect", IMG]);
    assert_eq!(code, 0);
    assert_eq!(inspect(&ours), inspect(&d.w(&["image", "inspect", IMG])));
    // Errors, the same way: one line each, exit 1.
    let (code, _, err) = local(&["rmi", "nosuch:v9"]);
    let remote = d.wharf(&["rmi", "nosuch:v9"]);
    assert_eq!((code, remote.status.code()), (1, Some(1)));
    assert!(err.contains("nosuch:v9") && String::from_utf8_lossy(&remote.stderr).contains("nosuch:v9"), "{err}");
    // And a removal prints the same lines.
    let (code, ours, _) = local(&["rmi", "other:v1"]);
    assert_eq!((code, ours.trim()), (0, "Untagged: other:v1"));
    d.ok(&["tag", IMG, "other:v1"]);
    assert_eq!(d.w(&["rmi", "other:v1"]).trim(), "Untagged: other:v1");
}

/// `--storage-driver vfs`: the native snapshotter (plain copies) end to end,
/// recorded in the data root so monitors and the CLI agree; a data root
/// keeps its driver.
#[test]
fn vfs_storage_driver_runs_containers_from_plain_copies() {
    let mut d = Daemon::start_with_args(&["--storage-driver", "vfs"]);
    d.import_busybox();
    assert_eq!(d.ok(&["info", "--format", "{{.Driver}}"]).trim(), "vfs");
    assert_eq!(d.ok(&["run", "--rm", IMG, "sh", "-c", "echo hi > /f && cat /f"]).trim(), "hi");
    d.ok(&["run", "-d", "--name", "keep", IMG, "sleep", "1000"]);
    let native = d.data().join("image/snapshots-native");
    assert!(native.is_dir() && !d.data().join("image/snapshots").exists());
    // Its root is a bind mount of a plain copy, not an overlay.
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "keep"]).trim().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = mounts.lines().find(|l| l.contains(&format!("{id}/rootfs"))).expect("rootfs mounted").to_string();
    assert!(!root.contains(" - overlay "), "{root}");
    d.ok(&["rm", "-f", "keep"]);
    // Another driver on the same data root is refused, naming both.
    d.kill9();
    let out = std::process::Command::new("timeout")
        .arg("20")
        .arg(env!("CARGO_BIN_EXE_wharf"))
        .arg("--data-root")
        .arg(d.data())
        .args(["daemon", "--storage-driver", "overlay2", "-H"])
        .arg(format!("unix://{}", d.dir.path().join("other.sock").display()))
        .arg("--exec-root")
        .arg(d.dir.path().join("exec2"))
        .output()
        .unwrap();
    let (code, _, err) = text(&out);
    assert!(code != 0 && code != 124, "{code}: {err}");
    assert!(err.contains("native") && err.contains("overlay"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["daemon", "--storage-driver", "zfs"])
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("zfs"));
    d.spawn();
    assert_eq!(d.ok(&["info", "--format", "{{.Driver}}"]).trim(), "vfs");
}

#[test]
fn tables_match_the_docker_cli() {
    let d = daemon();
    d.ok(&["run", "-d", "--name", "web", "-p", "18080:80", IMG, "sleep", "1000"]);
    d.ok(&["create", "--name", "idle", "-l", "app=x", IMG, "true"]);
    d.ok(&["tag", IMG, "other:v1"]);
    for args in [
        vec!["ps"],
        vec!["ps", "-a"],
        vec!["ps", "-a", "--no-trunc"],
        vec!["ps", "-a", "--format", "{{.Names}} {{.Image}} {{.Labels}} {{.Status}}"],
        vec!["images"],
        vec!["images", "--format", "{{.Repository}}:{{.Tag}} {{.CreatedSince}}"],
        vec!["images", "--digests"],
        vec!["images", "--no-trunc"],
        vec!["images", "-q"],
        vec!["images", "other"],
        vec!["image", "history", IMG],
        vec!["volume", "ls"],
        vec!["network", "ls"],
    ] {
        let theirs = d.ok(&args);
        let ours = d.w(&args);
        // Rows of different repositories come in no fixed order from the docker
        // CLI (it walks a Go map): the header first (tables have one), then
        // the rows as a set.
        let header = usize::from(!args.iter().any(|a| *a == "--format" || *a == "-q"));
        let rows = |s: &str| {
            let n = normalise(s);
            let mut lines: Vec<String> = n.lines().map(String::from).collect();
            let rest = lines.split_off(header.min(lines.len()));
            let mut rest = rest;
            rest.sort();
            (lines, rest)
        };
        assert_eq!(rows(&ours), rows(&theirs), "{args:?}\nwharf:\n{ours}\ndocker:\n{theirs}");
        assert!(!ours.contains("ago ago"), "{ours}");
    }
    // Without durations in them, tables are the same byte for byte (Go's tabwriter settings).
    for args in
        [vec!["volume", "ls"], vec!["network", "ls"], vec!["images", "--format", "table {{.Repository}}\t{{.Tag}}"]]
    {
        let sorted = |s: String| {
            let mut l: Vec<String> = s.lines().map(String::from).collect();
            l[1..].sort();
            l
        };
        assert_eq!(sorted(d.w(&args)), sorted(d.ok(&args)), "{args:?}");
    }
    // stats --no-stream: the same header and one complete row per running container.
    let theirs = d.ok(&["stats", "--no-stream"]);
    let ours = d.w(&["stats", "--no-stream"]);
    let header = |s: &str| s.lines().next().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(header(&ours), header(&theirs));
    assert_eq!(header(&ours), "CONTAINER ID NAME CPU % MEM USAGE / LIMIT MEM % NET I/O BLOCK I/O PIDS");
    let rows: Vec<&str> = ours.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{ours}");
    assert_eq!(rows[0].split_whitespace().count(), theirs.lines().nth(1).unwrap().split_whitespace().count());
    assert!(rows[0].contains(" web "), "{ours}");
}

#[test]
fn errors_print_once_with_dockers_exit_codes() {
    let d = daemon();
    for args in [
        vec!["rm", "nosuch"],
        vec!["inspect", "--type", "container", "nosuch"],
        vec!["inspect", "nosuch"],
        vec!["stop", "nosuch"],
    ] {
        let (code, _, err) = text(&d.wharf(&args));
        let (dcode, _, derr) = text(&d.docker(&args));
        assert_eq!(err.trim(), derr.trim(), "{args:?}");
        assert_eq!(code, dcode, "{args:?}");
        assert!(!err.contains("Error: Error"), "{err}");
    }
    // A missing command: 127 from both clients (the daemon types it; no message matching).
    let (code, _, err) = text(&d.wharf(&["run", "--rm", IMG, "no-such-command"]));
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("no-such-command"), "{err}");
    assert_eq!(d.docker(&["run", "--rm", IMG, "no-such-command"]).status.code(), Some(127));
    // Anything else the engine refuses is Docker's 125.
    let (code, _, err) = text(&d.wharf(&["run", "--rm", "--memory", "1k", IMG, "true"]));
    assert_eq!(code, 125, "{err}");
}

#[test]
fn log_drivers() {
    let d = daemon();
    // local: read back through the API, in order, both streams.
    d.ok(&["run", "--name", "loc", "--log-driver", "local", IMG, "sh", "-c", "echo one; echo two >&2; echo three"]);
    let logs = d.docker(&["logs", "loc"]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "one\nthree\n");
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "two\n");
    // The last entry of either stream (the two pipes are read in any order).
    let last = d.docker(&["logs", "--tail", "1", "loc"]);
    let both = format!("{}{}", String::from_utf8_lossy(&last.stdout), String::from_utf8_lossy(&last.stderr));
    assert!(both == "three\n" || both == "two\n", "{both:?}");
    let dir = d.data().join("containers").join(d.ok(&["inspect", "-f", "{{.Id}}", "loc"]).trim());
    assert!(dir.join("container.log").exists());
    // json-file with labels/env attributes, as Docker writes them.
    d.ok(&[
        "run",
        "--name",
        "js",
        "-l",
        "team=infra",
        "-e",
        "STAGE=prod",
        "--log-opt",
        "labels=team",
        "--log-opt",
        "env=STAGE",
        IMG,
        "echo",
        "hi",
    ]);
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "js"]).trim().to_string();
    let raw = std::fs::read_to_string(d.data().join("containers").join(&id).join(format!("{id}-json.log"))).unwrap();
    let entry: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    assert_eq!(entry["log"], "hi\n");
    assert_eq!(entry["attrs"]["team"], "infra");
    assert_eq!(entry["attrs"]["STAGE"], "prod");
    // none: nothing to read, and Docker's message says so.
    d.ok(&["run", "--name", "quiet", "--log-driver", "none", IMG, "echo", "x"]);
    let out = d.docker(&["logs", "quiet"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not support reading"));
    // Options that would be ignored are refused.
    let out = d.docker(&["run", "--log-opt", "compress=true", IMG, "true"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("compress"));
}

#[test]
fn exec_root_holds_the_monitor_sockets() {
    let d = daemon();
    let id = d.ok(&["run", "-d", IMG, "sleep", "1000"]).trim().to_string();
    let mine: Vec<_> = std::fs::read_dir(d.dir.path().join("exec/monitor"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&id[..24]))
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    let elsewhere = std::fs::read_dir("/run/wharf/monitor")
        .map(|r| r.filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().contains(&id[..24])))
        .unwrap_or(false);
    assert!(!elsewhere);
    // Its network sandbox too: a namespace mounted under <exec-root>/netns, none in /run/netns.
    let sandboxes: Vec<_> = std::fs::read_dir(d.dir.path().join("exec/netns"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&id[..12]))
        .collect();
    assert_eq!(sandboxes.len(), 1, "{sandboxes:?}");
    let in_run = std::fs::read_dir("/run/netns")
        .map(|r| r.filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().contains(&id[..12])))
        .unwrap_or(false);
    assert!(!in_run);
    // Still supervised through it: exec and stop work.
    assert_eq!(d.ok(&["exec", &id, "echo", "in"]), "in\n");
    d.ok(&["stop", "-t", "1", &id]);
    d.ok(&["rm", &id]);
    let left = std::fs::read_dir(d.dir.path().join("exec/netns")).unwrap().count();
    assert_eq!(left, 0, "the sandbox is removed with the container");
}

#[test]
fn systemd_cgroup_is_refused() {
    let out = std::process::Command::new(support::WHARF)
        .args(["runtime", "--root", "/tmp/wharf-no-such-root", "--systemd-cgroup", "state", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--systemd-cgroup"), "{out:?}");
}

#[test]
fn runc_and_crun_are_selectable_runtimes() {
    if !support::runc_available() {
        eprintln!("runc not installed: skipping");
        return;
    }
    let d = daemon();
    let info = d.ok(&["info", "--format", "{{json .Runtimes}} {{.DefaultRuntime}}"]);
    assert!(info.contains("\"runc\"") && info.contains("\"wharf\"") && info.trim().ends_with(" wharf"), "{info}");
    assert_eq!(d.ok(&["run", "--rm", "--runtime", "runc", IMG, "echo", "hi"]), "hi\n");
    assert_eq!(d.docker(&["run", "--rm", "--runtime", "runc", IMG, "sh", "-c", "exit 3"]).status.code(), Some(3));
    assert_eq!(d.docker(&["run", "--rm", "--runtime", "runc", IMG, "no-such-command"]).status.code(), Some(127));
    // stdin through runc's init, which inherits the monitor's pipes.
    let mut child = std::process::Command::new(if std::path::Path::new("/usr/local/bin/docker").exists() {
        "/usr/local/bin/docker"
    } else {
        "docker"
    })
    .env("DOCKER_HOST", format!("unix://{}", d.sock().display()))
    .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
    .args(["run", "--rm", "-i", "--runtime", "runc", IMG, "cat"])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"through runc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through runc\n");
    // A long-running one: inspect, exec, stats, stop; its state is under runc's own root.
    let id = d.ok(&["run", "-d", "--runtime", "runc", IMG, "sleep", "1000"]).trim().to_string();
    assert_eq!(d.ok(&["inspect", "-f", "{{.HostConfig.Runtime}}", &id]).trim(), "runc");
    assert_eq!(d.ok(&["exec", &id, "echo", "in"]), "in\n");
    assert!(d.data().join("runtimes/runc").join(&id).exists());
    let stats = d.ok(&["stats", "--no-stream", "--format", "{{.PIDs}}", &id]);
    assert_eq!(stats.trim(), "1");
    d.ok(&["stop", "-t", "1", &id]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}}", &id]).trim(), "exited");
    assert!(!d.data().join("runtimes/runc").join(&id).exists(), "runc state deleted at exit");
    // Unknown runtimes and --init (the built-in runtime's) are refused, as 400s.
    let out = d.docker(&["run", "--rm", "--runtime", "kata", IMG, "true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown or invalid runtime name: kata"), "{out:?}");
    let (status, body) = d.http(
        "POST",
        "/v1.41/containers/create",
        r#"{"Image":"busybox:local","Cmd":["true"],"HostConfig":{"Runtime":"runc","Init":true}}"#,
    );
    assert_eq!(status, 400, "{body}");
    // crun, where the host's cgroups allow it (it refuses cgroup v1/hybrid hosts).
    if std::path::Path::new("/usr/bin/crun").exists() {
        let out = d.docker(&["run", "--rm", "--runtime", "crun", IMG, "echo", "crun"]);
        let v2 = nix::sys::statfs::statfs("/sys/fs/cgroup")
            .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
            .unwrap_or(false);
        if v2 {
            assert_eq!(String::from_utf8_lossy(&out.stdout), "crun\n", "{out:?}");
        } else {
            // Refused cleanly: an error, and nothing left running.
            assert!(!out.status.success());
            assert!(d.ok(&["ps", "-q"]).trim().is_empty());
        }
    }
}

/// Without a daemon, `build` sends itself the same context tarball a daemon
/// would get: `.dockerignore` applies (the Dockerfile is always included).
#[test]
fn daemonless_build_honours_dockerignore() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let wharf = |args: &[&str]| {
        let out = std::process::Command::new(support::WHARF).arg("--data-root").arg(&data).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let tar = support::busybox_tar(tmp.path());
    wharf(&["import", "-c", "CMD [\"sh\"]", tar.to_str().unwrap(), IMG]);
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(ctx.join("keep")).unwrap();
    std::fs::write(ctx.join("keep/a.txt"), "a").unwrap();
    std::fs::write(ctx.join("secret.key"), "no").unwrap();
    std::fs::write(ctx.join(".dockerignore"), "*.key\nDockerfile\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        // As Docker's: an ignored Dockerfile is used for the build, not copied by COPY.
        format!("FROM {IMG}\nCOPY . /ctx\nRUN test -f /ctx/keep/a.txt && test ! -e /ctx/secret.key && test ! -e /ctx/Dockerfile\n"),
    )
    .unwrap();
    wharf(&["build", "-q", "-t", "ctx:test", ctx.to_str().unwrap()]);
    assert_eq!(wharf(&["run", "--rm", "ctx:test", "ls", "/ctx"]).split_whitespace().collect::<Vec<_>>(), ["keep"]);
}

/// A case of `support` run without a daemon: a data root of its own with busybox imported.
fn daemonless(case: impl FnOnce(&std::path::Path, &dyn Fn(&[&str]) -> std::process::Output)) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let wharf = |args: &[&str]| {
        std::process::Command::new(support::WHARF).arg("--data-root").arg(&data).args(args).output().unwrap()
    };
    let tar = support::busybox_tar(tmp.path());
    support::stdout_of(wharf(&["import", "-c", "CMD [\"sh\"]", tar.to_str().unwrap(), IMG]), "import");
    case(tmp.path(), &wharf);
}

/// `--build-context` without a daemon: the same case as through one.
#[test]
fn daemonless_named_contexts() {
    daemonless(support::named_contexts_case);
}

/// Remote build contexts without a daemon: the same case as through one.
#[test]
fn daemonless_remote_contexts() {
    daemonless(|dir, wharf| support::remote_contexts_case(dir, None, wharf));
}

/// Exec's `AttachStdout`/`AttachStderr` choose the streams an attached client gets.
#[test]
fn exec_attaches_only_the_streams_asked_for() {
    use std::io::{Read, Write};
    let d = daemon();
    let id = d.ok(&["run", "-d", IMG, "sleep", "1000"]).trim().to_string();
    let (status, body) = d.http(
        "POST",
        &format!("/v1.41/containers/{id}/exec"),
        r#"{"Cmd":["sh","-c","echo out; echo err >&2"],"AttachStdout":false,"AttachStderr":true}"#,
    );
    assert_eq!(status, 201, "{body}");
    let exec: serde_json::Value = serde_json::from_str(&body).unwrap();
    let exec_id = exec["Id"].as_str().unwrap();
    // A hijacked start, as the docker CLI does it; the stream ends when the exec does.
    let mut s = std::os::unix::net::UnixStream::connect(d.sock()).unwrap();
    let req = r#"{"Detach":false,"Tty":false}"#;
    write!(
        s,
        "POST /v1.41/exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {}\r\n\r\n{req}",
        req.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    wharf_engine::protocol::demux(&raw[at..], false, &mut out, &mut err).unwrap();
    assert_eq!(String::from_utf8_lossy(&err), "err\n");
    assert!(out.is_empty(), "stdout was not asked for: {:?}", String::from_utf8_lossy(&out));
    let inspect = d.http("GET", &format!("/v1.41/exec/{exec_id}/json"), "").1;
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(
        (v["OpenStdout"].as_bool(), v["OpenStderr"].as_bool(), v["ExitCode"].as_i64()),
        (Some(false), Some(true), Some(0))
    );
}

//! `wharf daemon` driven by the real docker CLI (28, at /usr/local/bin/docker)
//! and by raw HTTP for error cases, on a temporary socket and data root.

mod support;

#[path = "daemon/builds.rs"]
mod builds;
#[path = "daemon/clients.rs"]
mod clients;
#[path = "daemon/differential.rs"]
mod differential;
#[path = "daemon/endpoints.rs"]
mod endpoints;
#[path = "daemon/fidelity.rs"]
mod fidelity;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::daemon::Daemon;

#[test]
fn docker_cli_scenario() {
    let d = Daemon::start();
    let v = d.ok(&["version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}"]);
    assert_eq!(v.trim(), "1.41 linux");
    assert!(d.ok(&["info", "--format", "{{.DefaultRuntime}}"]).contains("wharf"));
    d.import_busybox();
    assert!(d.ok(&["images"]).contains("busybox"));
    // run --rm: output, exit code, nothing left.
    assert_eq!(d.ok(&["run", "--rm", "busybox:local", "echo", "hi"]), "hi\n");
    let out = d.docker(&["run", "--rm", "busybox:local", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert!(d.ok(&["ps", "-aq"]).trim().is_empty(), "AutoRemove removed the containers");
    // run -d, ps, logs, inspect, stop, rm.
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox:local",
        "sh",
        "-c",
        "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done",
    ]);
    assert_eq!(id.trim().len(), 64);
    std::thread::sleep(Duration::from_millis(500));
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("ticker Up"), "{ps}");
    let logs = d.ok(&["logs", "--tail", "1", "ticker"]);
    assert!(logs.starts_with("tick "), "{logs}");
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}}", "ticker"]).trim(), "running");
    // Config is the image's merged with the request (as Docker shows it).
    let cfg = d.ok(&["inspect", "-f", "{{json .Config.Cmd}} {{json .Config.Env}}", "ticker"]);
    assert!(cfg.starts_with(r#"["sh","-c","#) && cfg.contains("PATH="), "{cfg}");
    // exec: output, exit code, user, TTY, detached.
    let out = d.docker(&["exec", "ticker", "sh", "-c", "echo in-exec; echo err >&2; exit 4"]);
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string()),
        (Some(4), "in-exec\n".to_string())
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert_eq!(d.ok(&["exec", "-u", "nobody", "ticker", "id", "-u"]).trim(), "65534");
    assert!(d.ok(&["exec", "-t", "ticker", "tty"]).starts_with("/dev/pts/"));
    d.ok(&["exec", "-d", "ticker", "sleep", "1"]);
    let stats = d.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "ticker"]);
    assert!(stats.starts_with("ticker "), "{stats}");
    // pause/unpause, top, rename.
    d.ok(&["pause", "ticker"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}}", "ticker"]).trim(), "paused");
    d.ok(&["unpause", "ticker"]);
    assert!(d.ok(&["top", "ticker"]).contains("sleep"));
    d.ok(&["rename", "ticker", "ticker2"]);
    d.ok(&["rename", "ticker2", "ticker"]);
    assert!(!d.docker(&["exec", "nosuch", "true"]).status.success());
    d.ok(&["stop", "ticker"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "ticker"]).trim(), "exited 0");
    d.ok(&["rm", "ticker"]);
    // stdin and a TTY.
    let mut child =
        Command::new(if Path::new("/usr/local/bin/docker").exists() { "/usr/local/bin/docker" } else { "docker" })
            .env("DOCKER_HOST", format!("unix://{}", d.sock().display()))
            .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
            .args(["run", "--rm", "-i", "busybox:local", "sh"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
    child.stdin.take().unwrap().write_all(b"echo from-stdin $((6*7))\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-stdin 42\n");
    assert!(d.ok(&["run", "--rm", "-t", "busybox:local", "tty"]).starts_with("/dev/pts/"));
    // Volumes: named (persist across containers, read-only mounts), bind, tmpfs, anonymous removed by rm -v.
    d.ok(&["volume", "create", "data1"]);
    d.ok(&["run", "--rm", "-v", "data1:/data", "busybox:local", "sh", "-c", "echo persisted > /data/x"]);
    let out =
        d.docker(&["run", "--rm", "-v", "data1:/data:ro", "busybox:local", "sh", "-c", "cat /data/x; touch /data/y"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "persisted\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Read-only file system"));
    let host = d.dir.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "from host").unwrap();
    assert_eq!(
        d.ok(&["run", "--rm", "-v", &format!("{}:/h", host.display()), "busybox:local", "cat", "/h/f"]),
        "from host"
    );
    assert!(d
        .ok(&["run", "--rm", "--tmpfs", "/scratch", "busybox:local", "grep", "scratch", "/proc/mounts"])
        .contains("tmpfs /scratch"));
    assert!(!d.docker(&["volume", "rm", "nosuch"]).status.success());
    // Copy-up: an empty volume over an image directory starts with its content.
    assert!(d.ok(&["run", "--rm", "-v", "etcvol:/etc", "busybox:local", "cat", "/etc/passwd"]).starts_with("root:"));
    d.ok(&["run", "--rm", "-v", "etcvol:/etc", "busybox:local", "sh", "-c", "echo mine > /etc/passwd"]);
    assert_eq!(
        d.ok(&["run", "--rm", "-v", "etcvol:/etc", "busybox:local", "cat", "/etc/passwd"]),
        "mine\n",
        "not copied twice"
    );
    d.ok(&["volume", "rm", "etcvol"]);
    d.ok(&["run", "--name", "anon", "-v", "/anon", "busybox:local", "true"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    d.ok(&["rm", "-v", "anon"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]).trim(), "data1");
    d.ok(&["volume", "rm", "data1"]);
    // Images through the API: tag, save, load, rmi.
    d.ok(&["tag", "busybox:local", "copy:1"]);
    let archive = d.dir.path().join("saved.tar");
    d.ok(&["save", "-o", archive.to_str().unwrap(), "copy:1"]);
    d.ok(&["rmi", "copy:1"]);
    let loaded = d.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: copy:1"), "{loaded:?}");
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Id}}", "copy:1"]),
        d.ok(&["image", "inspect", "-f", "{{.Id}}", "busybox:local"])
    );
}

#[test]
fn containers_outlive_a_killed_daemon() {
    let mut d = Daemon::start();
    d.import_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "survivor",
        "busybox:local",
        "sh",
        "-c",
        "trap 'exit 7' TERM; echo started; while true; do sleep 0.1; done",
    ]);
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", "survivor"]).trim().to_string();
    d.kill9();
    std::thread::sleep(Duration::from_millis(200));
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "the container survives the daemon");
    d.spawn();
    assert!(d.ok(&["ps", "--format", "{{.Names}}"]).contains("survivor"));
    assert_eq!(d.ok(&["logs", "survivor"]), "started\n");
    d.ok(&["stop", "survivor"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "survivor"]).trim(), "7");
}

#[test]
fn bad_requests_get_docker_statuses() {
    let d = Daemon::start();
    d.import_busybox();
    let (code, body) = d.http("POST", "/v1.41/containers/create", "{not json");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("\"message\""));
    let (code, body) = d.http("GET", "/v1.41/containers/nosuch/json", "");
    assert_eq!(code, 404);
    assert!(body.contains("No such container: nosuch"), "{body}");
    let (code, body) = d.http("POST", "/v1.41/containers/create", r#"{"Image":"nosuch:image"}"#);
    assert_eq!(code, 404);
    assert!(body.contains("No such image: nosuch:image"), "{body}");
    let (code, _) = d.http("POST", "/v1.41/containers/create?name=dup", r#"{"Image":"busybox:local","Cmd":["true"]}"#);
    assert_eq!(code, 201);
    let (code, body) =
        d.http("POST", "/v1.41/containers/create?name=dup", r#"{"Image":"busybox:local","Cmd":["true"]}"#);
    assert_eq!(code, 409, "{body}");
    let (code, _) = d.http("GET", "/v1.41/images/nosuch/json", "");
    assert_eq!(code, 404);
    let (code, body) = d.http("GET", "/v1.41/images/search?term=x", "");
    assert_eq!(code, 501);
    assert!(body.contains("not supported"));
    let (code, _) = d.http("GET", "/v1.41/swarm", "");
    assert_eq!(code, 503);
    let (code, _) = d.http("POST", "/v1.41/containers/dup/kill?signal=BOGUS", "");
    assert_eq!(code, 400);
    let (code, _) = d.http("GET", "/v1.41/no/such/endpoint", "");
    assert_eq!(code, 404);
    let (code, body) = d.http("HEAD", "/_ping", "");
    assert_eq!((code, body.as_str()), (200, ""));
}

/// `docker login` checks credentials through `/auth`; pushes and pulls carry
/// them in `X-Registry-Auth` to a registry that demands Basic auth.
#[test]
fn registry_auth_through_the_api() {
    let d = Daemon::start();
    let reg = support::Registry::start_in(Some(&d.netns), Some(("alice", "s3cret")));
    d.import_busybox();
    let name = format!("{}/private:1", reg.host());
    d.ok(&["tag", "busybox:local", &name]);
    assert!(!d.docker(&["push", &name]).status.success(), "no credentials: refused");
    let bad = d.docker(&["login", "-u", "alice", "-p", "wrong", &reg.host()]);
    assert!(!bad.status.success(), "wrong password refused");
    d.ok(&["login", "-u", "alice", "-p", "s3cret", &reg.host()]);
    d.ok(&["push", &name]);
    d.ok(&["rmi", &name]);
    d.ok(&["pull", &name]);
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Id}}", &name]),
        d.ok(&["image", "inspect", "-f", "{{.Id}}", "busybox:local"])
    );
}

impl Daemon {
    /// Polls `inspect -f` until `pred` holds (10 s at most); returns the last value.
    fn inspect_until(&self, name: &str, format: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = String::from_utf8_lossy(&self.docker(&["inspect", "-f", format, name]).stdout).trim().to_string();
            if pred(&v) || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Restart policies applied by the monitor (with backoff), honoured stops,
/// and restarts of `always` containers when the daemon starts.
#[test]
fn restart_policies() {
    let mut d = Daemon::start();
    d.import_busybox();
    // on-failure:2 — two restarts, then it stays down with its exit code.
    d.ok(&["run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox:local", "sh", "-c", "exit 3"]);
    let s = d.inspect_until("flaky", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", |v| v == "exited 2 3");
    assert_eq!(s, "exited 2 3");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.ok(&["inspect", "-f", "{{.RestartCount}}", "flaky"]).trim(), "2");
    let logs = d.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
        "flaky",
    ]);
    assert_eq!(logs.trim(), "on-failure:2");
    // on-failure does not restart a clean exit.
    d.ok(&["run", "-d", "--name", "clean", "--restart", "on-failure", "busybox:local", "true"]);
    assert_eq!(d.inspect_until("clean", "{{.State.Status}}", |v| v == "exited"), "exited");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.ok(&["inspect", "-f", "{{.RestartCount}}", "clean"]).trim(), "0");
    // always — restarts after clean exits too; its log keeps every run; stop holds it down.
    d.ok(&["run", "-d", "--name", "loop", "--restart", "always", "busybox:local", "sh", "-c", "echo run; sleep 0.2"]);
    let n = d.inspect_until("loop", "{{.RestartCount}}", |v| v.parse::<u32>().unwrap_or(0) >= 2);
    assert!(n.parse::<u32>().unwrap() >= 2, "restarted: {n}");
    assert!(d.ok(&["logs", "loop"]).matches("run\n").count() >= 2);
    d.ok(&["stop", "-t", "1", "loop"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}}", "loop"]).trim(), "exited");
    let count = d.ok(&["inspect", "-f", "{{.RestartCount}}", "loop"]);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "loop"]), format!("exited {count}"));
    // unless-stopped and stopped by the user: a new daemon leaves it; `always` starts again.
    d.ok(&["run", "-d", "--name", "us", "--restart", "unless-stopped", "busybox:local", "sleep", "100"]);
    d.ok(&["stop", "-t", "1", "us"]);
    d.kill9();
    d.spawn();
    assert_eq!(d.inspect_until("loop", "{{.State.Status}}", |v| v == "running"), "running");
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}}", "us"]).trim(), "exited");
    d.ok(&["rm", "-f", "loop"]);
    // Bad policies are refused.
    assert!(!d.docker(&["run", "--rm", "--restart", "always", "busybox:local", "true"]).status.success());
    let (code, body) = d.http(
        "POST",
        "/v1.41/containers/create",
        r#"{"Image":"busybox:local","HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}"#,
    );
    assert_eq!(code, 400, "{body}");
    let (code, body) = d.http(
        "POST",
        "/v1.41/containers/create",
        r#"{"Image":"busybox:local","HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}}"#,
    );
    assert_eq!(code, 400, "{body}");
}

/// `docker events`: history with --since/--until and filters, and a live stream.
#[test]
fn events_history_filters_and_stream() {
    let d = Daemon::start();
    d.import_busybox();
    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 1;
    assert_eq!(
        d.docker(&["run", "--rm", "--name", "ev", "busybox:local", "sh", "-c", "exit 5"]).status.code(),
        Some(5)
    );
    d.ok(&["volume", "create", "evvol"]);
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let range = [format!("--since={t0}"), format!("--until={until}")];
    let events = |filters: &[&str], format: &str| {
        let mut args: Vec<&str> = vec!["events", &range[0], &range[1], "--format", format];
        for f in filters {
            args.extend(["--filter", f]);
        }
        d.ok(&args)
    };
    assert_eq!(
        events(&["container=ev"], "{{.Action}}").split_whitespace().collect::<Vec<_>>(),
        ["create", "attach", "start", "die", "destroy"]
    );
    assert_eq!(events(&["container=ev", "event=die"], "{{.Actor.Attributes.exitCode}}").trim(), "5");
    assert_eq!(events(&["type=volume"], "{{.Action}} {{.Actor.ID}}").trim(), "create evvol");
    assert!(events(&["type=image"], "{{.Action}}").trim().is_empty());
    // Live: a follower sees what happens after it subscribed.
    let mut child =
        Command::new(if Path::new("/usr/local/bin/docker").exists() { "/usr/local/bin/docker" } else { "docker" })
            .env("DOCKER_HOST", format!("unix://{}", d.sock().display()))
            .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
            // --since: what happened before the follower connected is replayed, so no race.
            .args([
                "events",
                "--since",
                "5s",
                "--filter",
                "type=volume",
                "--filter",
                "volume=evvol2",
                "--format",
                "{{.Action}} {{.Actor.ID}}",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    d.ok(&["volume", "create", "evvol2"]);
    d.ok(&["volume", "rm", "evvol2"]);
    let got: Vec<String> = (0..2).filter_map(|_| rx.recv_timeout(Duration::from_secs(5)).ok()).collect();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(got, ["create evvol2", "destroy evvol2"]);
    let (code, _) = d.http("GET", "/v1.41/events?filters=%7Bbad", "");
    assert_eq!(code, 400);
    let (code, _) = d.http("GET", "/v1.41/events?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D", "");
    assert_eq!(code, 400);
}

/// Healthchecks: probes, status transitions (inspect, ps, events), timeouts;
/// and the stop signal from the request.
#[test]
fn healthchecks_and_stop_signal() {
    let d = Daemon::start();
    d.import_busybox();
    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 1;
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok && echo fine",
        "--health-interval",
        "100ms",
        "--health-retries",
        "2",
        "busybox:local",
        "sleep",
        "100",
    ]);
    assert_eq!(d.inspect_until("hc", "{{.State.Health.Status}}", |v| v == "unhealthy"), "unhealthy");
    let streak = d.ok(&["inspect", "-f", "{{.State.Health.FailingStreak}}", "hc"]);
    assert!(streak.trim().parse::<u32>().unwrap() >= 2, "{streak}");
    d.ok(&["exec", "hc", "touch", "/tmp/ok"]);
    assert_eq!(d.inspect_until("hc", "{{.State.Health.Status}}", |v| v == "healthy"), "healthy");
    let log = d.ok(&["inspect", "-f", "{{json .State.Health.Log}}", "hc"]);
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let last = log.as_array().unwrap().last().unwrap();
    assert_eq!((last["ExitCode"].as_i64(), last["Output"].as_str()), (Some(0), Some("fine\n")));
    assert!(d.ok(&["ps", "--format", "{{.Status}}", "-f", "name=hc"]).contains("(healthy)"));
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let events = d.ok(&[
        "events",
        &format!("--since={t0}"),
        &format!("--until={until}"),
        "--filter",
        "event=health_status",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(events.lines().collect::<Vec<_>>(), ["health_status: unhealthy", "health_status: healthy"]);
    d.ok(&["rm", "-f", "hc"]);
    // A probe that hangs is killed at the timeout: exit code -1.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 5",
        "--health-interval",
        "100ms",
        "--health-timeout",
        "200ms",
        "--health-retries",
        "1",
        "busybox:local",
        "sleep",
        "100",
    ]);
    assert_eq!(d.inspect_until("slow", "{{.State.Health.Status}}", |v| v == "unhealthy"), "unhealthy");
    let log = d.ok(&["inspect", "-f", "{{json .State.Health.Log}}", "slow"]);
    assert!(log.contains("\"ExitCode\":-1") && log.contains("exceeded timeout"), "{log}");
    d.ok(&["rm", "-f", "slow"]);
    // --stop-signal is what `stop` sends first.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "sig",
        "--stop-signal",
        "USR1",
        "busybox:local",
        "sh",
        "-c",
        "trap 'exit 42' USR1; while true; do sleep 0.1; done",
    ]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.Config.StopSignal}}", "sig"]).trim(), "USR1");
    std::thread::sleep(Duration::from_millis(200));
    d.ok(&["stop", "sig"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "sig"]).trim(), "42");
    // Resizing a TTY container reaches its terminal.
    d.ok(&["run", "-d", "-t", "--name", "tty", "busybox:local", "sh", "-c", "while true; do sleep 0.1; done"]);
    let (code, body) = d.http("POST", "/v1.41/containers/tty/resize?h=33&w=101", "");
    assert_eq!(code, 200, "{body}");
    assert_eq!(d.ok(&["exec", "tty", "stty", "-F", "/proc/1/fd/0", "size"]).trim(), "33 101");
    let (code, _) = d.http("POST", "/v1.41/containers/tty/resize?h=x&w=1", "");
    assert_eq!(code, 400);
    // An exec's terminal is resized too.
    let (code, body) = d.http(
        "POST",
        "/v1.41/containers/tty/exec",
        r#"{"Tty":true,"AttachStdout":true,"Cmd":["sh","-c","sleep 1; stty size > /tmp/exec-size"]}"#,
    );
    assert_eq!(code, 201, "{body}");
    let exec_id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["Id"].as_str().unwrap().to_string();
    let (code, _) = d.http("POST", &format!("/v1.41/exec/{exec_id}/start"), r#"{"Detach":true,"Tty":true}"#);
    assert_eq!(code, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, body) = d.http("POST", &format!("/v1.41/exec/{exec_id}/resize?h=12&w=34"), "");
        if code == 200 {
            break;
        }
        assert!(code == 409 && Instant::now() < deadline, "{code} {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let size = d.inspect_until("tty", "{{.State.Status}}", |_| {
        d.docker(&["exec", "tty", "cat", "/tmp/exec-size"]).status.success()
    });
    assert_eq!(size, "running");
    assert_eq!(d.ok(&["exec", "tty", "cat", "/tmp/exec-size"]).trim(), "12 34");
    d.ok(&["rm", "-f", "tty"]);
    // Log rotation options; the none driver; unknown drivers refused.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "busybox:local",
        "sh",
        "-c",
        "for i in $(seq 200); do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done; sleep 100",
    ]);
    let path = d.inspect_until("chatty", "{{.LogPath}}", |p| {
        std::fs::read_to_string(p).unwrap_or_default().contains("line-200-")
    });
    assert!(std::fs::metadata(&path).unwrap().len() <= 1024);
    assert!(Path::new(&format!("{path}.1")).exists() && !Path::new(&format!("{path}.2")).exists());
    assert_eq!(d.ok(&["inspect", "-f", "{{index .HostConfig.LogConfig.Config \"max-file\"}}", "chatty"]).trim(), "2");
    assert!(d.ok(&["logs", "--tail", "1", "chatty"]).starts_with("line-200-"));
    d.ok(&["rm", "-f", "chatty"]);
    d.ok(&["run", "-d", "--name", "quiet", "--log-driver", "none", "busybox:local", "echo", "x"]);
    assert!(!d.docker(&["logs", "quiet"]).status.success());
    assert!(!d.docker(&["run", "--rm", "--log-driver", "syslog", "busybox:local", "true"]).status.success());
    assert!(!d.docker(&["run", "--rm", "--log-opt", "max-size=lots", "busybox:local", "true"]).status.success());
    // Real-time signals: by number and by name, through --init too.
    d.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        "rt",
        "--stop-signal",
        "SIGRTMIN+3",
        "busybox:local",
        "sh",
        "-c",
        "trap 'exit 5' 37; while true; do sleep 0.1; done",
    ]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.Config.StopSignal}}", "rt"]).trim(), "SIGRTMIN+3");
    std::thread::sleep(Duration::from_millis(200));
    d.ok(&["kill", "-s", "37", "rt"]);
    assert_eq!(d.inspect_until("rt", "{{.State.Status}} {{.State.ExitCode}}", |v| v == "exited 5"), "exited 5");
    d.ok(&["rm", "rt"]);
    // Under --init the signal is forwarded to the command (pid 2).
    d.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        "withinit",
        "busybox:local",
        "sh",
        "-c",
        "trap 'exit 9' TERM; while true; do sleep 0.1; done",
    ]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.HostConfig.Init}}", "withinit"]).trim(), "true");
    assert_eq!(d.ok(&["exec", "withinit", "cat", "/proc/1/comm"]).trim(), "wharf-init");
    std::thread::sleep(Duration::from_millis(200));
    d.ok(&["stop", "withinit"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "withinit"]).trim(), "9");
    let (code, body) =
        d.http("POST", "/v1.41/containers/create", r#"{"Image":"busybox:local","Healthcheck":{"Test":["BOGUS","x"]}}"#);
    assert_eq!(code, 400, "{body}");
    let (code, body) =
        d.http("POST", "/v1.41/containers/create", r#"{"Image":"busybox:local","StopSignal":"SIGNOPE"}"#);
    assert_eq!(code, 400, "{body}");
}

/// `docker cp` both ways (root filesystem and volumes, running and stopped),
/// `docker export`, `docker commit` (with deletions and --change), `import -c`.
#[test]
fn copy_export_commit() {
    let d = Daemon::start();
    d.import_busybox();
    let host = d.dir.path().join("cp");
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("file.txt"), "from host\n").unwrap();
    std::fs::write(host.join("tree/sub/deep"), "deep\n").unwrap();
    d.ok(&["volume", "create", "cpvol"]);
    d.ok(&["run", "-d", "--name", "box", "-v", "cpvol:/vol", "busybox:local", "sleep", "100"]);
    // Into a running container: a file, a directory tree, into a volume.
    d.ok(&["cp", host.join("file.txt").to_str().unwrap(), "box:/tmp/"]);
    d.ok(&["cp", host.join("tree").to_str().unwrap(), "box:/root/"]);
    d.ok(&["cp", host.join("file.txt").to_str().unwrap(), "box:/vol/in-volume.txt"]);
    assert_eq!(
        d.ok(&["exec", "box", "cat", "/tmp/file.txt", "/root/tree/sub/deep", "/vol/in-volume.txt"]),
        "from host\ndeep\nfrom host\n"
    );
    // Out of it.
    d.ok(&[
        "exec",
        "box",
        "sh",
        "-c",
        "mkdir -p /out/d && echo made > /out/d/f && ln -s f /out/d/l && ln /out/d/f /out/d/h && rm /etc/group",
    ]);
    let back = d.dir.path().join("back");
    d.ok(&["cp", "box:/out/d", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(back.join("f")).unwrap(), "made\n");
    assert_eq!(std::fs::read_link(back.join("l")).unwrap(), Path::new("f"));
    assert_eq!(std::fs::read_to_string(back.join("h")).unwrap(), "made\n", "hard links survive docker cp");
    assert!(!d.docker(&["cp", "box:/no/such/file", back.to_str().unwrap()]).status.success());
    assert!(!d.docker(&["cp", host.join("file.txt").to_str().unwrap(), "box:/no/such/dir/"]).status.success());
    // Export: the whole tree, with our changes.
    let tarball = d.dir.path().join("export.tar");
    d.ok(&["export", "-o", tarball.to_str().unwrap(), "box"]);
    let list = Command::new("tar").arg("-tf").arg(&tarball).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.lines().any(|l| l == "bin/busybox") && list.lines().any(|l| l == "out/d/f"), "{list}");
    assert!(!list.lines().any(|l| l == "etc/group"), "deleted files are not exported");
    // Commit: the new image has the additions, not the deletions, and the --change config.
    let id =
        d.ok(&["commit", "-m", "snapshot", "-c", "CMD [\"cat\", \"/out/d/f\"]", "-c", "ENV MARK=1", "box", "snap:1"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(d.ok(&["run", "--rm", "snap:1"]), "made\n");
    let out = d.ok(&["run", "--rm", "snap:1", "sh", "-c", "echo $MARK; ls /etc/group 2>&1 || true"]);
    assert!(out.starts_with("1\n") && out.contains("No such file"), "{out}");
    assert!(d.ok(&["history", "--no-trunc", "--format", "{{.Comment}}", "snap:1"]).contains("snapshot"));
    // A stopped container can still be copied from and into.
    d.ok(&["stop", "-t", "1", "box"]);
    d.ok(&["cp", host.join("file.txt").to_str().unwrap(), "box:/"]);
    let back2 = d.dir.path().join("back2");
    d.ok(&["cp", "box:/file.txt", back2.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back2).unwrap(), "from host\n");
    // Import with --change through the API.
    let out = d.ok(&["import", "-c", "CMD [\"echo\", \"imported\"]", tarball.to_str().unwrap(), "imp:1"]);
    assert!(out.trim().starts_with("sha256:"), "{out}");
    assert_eq!(d.ok(&["run", "--rm", "imp:1"]), "imported\n");
    let (code, _) = d.http("GET", "/v1.41/containers/box/archive", "");
    assert_eq!(code, 400);
    let (code, _) = d.http("POST", "/v1.41/commit?container=nosuch", "");
    assert_eq!(code, 404);
}

/// Networks: user bridge networks with name resolution, published ports
/// (userland proxy), connect/disconnect, host and none modes, errors.
#[test]
fn networks_and_published_ports() {
    let d = Daemon::start();
    d.import_busybox();
    d.ok(&["network", "create", "--subnet", "10.123.0.0/24", "--label", "team=a", "app"]);
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for line in ["app bridge", "bridge bridge", "host host", "none null"] {
        assert!(ls.lines().any(|l| l == line), "{ls}");
    }
    assert_eq!(d.ok(&["network", "ls", "-q", "--filter", "label=team=a"]).lines().count(), 1);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "app",
        "--network-alias",
        "www",
        "-p",
        "127.0.0.1:18080:8000",
        "busybox:local",
        "sh",
        "-c",
        "mkdir /www && echo hello-net > /www/f && exec httpd -f -p 8000 -h /www",
    ]);
    let ip = d.ok(&["inspect", "-f", "{{.NetworkSettings.Networks.app.IPAddress}}", "web"]);
    assert!(ip.starts_with("10.123.0."), "{ip}");
    // Peers resolve names and aliases (retry while httpd comes up).
    let fetch = |args: &[&str]| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = d.docker(args);
            if out.status.success() || Instant::now() > deadline {
                return String::from_utf8_lossy(&out.stdout).to_string();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert_eq!(
        fetch(&["run", "--rm", "--network", "app", "busybox:local", "wget", "-qO-", "http://web:8000/f"]),
        "hello-net\n"
    );
    assert_eq!(
        fetch(&["run", "--rm", "--network", "app", "busybox:local", "wget", "-qO-", "http://www:8000/f"]),
        "hello-net\n"
    );
    // The published port, from the daemon's network namespace.
    let out = d.in_netns(&["/bin/busybox", "wget", "-qO-", "http://127.0.0.1:18080/f"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello-net\n", "{}", String::from_utf8_lossy(&out.stderr));
    assert!(d.ok(&["ps", "--format", "{{.Ports}}"]).contains("127.0.0.1:18080->8000/tcp"));
    assert!(d.ok(&["port", "web"]).contains("8000/tcp -> 127.0.0.1:18080"));
    // The same host port twice is refused.
    let clash = d.docker(&["run", "-d", "-p", "127.0.0.1:18080:80", "busybox:local", "sleep", "5"]);
    assert!(!clash.status.success());
    assert!(String::from_utf8_lossy(&clash.stderr).contains("18080"), "{}", String::from_utf8_lossy(&clash.stderr));
    // Connect a running container, reach the peer, disconnect again.
    d.ok(&["run", "-d", "--name", "late", "busybox:local", "sleep", "100"]);
    assert!(d.ok(&["inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "late"]).trim().len() >= 7);
    assert!(!d.docker(&["exec", "late", "wget", "-qO-", "-T", "1", "http://web:8000/f"]).status.success());
    d.ok(&["network", "connect", "app", "late"]);
    assert_eq!(d.ok(&["exec", "late", "wget", "-qO-", "http://web:8000/f"]), "hello-net\n");
    let members = d.ok(&["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "app"]);
    assert!(members.contains("web") && members.contains("late"), "{members}");
    d.ok(&["network", "disconnect", "app", "late"]);
    assert!(!d.docker(&["exec", "late", "wget", "-qO-", "-T", "1", "http://web:8000/f"]).status.success());
    // host and none modes.
    let links = d.ok(&["run", "--rm", "--network", "host", "busybox:local", "ip", "-o", "link"]);
    assert!(links.contains("br-") || links.contains("wharf0"), "host mode sees the daemon's links: {links}");
    let links = d.ok(&["run", "--rm", "--network", "none", "busybox:local", "ip", "-o", "link"]);
    assert_eq!(links.lines().count(), 1, "{links}");
    // A network in use cannot be removed; predefined ones never.
    assert!(!d.docker(&["network", "rm", "app"]).status.success());
    assert!(!d.docker(&["network", "rm", "bridge"]).status.success());
    assert!(!d.docker(&["network", "create", "app"]).status.success(), "duplicate name");
    assert!(!d.docker(&["run", "--rm", "--network", "nosuch", "busybox:local", "true"]).status.success());
    d.ok(&["rm", "-f", "web", "late"]);
    d.ok(&["network", "rm", "app"]);
    let (code, _) = d.http("GET", "/v1.41/networks/nosuch", "");
    assert_eq!(code, 404);
    let (code, _) = d.http("POST", "/v1.41/networks/create", r#"{"Name":"x","IPAM":{"Config":[{"Subnet":"bogus"}]}}"#);
    assert_eq!(code, 400);
    // Nothing left in the daemon's namespace but the default bridge, once
    // the kernel has taken the sandboxes (in its own time, off the stop path).
    support::eventually("the kernel took every pair", || {
        !String::from_utf8_lossy(&d.in_netns(&["ip", "-o", "link"]).stdout).contains("veth")
    });
}

//! Security properties of `wharf daemon`, end to end through the docker CLI
//! (28) and raw HTTP: device policy, confined reads of container files,
//! SecurityOpt, name uniqueness under concurrency, create-time validation, a
//! killed monitor, hostile image layers. Each property was broken once.
//!
//! Every test owns a daemon (`support::daemon::Daemon`): its drop removes the
//! containers, kills the daemon and deletes its network namespace, also when
//! an assertion fails. Waits for "something did not happen" are bounded by
//! `timeout(1)` so a hang fails the test instead of blocking it.

mod support;

#[path = "security/api.rs"]
mod api;
#[path = "security/lifecycle.rs"]
mod lifecycle;

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::daemon::Daemon;

const IMG: &str = "busybox:local";

/// A daemon with the busybox image imported.
fn daemon() -> Daemon {
    let d = Daemon::start();
    d.import_busybox();
    d
}

fn docker_bin() -> &'static str {
    if Path::new("/usr/local/bin/docker").exists() {
        "/usr/local/bin/docker"
    } else {
        "docker"
    }
}

/// What a bounded docker command did.
struct Timed {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Timed {
    fn timed_out(&self) -> bool {
        // timeout(1) exits 124 when the limit hit, 137 when it had to SIGKILL.
        matches!(self.code, Some(124) | Some(137))
    }
    fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Debug for Timed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {:?} after {:?}; stdout {:?}; stderr {:?}", self.code, self.elapsed, self.stdout, self.stderr)
    }
}

/// `docker args` killed after `secs` seconds.
fn timed(d: &Daemon, secs: u64, args: &[&str]) -> Timed {
    let start = Instant::now();
    let out = Command::new("timeout")
        .args(["-k", "5", &secs.to_string(), docker_bin()])
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", d.sock().display()))
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Timed {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// One HTTP/1.1 request on `sock` (usable from any thread); a response not
/// complete within `timeout` panics. Returns (status, body).
fn request(sock: &Path, method: &str, path: &str, body: &[u8], timeout: Duration) -> (u16, String) {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    let ctype = if body.first() == Some(&b'{') { "application/json" } else { "application/x-tar" };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    if let Err(e) = s.read_to_end(&mut resp) {
        panic!("{method} {path}: no complete answer within {timeout:?}: {e}");
    }
    let resp = String::from_utf8_lossy(&resp);
    let status = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The `message` of an API error body.
fn message(body: &str) -> String {
    serde_json::from_str::<Value>(body.trim())
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no JSON message in {body:?}"))
}

/// `GET /_ping` answers "OK" within 5 s.
fn ping(sock: &Path) -> bool {
    let (status, body) = request(sock, "GET", "/_ping", b"", Duration::from_secs(5));
    status == 200 && body.contains("OK")
}

/// `exec -u user container id` through the API; returns the start's (status, body) and the exec's inspect.
fn exec_api(sock: &Path, container: &str, user: &str) -> (u16, String, Value) {
    let body = serde_json::json!({"User": user, "Cmd": ["id"], "AttachStdout": true, "AttachStderr": true});
    let t = Duration::from_secs(20);
    let (status, resp) =
        request(sock, "POST", &format!("/containers/{container}/exec"), body.to_string().as_bytes(), t);
    assert_eq!(status, 201, "exec create: {resp}");
    let id = serde_json::from_str::<Value>(&resp).unwrap()["Id"].as_str().unwrap().to_string();
    let (status, body) = request(sock, "POST", &format!("/exec/{id}/start"), br#"{"Detach":false,"Tty":false}"#, t);
    let (_, inspect) = request(sock, "GET", &format!("/exec/{id}/json"), b"", t);
    (status, body, serde_json::from_str(&inspect).unwrap_or_default())
}

/// Every container the daemon lists, as `docker ps -aq` prints them.
fn all_ids(d: &Daemon) -> String {
    d.ok(&["ps", "-aq", "--no-trunc"])
}

/// The host's root filesystem device as (major, minor), if it is a device.
fn root_device() -> Option<(u64, u64)> {
    let dev = std::fs::metadata("/").unwrap().dev();
    let (major, minor) = (libc::major(dev) as u64, libc::minor(dev) as u64);
    (major != 0).then_some((major, minor))
}

// ---------------------------------------------------------------------------
// 1. Device policy

#[test]
fn device_policy_denies_by_default() {
    let d = daemon();
    // A character device the container may create but never open.
    let out = d.docker(&["run", "--rm", IMG, "sh", "-c", "mknod /tmp/t c 4 1 && echo mknod-ok && exec 5>/tmp/t"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "opened c 4 1: {stdout}{stderr}");
    assert!(stdout.contains("mknod-ok"), "mknod of a char device is allowed: {stdout}{stderr}");
    assert!(stderr.contains("Operation not permitted"), "{stderr}");
    // Block devices: a loop device and the host's root disk.
    let mut blocks = vec![(7, 0)];
    blocks.extend(root_device());
    for (major, minor) in blocks {
        let script = format!("mknod /tmp/b b {major} {minor} && echo mknod-ok && head -c1 /tmp/b | wc -c");
        let out = d.docker(&["run", "--rm", IMG, "sh", "-c", &script]);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("mknod-ok"), "mknod b {major}:{minor}: {stdout}{stderr}");
        assert!(stderr.contains("Operation not permitted"), "read b {major}:{minor}: {stdout}{stderr}");
        assert!(!stdout.contains("\n1\n"), "read a byte of b {major}:{minor}: {stdout}");
    }
    // The standard devices work.
    let script = "echo x > /dev/null && head -c4 /dev/zero | wc -c && head -c4 /dev/urandom | wc -c && \
                  { echo x > /dev/full; } 2>&1; echo end";
    let out = d.ok(&["run", "--rm", IMG, "sh", "-c", script]);
    assert!(out.starts_with("4\n4\n") && out.contains("No space left on device") && out.ends_with("end\n"), "{out}");
    let out = d.ok(&["run", "--rm", "-t", IMG, "sh", "-c", "echo via-tty > /dev/tty && echo done"]);
    assert!(out.contains("via-tty") && out.contains("done"), "{out:?}");
    // Privileged containers may open what they create.
    let script = "mknod /tmp/n c 1 3 && echo x > /tmp/n && head -c1 /tmp/n | wc -c";
    assert_eq!(d.ok(&["run", "--rm", "--privileged", IMG, "sh", "-c", script]).trim(), "0");
    // The generated OCI config starts with deny-all and never allows all again.
    let id = d.ok(&["run", "-d", IMG, "sleep", "1000"]).trim().to_string();
    let path = d.data().join("containers").join(&id).join("config.json");
    let config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let rules = config["linux"]["resources"]["devices"].as_array().unwrap_or_else(|| panic!("{config}"));
    let is_all =
        |r: &Value| matches!(r["type"].as_str(), None | Some("a")) && r["major"].is_null() && r["minor"].is_null();
    assert!(
        is_all(&rules[0]) && rules[0]["allow"] == false && rules[0]["access"] == "rwm",
        "first device rule is not deny-all: {rules:?}"
    );
    assert!(!rules.iter().skip(1).any(|r| r["allow"] == true && is_all(r)), "allow-all after deny-all: {rules:?}");
    d.ok(&["rm", "-f", &id]);
}

// ---------------------------------------------------------------------------
// 2. Confined reads of container files

/// Strings of the host's /etc/shadow that must never reach a client.
fn host_shadow_secrets() -> Vec<String> {
    let shadow = std::fs::read_to_string("/etc/shadow").unwrap_or_default();
    let mut secrets: Vec<String> = shadow.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
    secrets.extend(shadow.lines().filter_map(|l| l.split(':').nth(1)).filter(|h| h.len() > 3).map(str::to_string));
    secrets.push("root:$".into());
    secrets.push("root:*:".into());
    secrets.push("root:!".into());
    secrets
}

#[test]
fn passwd_symlink_to_host_shadow_is_not_read() {
    let d = daemon();
    d.ok(&["run", "-d", "--name", "c", IMG, "sleep", "1000"]);
    d.ok(&["exec", "c", "sh", "-c", "ln -sf /etc/shadow /etc/passwd"]);
    let out = timed(&d, 20, &["exec", "-u", "root", "c", "id"]);
    assert!(!out.timed_out(), "{out:?}");
    for secret in host_shadow_secrets() {
        assert!(
            !out.stdout.contains(&secret) && !out.stderr.contains(&secret),
            "host shadow content reached the client: {out:?}"
        );
    }
    // Either a clear error, or the name resolved inside the container.
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!((!out.ok() && said.contains("passwd")) || (out.ok() && out.stdout.starts_with("uid=0")), "{out:?}");
    assert!(ping(&d.sock()));
}

#[test]
fn passwd_fifo_does_not_hang_the_daemon() {
    let d = daemon();
    d.ok(&["run", "-d", "--name", "c", IMG, "sleep", "1000"]);
    d.ok(&["exec", "c", "sh", "-c", "rm -f /etc/passwd && mkfifo /etc/passwd"]);
    let sock = d.sock();
    let stop = AtomicBool::new(false);
    let (execs, pings) = std::thread::scope(|s| {
        let pinger = s.spawn(|| {
            let mut answers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                answers.push(ping(&sock));
                std::thread::sleep(Duration::from_millis(100)); // pacing only
            }
            answers
        });
        let execs: Vec<_> = (0..2).map(|_| s.spawn(|| timed(&d, 20, &["exec", "-u", "root", "c", "id"]))).collect();
        let execs: Vec<Timed> = execs.into_iter().map(|h| h.join().unwrap()).collect();
        stop.store(true, Ordering::SeqCst);
        (execs, pinger.join().unwrap())
    });
    for out in &execs {
        assert!(!out.timed_out(), "exec with a FIFO /etc/passwd hung: {out:?}");
        // As Docker: the error comes in the exec's stream and the exec exits 126.
        let said = format!("{}{}", out.stdout, out.stderr);
        assert!(!out.ok() && said.contains("passwd"), "expected a clear error: {out:?}");
    }
    assert!(!pings.is_empty() && pings.iter().all(|ok| *ok), "/_ping failed during the execs: {pings:?}");
    assert!(ping(&d.sock()), "/_ping after the execs");
    // Through the API: the start answers with its stream (the error goes there), the exec exits 126.
    let (status, body, inspect) = exec_api(&d.sock(), "c", "root");
    assert_eq!(status, 200, "{body}");
    assert_eq!(inspect["ExitCode"], 126, "{inspect}");
    // The container itself is unharmed.
    assert_eq!(d.ok(&["exec", "c", "echo", "alive"]), "alive\n");
}

#[test]
fn passwd_symlink_to_dev_zero_fails_fast() {
    let mut d = daemon();
    d.ok(&["run", "--name", "z", IMG, "sh", "-c", "ln -sf /dev/zero /etc/passwd"]);
    d.ok(&["commit", "z", "zeropw:1"]);
    d.ok(&["rm", "z"]);
    let before = all_ids(&d);
    let out = timed(&d, 20, &["run", "--rm", "-u", "someuser", "zeropw:1", "true"]);
    assert!(!out.timed_out(), "run with /etc/passwd -> /dev/zero hung: {out:?}");
    assert!(!out.ok(), "{out:?}");
    let err = out.stderr.to_lowercase();
    assert!(err.contains("passwd") || err.contains("someuser"), "no clear error: {out:?}");
    let alive = d.child.as_mut().unwrap().try_wait().unwrap();
    assert!(alive.is_none(), "daemon died: {alive:?}");
    assert!(ping(&d.sock()), "daemon does not answer");
    // --rm: no container is left behind (a dead monitor would leave one).
    assert_eq!(all_ids(&d), before);
}

// ---------------------------------------------------------------------------
// 3. SecurityOpt

/// The value of `key` in the container's /proc/self/status.
fn status_field(d: &Daemon, opts: &[&str], key: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(opts);
    args.extend([IMG, "grep", key, "/proc/self/status"]);
    let out = d.ok(&args);
    out.split_whitespace().nth(1).unwrap_or_else(|| panic!("{key} in {out:?}")).to_string()
}

#[test]
fn security_opt_is_honoured_or_refused() {
    let d = daemon();
    assert_eq!(status_field(&d, &["--security-opt", "no-new-privileges"], "NoNewPrivs:"), "1");
    assert_eq!(status_field(&d, &[], "NoNewPrivs:"), "0");
    assert_eq!(status_field(&d, &["--security-opt", "seccomp=unconfined"], "Seccomp:"), "0");
    assert_eq!(status_field(&d, &[], "Seccomp:"), "2");
    // A custom profile in Docker's format.
    let profile = d.dir.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = d.docker(&["run", "--rm", "--security-opt", &opt, IMG, "sh", "-c", "mkdir /x && echo made"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && !stdout.contains("made"), "{stdout}{stderr}");
    assert!(stderr.contains("Operation not permitted"), "{stderr}");
    assert_eq!(d.ok(&["run", "--rm", IMG, "sh", "-c", "mkdir /x && echo made"]), "made\n");
    // What the host cannot honour (no AppArmor, no SELinux) or nobody knows is refused.
    let before = all_ids(&d);
    for opt in ["apparmor=foo", "label=type:x", "bogus"] {
        let body = serde_json::json!({"Image": IMG, "Cmd": ["true"], "HostConfig": {"SecurityOpt": [opt]}});
        let (status, resp) = request(
            &d.sock(),
            "POST",
            "/containers/create?name=refused",
            body.to_string().as_bytes(),
            Duration::from_secs(20),
        );
        assert_eq!(status, 400, "{opt}: {resp}");
        assert!(message(&resp).contains(opt), "{opt}: {resp}");
        assert_eq!(all_ids(&d), before, "{opt}: a container was created");
    }
}

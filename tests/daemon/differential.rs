//! The differential harness (issue 11): one table of Engine API requests,
//! sent in order to `wharf daemon` and to a private dockerd (Debian's
//! docker.io, in a network namespace of the test's own), each answer held
//! to dockerd's: the same status, and every key dockerd returns present in
//! Wharf's with a value of the same JSON type (ids, times and paths differ
//! by nature; a `null` where Docker has one may be filled). Endpoint groups:
//! system, containers, exec, images, build, networks, volumes, events.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::support::daemon::Daemon;

/// A private dockerd: its own socket, data and exec roots, network
/// namespace; no bridge, no iptables. Stopped and cleaned up on drop.
struct Dockerd {
    dir: tempfile::TempDir,
    netns: String,
    child: Child,
}

impl Dockerd {
    fn start() -> Dockerd {
        let dir = tempfile::Builder::new().prefix("wharf-dockerd-").tempdir().unwrap();
        let netns = format!("wharf-dd-{}", std::process::id());
        let ok = Command::new("ip").args(["netns", "add", &netns]).status().unwrap().success()
            && Command::new("ip").args(["-n", &netns, "link", "set", "lo", "up"]).status().unwrap().success();
        assert!(ok, "create network namespace {netns}");
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("daemon.json"), "{}").unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{netns}"))
            .arg("dockerd")
            .arg("--config-file")
            .arg(p("daemon.json"))
            .arg("-H")
            .arg(format!("unix://{}", p("docker.sock").display()))
            .arg("--data-root")
            .arg(p("data"))
            .arg("--exec-root")
            .arg(p("exec"))
            .arg("--pidfile")
            .arg(p("dockerd.pid"))
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(p("dockerd.log")).unwrap())
            .spawn()
            .unwrap();
        let log = p("dockerd.log");
        let d = Dockerd { dir, netns, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while request(&d.sock(), "GET", "/_ping", b"").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "dockerd did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    fn sock(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.sock().display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), nix::sys::signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|m| m.starts_with(self.dir.path().to_str().unwrap()))
            .collect();
        points.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in points {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = Command::new("ip").args(["netns", "delete", &self.netns]).status();
    }
}

/// One HTTP/1.1 request over a unix socket: status and body (de-chunked;
/// JSON parsed, a JSON-lines stream as an array, anything else as a string).
fn request(sock: &Path, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let Ok(mut s) = UnixStream::connect(sock) else { return (0, Value::Null) };
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let ctype = if path.starts_with("/build") { "application/x-tar" } else { "application/json" };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut data = raw[at..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        data = dechunk(&data);
    }
    let text = String::from_utf8_lossy(&data).into_owned();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| {
        let lines: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        if lines.is_empty() {
            Value::String(text.clone())
        } else {
            Value::Array(lines)
        }
    });
    (status, v)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..i]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = i + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// Maps keyed by names each daemon has its own of (its runtimes), and
/// keys Wharf has nothing true to put under: an image's layers are never
/// mounted on their own, so it has no merged or work directory to name.
const OWN_NAMES: &[&str] = &[".Runtimes", ".GraphDriver.Data.MergedDir", ".GraphDriver.Data.WorkDir"];

/// Where Wharf's answer differs in shape from dockerd's.
fn shape_diff(docker: &Value, wharf: &Value, path: &str, out: &mut Vec<String>) {
    if OWN_NAMES.contains(&path) {
        return;
    }
    match (docker, wharf) {
        (Value::Object(d), Value::Object(w)) => {
            for (k, dv) in d {
                match w.get(k) {
                    None if OWN_NAMES.contains(&format!("{path}.{k}").as_str()) => {}
                    None => out.push(format!("{path}.{k}: missing")),
                    Some(wv) => shape_diff(dv, wv, &format!("{path}.{k}"), out),
                }
            }
        }
        (Value::Array(d), Value::Array(w)) => {
            // Lists are in each daemon's order: an entry is compared with its namesake.
            // (Names may be shared: the namesake that differs least.)
            let name = |v: &Value| v.get("Name").or_else(|| v.get("Names")).cloned();
            if let Some(dv) = d.first() {
                let mut best: Option<Vec<String>> = None;
                let same: Vec<&Value> = w.iter().filter(|x| name(dv).is_some() && name(x) == name(dv)).collect();
                for wv in if same.is_empty() { w.iter().take(1).collect() } else { same } {
                    let mut diffs = Vec::new();
                    shape_diff(dv, wv, &format!("{path}[0]"), &mut diffs);
                    if best.as_ref().is_none_or(|b| diffs.len() < b.len()) {
                        best = Some(diffs);
                    }
                }
                out.extend(best.unwrap_or_default());
            }
        }
        (Value::Null, _) => {}
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        (d, w) => out.push(format!("{path}: {} in dockerd, {} in wharf", kind(d), kind(w))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where Wharf answers otherwise on purpose: dockerd's status is a 5xx for
/// what is the client's error (Wharf's is the 4xx it is).
const DIVERGENCES: &[(&str, u16, u16)] = &[("DELETE /containers/dt-c2?link=1", 500, 409)];

/// A request of the table; `{exec}` in the path is the exec created before.
struct Case {
    method: &'static str,
    path: &'static str,
    body: Value,
    /// Values compared too (JSON pointers), beyond the shape.
    equal: &'static [&'static str],
}

fn case(method: &'static str, path: &'static str, body: Value) -> Case {
    Case { method, path, body, equal: &[] }
}

/// A build context: a tar holding one Dockerfile.
fn context(dockerfile: &str) -> Vec<u8> {
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(dockerfile.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    t.append_data(&mut h, "Dockerfile", dockerfile.as_bytes()).unwrap();
    t.into_inner().unwrap()
}

fn table() -> Vec<Case> {
    let mut c = vec![
        // System.
        case("GET", "/_ping", Value::Null),
        case("GET", "/version", Value::Null),
        case("GET", "/info", Value::Null),
        // Containers: a one-shot that exits 3, its record, its end.
        case(
            "POST",
            "/containers/create?name=dt-c",
            json!({"Image": "busybox:local", "Cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"], "HostConfig": {"NetworkMode": "none"}}),
        ),
        case("GET", "/containers/dt-c/json", Value::Null),
        case("POST", "/containers/dt-c/start", Value::Null),
        Case { method: "POST", path: "/containers/dt-c/wait", body: Value::Null, equal: &["/StatusCode"] },
        Case {
            method: "GET",
            path: "/containers/dt-c/json",
            body: Value::Null,
            equal: &["/State/Status", "/State/ExitCode", "/State/Running"],
        },
        case("GET", "/containers/json?all=1", Value::Null),
        case("GET", "/containers/dt-c/logs?stdout=1&stderr=1", Value::Null),
        Case { method: "GET", path: "/containers/dt-c/changes", body: Value::Null, equal: &[""] },
        case("POST", "/containers/dt-c/update", json!({"CpuShares": 512})),
        Case { method: "GET", path: "/containers/dt-c/json", body: Value::Null, equal: &["/HostConfig/CpuShares"] },
        case("POST", "/containers/dt-c/rename?name=dt-c2", Value::Null),
        case("GET", "/containers/nosuch/json", Value::Null),
        case("POST", "/containers/create", json!({"Image": "nosuch:1"})),
        case("POST", "/containers/create", json!({"Image": "busybox:local", "HostConfig": {"Memory": 1}})),
        case("POST", "/containers/create?name=dt-c2", json!({"Image": "busybox:local"})),
        case("DELETE", "/containers/dt-c2?link=1", Value::Null),
        Case { method: "GET", path: "/containers/dt-c2/json", body: Value::Null, equal: &["/Name"] },
        // Exec in a running container.
        case(
            "POST",
            "/containers/create?name=dt-r",
            json!({"Image": "busybox:local", "Cmd": ["sleep", "1000"], "HostConfig": {"NetworkMode": "none"}}),
        ),
        case("POST", "/containers/dt-r/start", Value::Null),
        case("POST", "/containers/dt-r/start", Value::Null),
        case("POST", "/containers/dt-r/exec", json!({"Cmd": ["sh", "-c", "exit 4"], "AttachStdout": true})),
        case("POST", "/exec/{exec}/start", json!({"Detach": true})),
        case("GET", "/exec/{exec}/json", Value::Null),
        case("GET", "/exec/nosuch/json", Value::Null),
        case("GET", "/containers/dt-r/top", Value::Null),
        case("POST", "/containers/dt-r/pause", Value::Null),
        Case {
            method: "GET",
            path: "/containers/dt-r/json",
            body: Value::Null,
            equal: &["/State/Status", "/State/Paused"],
        },
        case("POST", "/containers/dt-r/unpause", Value::Null),
        case("POST", "/containers/dt-r/kill", Value::Null),
        Case {
            method: "GET",
            path: "/containers/dt-r/json",
            body: Value::Null,
            equal: &["/State/Status", "/State/ExitCode"],
        },
        case("DELETE", "/containers/dt-r", Value::Null),
        case("DELETE", "/containers/dt-r", Value::Null),
        // Images.
        case("GET", "/images/json", Value::Null),
        case("GET", "/images/busybox:local/json", Value::Null),
        case("GET", "/images/busybox:local/history", Value::Null),
        case("GET", "/images/nosuch:1/json", Value::Null),
        case("POST", "/images/busybox:local/tag?repo=dt-img&tag=1", Value::Null),
        case("DELETE", "/images/dt-img:1", Value::Null),
        case("DELETE", "/images/dt-img:1", Value::Null),
        case("GET", "/images/json?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D", Value::Null),
        // Networks.
        case("POST", "/networks/create", json!({"Name": "dt-net", "Labels": {"a": "b"}})),
        case("POST", "/networks/create", json!({"Name": "dt-net"})),
        case("GET", "/networks/dt-net", Value::Null),
        case("GET", "/networks", Value::Null),
        case("DELETE", "/networks/dt-net", Value::Null),
        case("GET", "/networks/nosuch", Value::Null),
        case("POST", "/networks/prune", Value::Null),
        // Volumes.
        case("POST", "/volumes/create", json!({"Name": "dt-vol", "Labels": {"a": "b"}})),
        case("GET", "/volumes/dt-vol", Value::Null),
        case("GET", "/volumes", Value::Null),
        case("GET", "/volumes?filters=%7B%22name%22%3A%5B%22dt-%22%5D%7D", Value::Null),
        case("DELETE", "/volumes/dt-vol", Value::Null),
        case("GET", "/volumes/nosuch", Value::Null),
        case("POST", "/volumes/create", json!({"Name": "dt-vol2", "Driver": "nosuch"})),
        case("POST", "/volumes/prune", Value::Null),
        // System, prunes, events.
        case("GET", "/system/df", Value::Null),
        case("POST", "/containers/prune", Value::Null),
        case("GET", "/events?since=0&until=1", Value::Null),
    ];
    c.push(Case { method: "GET", path: "/containers/json?all=1", body: Value::Null, equal: &[] });
    c
}

fn builds() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("/build?t=dt-built:1", context("FROM busybox:local\nRUN echo built\n")),
        ("/build", context("FROBNICATE x\n")),
        ("/build?dockerfile=Nope", context("FROM busybox:local\n")),
    ]
}

#[test]
fn wharf_answers_as_dockerd_does() {
    if Command::new("dockerd").arg("--version").output().is_err() {
        eprintln!("dockerd is not installed (apt-get install docker.io): the differential harness is skipped");
        return;
    }
    let dockerd = Dockerd::start();
    let wharf = Daemon::start();
    wharf.import_busybox();
    let tar = super::support::busybox_tar(dockerd.dir.path());
    let out = dockerd.docker(&["import", "-c", "CMD [\"sh\"]", &tar.display().to_string(), "busybox:local"]);
    assert!(out.status.success(), "{out:?}");
    let peers = [("dockerd", dockerd.sock()), ("wharf", wharf.sock())];
    let mut execs = [String::new(), String::new()];
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut run = |method: &str, path: &str, body: &[u8], equal: &[&str], execs: &mut [String; 2]| {
        let answers: Vec<(u16, Value)> = peers
            .iter()
            .zip(execs.iter())
            .map(|((_, sock), exec)| {
                let path = path.replace("{exec}", exec);
                // A detached exec is compared once it has ended on both.
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let (status, v) = request(sock, method, &path, body);
                    if !path.starts_with("/exec/") || v["Running"] != true || Instant::now() > deadline {
                        return (status, v);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
            .collect();
        for (i, (_, v)) in answers.iter().enumerate() {
            if path.ends_with("/exec") {
                execs[i] = v["Id"].as_str().unwrap_or_default().to_string();
            }
        }
        let ((ds, dv), (ws, wv)) = (&answers[0], &answers[1]);
        compared += 1;
        let what = format!("{method} {path}");
        if DIVERGENCES.contains(&(what.as_str(), *ds, *ws)) {
            return;
        }
        if ds != ws {
            failures.push(format!("{what}: status {ds} from dockerd, {ws} from wharf ({wv})"));
            return;
        }
        let mut diffs = Vec::new();
        shape_diff(dv, wv, "", &mut diffs);
        for p in equal {
            if dv.pointer(p) != wv.pointer(p) {
                diffs.push(format!("{p}: {:?} from dockerd, {:?} from wharf", dv.pointer(p), wv.pointer(p)));
            }
        }
        if !diffs.is_empty() {
            failures.push(format!("{what}: {}", diffs.join("; ")));
        }
    };
    for c in table() {
        let body = if c.body.is_null() { Vec::new() } else { c.body.to_string().into_bytes() };
        run(c.method, c.path, &body, c.equal, &mut execs);
    }
    for (path, ctx) in builds() {
        run("POST", path, &ctx, &[], &mut execs);
    }
    assert!(compared > 60, "{compared} requests compared");
    assert!(
        failures.is_empty(),
        "{} of {compared} answers differ from dockerd's:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

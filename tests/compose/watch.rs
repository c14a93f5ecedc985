//! `wharf compose watch` against `wharf daemon`: the initial sync, a new
//! file in a new directory synced, an ignored one not, a removed one
//! removed, `sync+restart`, `sync+exec` and `rebuild`; Ctrl+C ends it.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::support::daemon::Daemon;

const PROJECT: &str = r#"services:
  app:
    build: ./app
    command: sleep 1000
    stop_signal: SIGKILL
    develop:
      watch:
        - {action: sync, path: ./src, target: /srv, ignore: [skip.txt], initial_sync: true}
        - {action: sync+restart, path: ./conf, target: /etc/conf}
        - {action: sync+exec, path: ./hook, target: /hook, exec: {command: "sh -c 'cat /hook/h > /hook-ran'"}}
        - {action: rebuild, path: ./app}
"#;

/// Waits until `check` holds (the state it reads is the daemon's or the container's).
fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn watch_syncs_restarts_runs_hooks_and_rebuilds() {
    let d = Daemon::start();
    d.import_busybox();
    let dir = d.dir.path().join("proj");
    for sub in ["app", "src", "conf", "hook"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("compose.yaml"), PROJECT).unwrap();
    std::fs::write(dir.join("app/Dockerfile"), "FROM busybox:local\nCOPY version /version\n").unwrap();
    std::fs::write(dir.join("app/version"), "1\n").unwrap();
    std::fs::write(dir.join("src/a.txt"), "first\n").unwrap();
    let f = dir.join("compose.yaml").display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("-H")
        .arg(format!("unix://{}", d.sock().display()))
        .args(["compose", "-f", &f, "-p", "w", "watch"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !seen.iter().any(|l: &String| l.contains("Watch enabled")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => {
                let _ = child.kill();
                panic!("watch did not start: {seen:?}");
            }
        }
    }
    let exec = |cmd: &str| {
        let o = d.wharf(&["exec", "w-app-1", "sh", "-c", cmd]);
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    assert_eq!(exec("cat /srv/a.txt"), (true, "first\n".into()), "the initial sync");
    // A new file in a new directory; an ignored one is not copied (checked once a later change is).
    std::fs::create_dir_all(dir.join("src/new")).unwrap();
    std::fs::write(dir.join("src/new/b.txt"), "second\n").unwrap();
    until("src/new/b.txt in the container", || exec("cat /srv/new/b.txt").1 == "second\n");
    std::fs::write(dir.join("src/skip.txt"), "no\n").unwrap();
    std::fs::write(dir.join("src/c.txt"), "third\n").unwrap();
    until("src/c.txt in the container", || exec("cat /srv/c.txt").1 == "third\n");
    assert!(!exec("test -e /srv/skip.txt").0, "an ignored file is not synced");
    std::fs::remove_file(dir.join("src/a.txt")).unwrap();
    until("a.txt removed", || !exec("test -e /srv/a.txt").0);
    // sync+restart: the file, and a new start.
    let started = || d.ok(&["inspect", "-f", "{{.State.StartedAt}}", "w-app-1"]);
    let before = started();
    std::fs::write(dir.join("conf/x.conf"), "level=1\n").unwrap();
    until("the restart after conf/x.conf", || started() != before && exec("cat /etc/conf/x.conf").1 == "level=1\n");
    // sync+exec: the hook sees the synced file.
    std::fs::write(dir.join("hook/h"), "hooked\n").unwrap();
    until("the hook's output", || exec("cat /hook-ran").1 == "hooked\n");
    // rebuild: a new image, the container recreated from it.
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "w-app-1"]);
    std::fs::write(dir.join("app/version"), "2\n").unwrap();
    until("the rebuilt container", || exec("cat /version").1 == "2\n");
    assert_ne!(d.ok(&["inspect", "-f", "{{.Id}}", "w-app-1"]), id);
    // Ctrl+C ends watching.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = super::exit_within(&mut child, 30, "watch did not end on SIGINT");
    seen.extend(rx.try_iter());
    assert!(status.success(), "{status:?}: {seen:#?}");
    let down = d.wharf(&["compose", "-f", &f, "-p", "w", "down", "--rmi", "local"]);
    assert!(down.status.success(), "{}", String::from_utf8_lossy(&down.stderr));
}

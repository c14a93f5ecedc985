//! The engine's lifecycle against the fake runtime, without root: monitors on
//! threads (`Monitors::Thread`), mounts through `sys::FakeHost`, images in a
//! native (plain-copy) snapshotter. Create, start, exit codes and logs, the
//! restart policy, stop and kill, exec, healthchecks, attach and removal.
//! Tests wait on state (records, health, the supervisor's exits), never on
//! sleeps; "did not happen" checks wait past the point where a wrong
//! implementation would have made it happen.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wharf_image::{Images, Options};
use wharf_runtime::fake::Fake;

use crate::health::Healthcheck;
use crate::logs::{ReadOptions, Stream};
use crate::model::{CreateRequest, RestartPolicy};
use crate::monitor::Monitors;
use crate::runtimes::Runtimes;
use crate::supervise::{Supervisor, WaitCondition};
use crate::sys::FakeHost;
use crate::{Engine, RunOptions, Status};

struct Harness {
    tmp: tempfile::TempDir,
    engine: Arc<Engine>,
    host: Arc<FakeHost>,
    sup: Arc<Supervisor>,
}

const IMAGE: &str = "fake-test:latest";

impl Harness {
    fn new() -> Harness {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let images = Images::open_with(data.join("image"), Options { snapshotter: "native".into() }).unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let passwd = b"root:x:0:0:root:/root:/bin/sh\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(passwd.len() as u64);
        h.set_mode(0o644);
        // Owned by whoever runs the tests: unpacking then needs no root.
        h.set_uid(nix::unistd::getuid().as_raw().into());
        h.set_gid(nix::unistd::getgid().as_raw().into());
        h.set_cksum();
        tar.append_data(&mut h, "etc/passwd", &passwd[..]).unwrap();
        let layer = tar.into_inner().unwrap();
        images.import(&mut layer.as_slice(), Some(IMAGE), None, None).unwrap();
        let fake: Arc<dyn wharf_runtime::Runtime> = Arc::new(Fake::new(tmp.path().join("fake")));
        let runtimes = Runtimes::new(&BTreeMap::new(), None, &[]).unwrap().with_instance("fake", fake, true).unwrap();
        let host = Arc::new(FakeHost::default());
        let engine = Arc::new(
            Engine::with_images(&data, &tmp.path().join("run"), images)
                .with_runtimes(runtimes)
                .with_host(host.clone())
                .with_monitors(Monitors::Thread)
                .with_record_cache(),
        );
        // No proxies are started (no published ports), so no binary is needed.
        let sup = Supervisor::new(engine.clone(), PathBuf::from("/nonexistent/wharf"));
        Harness { tmp, engine, host, sup }
    }

    fn create(&self, cmd: &str, f: impl FnOnce(&mut CreateRequest)) -> String {
        let mut req = CreateRequest {
            opts: RunOptions {
                image: IMAGE.into(),
                cmd: vec!["sh".into(), "-c".into(), cmd.into()],
                network: "none".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        f(&mut req);
        self.engine.create(req).unwrap().id
    }

    async fn run_to_exit(&self, id: &str) -> Option<i32> {
        let exited = self.sup.wait(id, WaitCondition::NextExit).await.unwrap();
        assert!(self.sup.start(id).await.unwrap());
        exited.await
    }

    fn logs(&self, id: &str) -> Vec<(Stream, String)> {
        let mut out = Vec::new();
        let opts = ReadOptions { stdout: true, stderr: true, ..Default::default() };
        self.engine
            .logs(id, &opts, false, &mut |e| {
                out.push((e.stream, String::from_utf8_lossy(&e.line).trim_end().to_string()));
                true
            })
            .unwrap();
        out
    }

    /// Waits until the record satisfies `f` (the monitor writes it).
    fn until(&self, id: &str, what: &str, f: impl Fn(&crate::Container) -> bool) -> crate::Container {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let c = self.engine.get(id).unwrap();
            if f(&c) {
                return c;
            }
            assert!(Instant::now() < deadline, "{what}: {:?}", c.state);
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn events(&self, id: &str) -> Vec<String> {
        crate::events::history(self.engine.root()).into_iter().filter(|e| e.actor.id == id).map(|e| e.action).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_records_exit_code_logs_and_events() {
    let h = Harness::new();
    let id = h.create("echo out; echo err >&2; exit 3", |_| {});
    assert_eq!(h.engine.get(&id).unwrap().state.status, Status::Created);
    assert_eq!(h.run_to_exit(&id).await, Some(3));
    let c = h.until(&id, "exited", |c| c.state.status == Status::Exited);
    assert_eq!((c.state.exit_code, c.state.pid), (3, 0));
    assert!(c.state.started_at.is_some() && c.state.finished_at.is_some());
    assert_eq!(h.logs(&id), [(Stream::Stdout, "out".to_string()), (Stream::Stderr, "err".to_string())]);
    assert_eq!(h.events(&id), ["create", "start", "die"]);
    // The run's rootfs was mounted and is released with the run.
    assert!(h.host.mounted().is_empty(), "{:?}", h.host.mounted());
    // A second start runs it again, from a clean state.
    assert_eq!(h.run_to_exit(&id).await, Some(3));
    assert_eq!(h.logs(&id).len(), 4);
    h.sup.remove(&id, false, false).await.unwrap();
    assert!(h.engine.get(&id).is_err());
    assert!(!crate::model::Container::dir(h.engine.root(), &id).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_command_fails_the_start_with_127() {
    let h = Harness::new();
    let id = h.create("", |r| r.opts.cmd = vec!["no-such-command-here".into()]);
    let err = h.sup.start(&id).await.unwrap_err();
    assert!(err.is_command_not_found(), "{err}");
    let c = h.engine.get(&id).unwrap();
    assert_eq!((c.state.status, c.state.exit_code), (Status::Exited, 127));
    assert!(h.host.mounted().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_restarts_up_to_the_maximum() {
    let h = Harness::new();
    let id = h.create("echo run; exit 1", |r| r.restart_policy = RestartPolicy::parse("on-failure:2").unwrap());
    h.sup.start(&id).await.unwrap();
    let c = h.until(&id, "two restarts, then exited", |c| c.state.status == Status::Exited && c.restart_count == 2);
    assert_eq!(c.state.exit_code, 1);
    // Three runs (the first and two restarts), each logged.
    assert_eq!(h.logs(&id).iter().filter(|(_, l)| l == "run").count(), 3);
    // No fourth run: the backoff before it would be 400 ms; wait well past it.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(h.engine.get(&id).unwrap().restart_count, 2);
    assert_eq!(h.events(&id).iter().filter(|a| *a == "start").count(), 3);
    // A successful exit is no failure: no restart.
    let ok = h.create("exit 0", |r| r.restart_policy = RestartPolicy::parse("on-failure").unwrap());
    assert_eq!(h.run_to_exit(&ok).await, Some(0));
    std::thread::sleep(Duration::from_millis(500));
    let c = h.engine.get(&ok).unwrap();
    assert_eq!((c.state.status, c.restart_count), (Status::Exited, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_an_always_restarting_container() {
    let h = Harness::new();
    let id = h.create("echo up; exec sleep 100", |r| r.restart_policy = RestartPolicy::parse("always").unwrap());
    h.sup.start(&id).await.unwrap();
    h.until(&id, "running", |c| c.state.status == Status::Running);
    // SIGTERM ends `sleep`: 143, and the policy does not bring it back.
    assert!(h.sup.stop(&id, Some(10), None).await.unwrap());
    let c = h.until(&id, "exited", |c| c.state.status == Status::Exited);
    assert_eq!(c.state.exit_code, 143);
    std::thread::sleep(Duration::from_millis(1000));
    let c = h.engine.get(&id).unwrap();
    assert_eq!((c.state.status, c.restart_count), (Status::Exited, 0));
    // A process that ignores the stop signal is killed at the timeout: 137.
    let stubborn = h.create("trap '' TERM; echo ready; while :; do sleep 1; done", |_| {});
    h.sup.start(&stubborn).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !h.logs(&stubborn).iter().any(|(_, l)| l == "ready") {
        assert!(Instant::now() < deadline, "the trap was never set");
        std::thread::sleep(Duration::from_millis(5));
    }
    let t = Instant::now();
    assert!(h.sup.stop(&stubborn, Some(1), None).await.unwrap());
    let c = h.until(&stubborn, "killed", |c| c.state.status == Status::Exited);
    assert_eq!(c.state.exit_code, 137);
    assert!(t.elapsed() >= Duration::from_secs(1), "killed before the timeout");
    // kill with a signal of its own.
    let k = h.create("exec sleep 100", |_| {});
    h.sup.start(&k).await.unwrap();
    h.sup.kill(&k, 9).await.unwrap();
    assert_eq!(h.until(&k, "killed", |c| c.state.status == Status::Exited).state.exit_code, 137);
    assert!(h.sup.kill(&k, 9).await.is_err(), "kill of a stopped container");
    assert!(h.host.mounted().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_commands_and_reports_exit_codes() {
    let h = Harness::new();
    let id = h.create("exec sleep 100", |_| {});
    h.sup.start(&id).await.unwrap();
    let config = crate::exec::ExecConfig {
        cmd: vec!["sh".into(), "-c".into(), "echo $X; echo oops >&2; exit 4".into()],
        env: vec!["X=from-exec".into()],
        attach_stdout: true,
        attach_stderr: true,
        ..Default::default()
    };
    let exec = h.sup.exec_create(&id, config.clone()).await.unwrap();
    let mut session = h.sup.exec_start(&exec, false).await.unwrap().expect("attached");
    let mut got = Vec::new();
    while let Some((kind, data)) = session.output.recv().await {
        got.push((kind, String::from_utf8_lossy(&data).into_owned()));
    }
    let text = |k| got.iter().filter(|(kind, _)| *kind == k).map(|(_, d)| d.as_str()).collect::<String>();
    assert_eq!(text(crate::protocol::Kind::Stdout), "from-exec\n");
    assert_eq!(text(crate::protocol::Kind::Stderr), "oops\n");
    let record = h.sup.execs.get(&exec).unwrap();
    assert_eq!((record.running, record.exit_code), (false, Some(4)));
    assert!(h.sup.exec_start(&exec, false).await.is_err(), "an exec starts once");
    // Only the streams asked for: stderr unattached goes nowhere.
    let only_out =
        h.sup.exec_create(&id, crate::exec::ExecConfig { attach_stderr: false, ..config.clone() }).await.unwrap();
    let mut session = h.sup.exec_start(&only_out, false).await.unwrap().unwrap();
    let mut kinds = Vec::new();
    while let Some((kind, _)) = session.output.recv().await {
        kinds.push(kind);
    }
    assert!(!kinds.is_empty() && kinds.iter().all(|k| *k == crate::protocol::Kind::Stdout), "{kinds:?}");
    // A missing executable: 127, and the runtime's message in the stream.
    let missing = crate::exec::ExecConfig { cmd: vec!["no-such-binary-x".into()], ..config };
    let exec = h.sup.exec_create(&id, missing).await.unwrap();
    let mut session = h.sup.exec_start(&exec, false).await.unwrap().unwrap();
    let mut text = String::new();
    while let Some((_, data)) = session.output.recv().await {
        text.push_str(&String::from_utf8_lossy(&data));
    }
    assert!(text.contains("no-such-binary-x"), "{text}");
    assert_eq!(h.sup.execs.get(&exec).unwrap().exit_code, Some(126));
    // Detached: the exit code is recorded when it ends.
    let detached =
        crate::exec::ExecConfig { cmd: vec!["sh".into(), "-c".into(), "exit 6".into()], ..Default::default() };
    let exec = h.sup.exec_create(&id, detached).await.unwrap();
    assert!(h.sup.exec_start(&exec, true).await.unwrap().is_none());
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.sup.execs.get(&exec).unwrap().exit_code.is_none() {
        assert!(Instant::now() < deadline, "detached exec never ended");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(h.sup.execs.get(&exec).unwrap().exit_code, Some(6));
    assert!(h.events(&id).iter().any(|a| a == "exec_die"));
    h.sup.remove(&id, true, false).await.unwrap();
    assert!(h.sup.exec_create(&id, Default::default()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_goes_healthy_then_unhealthy() {
    let h = Harness::new();
    let flag = h.tmp.path().join("healthy");
    std::fs::write(&flag, b"").unwrap();
    let ms = |n: i64| n * 1_000_000;
    let hc = Healthcheck {
        test: vec!["CMD-SHELL".into(), format!("test -e {}", flag.display())],
        interval: ms(50),
        timeout: ms(5000),
        retries: 2,
        ..Default::default()
    };
    let id = h.create("exec sleep 100", |r| r.healthcheck = Some(hc));
    h.sup.start(&id).await.unwrap();
    let health = |want: &'static str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = crate::health::load(h.engine.root(), &id);
            if got.as_ref().is_some_and(|g| g.status == want) {
                return got.unwrap();
            }
            assert!(Instant::now() < deadline, "never {want}: {got:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let healthy = health("healthy");
    assert_eq!((healthy.failing_streak, healthy.log.last().map(|p| p.exit_code)), (0, Some(0)));
    std::fs::remove_file(&flag).unwrap();
    let sick = health("unhealthy");
    assert!(sick.failing_streak >= 2);
    assert!(sick.log.len() <= 5, "log bounded as Docker's");
    // Each change is an event (emitted right after the state is saved).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = h.events(&id);
        let has = |a: &str| events.iter().any(|e| e == a);
        if has("health_status: healthy") && has("health_status: unhealthy") {
            break;
        }
        assert!(Instant::now() < deadline, "{events:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    h.sup.remove(&id, true, false).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_before_start_gets_all_output_and_the_exit() {
    let h = Harness::new();
    let id = h.create("echo one; echo two >&2; exit 5", |_| {});
    let (_, connect) = h.sup.attach(&id).await.unwrap();
    let sup = h.sup.clone();
    let key = id.clone();
    let start = tokio::spawn(async move { sup.start(&key).await });
    let mut stream = connect.await.expect("attached");
    start.await.unwrap().unwrap();
    let (mut out, mut err, mut exit) = (Vec::new(), Vec::new(), None);
    while let Some(f) = crate::protocol::read_frame_async(&mut stream).await.unwrap() {
        match f.kind {
            crate::protocol::Kind::Stdout => out.extend(&f.payload),
            crate::protocol::Kind::Stderr => err.extend(&f.payload),
            crate::protocol::Kind::Exit => {
                exit = f.exit_code();
                break;
            }
            _ => {}
        }
    }
    assert_eq!((out.as_slice(), err.as_slice(), exit), (&b"one\n"[..], &b"two\n"[..], Some(5)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_remove_removes_after_exit() {
    let h = Harness::new();
    let id = h.create("exit 2", |r| r.auto_remove = true);
    let removed = h.sup.wait(&id, WaitCondition::Removed).await.unwrap();
    h.sup.start(&id).await.unwrap();
    assert_eq!(removed.await, Some(2));
    assert!(h.engine.get(&id).is_err());
    assert_eq!(h.events(&id).last().map(String::as_str), Some("destroy"));
}

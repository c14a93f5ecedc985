//! `wharf compose` verbs against `wharf daemon`: `up --wait` (and its
//! failure status), `--scale` with the service's name resolving to every
//! replica, a built service, `run --rm`, `logs` and `logs -f` ending when
//! the project stops, the lifecycle verbs, the listings, and attached `up`
//! with `--exit-code-from`.

use std::process::{Command, Output, Stdio};

use super::support::daemon::Daemon;

const PROJECT: &str = r#"services:
  db:
    image: busybox:local
    command: sh -c 'echo db ready; exec sleep 1000'
    stop_signal: SIGKILL
    healthcheck: {test: ["CMD", "true"], interval: 1s, retries: 5}
  web:
    image: busybox:local
    command: sh -c 'echo web up; exec sleep 1000'
    stop_signal: SIGKILL
    ports: ["8080:80"]
    depends_on: {db: {condition: service_healthy}}
    secrets: [token, {source: key, target: api.key, mode: 0400}]
    configs: [{source: conf, target: /etc/app.conf}]
  worker:
    image: busybox:local
    command: sleep 1000
    stop_signal: SIGKILL
  app:
    build: ./app
    command: sleep 1000
    stop_signal: SIGKILL
  job:
    image: busybox:local
    command: sh -c 'echo job done; exit 3'
    profiles: [jobs]
secrets:
  token: {file: ./token.txt}
  key: {environment: API_KEY}
configs:
  conf: {content: "level=debug\n"}
"#;

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn verbs_wait_scale_build_run_logs_and_attached_up() {
    let d = Daemon::start();
    d.import_busybox();
    let dir = d.dir.path().join("shop");
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("compose.yaml"), PROJECT).unwrap();
    std::fs::write(dir.join("token.txt"), "t0ken\n").unwrap();
    std::fs::write(dir.join(".env"), "API_KEY=k3y\n").unwrap();
    std::fs::write(dir.join("app/Dockerfile"), "FROM busybox:local\nRUN echo built > /built\n").unwrap();
    let f = dir.join("compose.yaml").display().to_string();
    let args = |more: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = ["compose", "-f", &f, "-p", "shop"].iter().map(|s| s.to_string()).collect();
        all.extend(more.iter().map(|s| s.to_string()));
        all
    };
    let compose = |more: &[&str]| {
        let a = args(more);
        d.wharf(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let state = |c: &str| d.ok(&["inspect", "-f", "{{.State.Status}}", c]).trim().to_string();

    // up --wait returns once db is healthy and the rest runs; the built image is there.
    ok(compose(&["up", "--wait", "--scale", "worker=3"]));
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Health.Status}}", "shop-db-1"]).trim(), "healthy");
    assert_eq!(ok(compose(&["exec", "-T", "app", "cat", "/built"])).trim(), "built");
    assert_eq!(d.ok(&["inspect", "-f", "{{.Config.Image}}", "shop-app-1"]).trim(), "shop-app");
    // Secrets and configs are files: bind-mounted, or written in with their mode.
    let exec = |cmd: &str| ok(compose(&["exec", "-T", "web", "sh", "-c", cmd]));
    assert_eq!(exec("cat /run/secrets/token"), "t0ken\n");
    assert_eq!(exec("cat /run/secrets/api.key; stat -c %a /run/secrets/api.key"), "k3y400\n");
    assert_eq!(exec("cat /etc/app.conf"), "level=debug\n");
    assert!(!compose(&["exec", "-T", "web", "sh", "-c", "echo x > /run/secrets/token"]).status.success(), "read-only");
    // The service's name resolves to each of its three replicas.
    let lookup = ok(compose(&["exec", "-T", "web", "nslookup", "worker"]));
    for n in 1..=3 {
        let ip = d.ok(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &format!("shop-worker-{n}"),
        ]);
        assert!(lookup.contains(ip.trim()), "worker-{n} {ip} not in {lookup}");
    }
    // run --rm: the command's output and exit code, and no container left.
    let run = compose(&["run", "--rm", "-e", "X=hi", "web", "sh", "-c", "echo $X from $(hostname); exit 4"]);
    assert_eq!(run.status.code(), Some(4), "{}", text(&run));
    assert!(String::from_utf8_lossy(&run.stdout).contains("hi from"), "{}", text(&run));
    assert!(!d.ok(&["ps", "-a", "--format", "{{.Names}}"]).contains("-run-"), "the one-off is removed");
    // Listings.
    let ps = ok(compose(&["ps"]));
    assert!(ps.starts_with("NAME") && ps.contains("shop-worker-3") && ps.contains("0.0.0.0:8080->80/tcp"), "{ps}");
    assert_eq!(ok(compose(&["ps", "--services", "db"])), "db\n");
    assert_eq!(ok(compose(&["port", "web", "80"])).trim(), "0.0.0.0:8080");
    assert!(ok(compose(&["top", "db"])).contains("sleep 1000"));
    assert!(ok(compose(&["images"])).contains("shop-app"));
    let ls = ok(d.wharf(&["compose", "ls"]));
    assert!(ls.contains("shop") && ls.contains("running(") && ls.contains(&f), "{ls}");
    let local = d.dir.path().join("note");
    std::fs::write(&local, "to the container\n").unwrap();
    ok(compose(&["cp", &local.display().to_string(), "web:/tmp/note"]));
    assert_eq!(ok(compose(&["exec", "-T", "web", "cat", "/tmp/note"])), "to the container\n");
    let back = d.dir.path().join("back");
    ok(compose(&["cp", "web:/tmp/note", &back.display().to_string()]));
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "to the container\n");
    let logs = ok(compose(&["logs", "--no-color", "db", "web"]));
    assert!(logs.contains("db-1   | db ready") && logs.contains("web-1  | web up"), "{logs}");

    // logs -f follows until the project stops.
    let mut follow = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("-H")
        .arg(format!("unix://{}", d.sock().display()))
        .args(args(&["logs", "-f", "db"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ok(compose(&["stop"]));
    let status = super::exit_within(&mut follow, 60, "logs -f did not end when the project stopped");
    assert!(status.success());
    let mut followed = String::new();
    std::io::Read::read_to_string(follow.stdout.as_mut().unwrap(), &mut followed).unwrap();
    assert!(followed.contains("db ready"), "{followed}");
    assert_eq!(state("shop-web-1"), "exited");

    // Lifecycle verbs.
    ok(compose(&["start"]));
    assert_eq!(state("shop-web-1"), "running");
    ok(compose(&["pause", "db"]));
    assert_eq!(state("shop-db-1"), "paused");
    ok(compose(&["unpause", "db"]));
    assert_eq!(state("shop-db-1"), "running");
    let before = d.ok(&["inspect", "-f", "{{.State.StartedAt}}", "shop-web-1"]);
    ok(compose(&["restart", "web"]));
    assert_ne!(d.ok(&["inspect", "-f", "{{.State.StartedAt}}", "shop-web-1"]), before);
    ok(compose(&["kill", "worker"]));
    assert_eq!(state("shop-worker-2"), "exited");
    ok(compose(&["rm", "-f", "worker"]));
    assert!(!d.ok(&["ps", "-a", "--format", "{{.Names}}"]).contains("shop-worker"));
    let nothing = compose(&["start", "ghost"]);
    assert!(!nothing.status.success() && text(&nothing).contains("no such service: ghost"));

    // Attached: the job's output, then its exit code; the others stopped.
    let attached = compose(&["--profile", "jobs", "up", "--no-color", "--exit-code-from", "job", "db", "job"]);
    assert_eq!(attached.status.code(), Some(3), "{}", text(&attached));
    let out = String::from_utf8_lossy(&attached.stdout);
    assert!(out.contains("job-1  | job done") && out.contains("job-1 exited with code 3"), "{out}");
    assert_eq!(state("shop-db-1"), "exited");
    assert_eq!(state("shop-web-1"), "running", "a service not named is not touched");
    assert!(!text(&attached).contains("orphan"), "{}", text(&attached));

    // Attached up follows a container across the restarts of its policy, output and exits, to the last.
    let flaky = d.dir.path().join("flaky.yaml");
    std::fs::write(&flaky, "services:\n  flaky:\n    image: busybox:local\n    command: sh -c 'echo run; exit 2'\n    restart: on-failure:2\n").unwrap();
    let fl = flaky.display().to_string();
    let attached = d.wharf(&["compose", "-f", &fl, "-p", "flaky", "up", "--no-color"]);
    let out = String::from_utf8_lossy(&attached.stdout);
    assert!(attached.status.success(), "{}", text(&attached));
    assert_eq!(out.matches("flaky-1 exited with code 2").count(), 3, "{out}");
    assert_eq!(out.matches("flaky-1  | run").count(), 3, "{out}");
    ok(d.wharf(&["compose", "-f", &fl, "-p", "flaky", "down"]));

    // wait: blocks until the service's container stops, prints its code; --down-project takes the project down.
    let sync = d.dir.path().join("sync");
    std::fs::create_dir_all(&sync).unwrap();
    let waited = d.dir.path().join("wait.yaml");
    std::fs::write(
        &waited,
        format!(
            "services:\n  once:\n    image: busybox:local\n    command: sh -c 'until [ -e /sync/go ]; do sleep 0.05; done; exit 5'\n    volumes: ['{}:/sync']\n  other: {{image: busybox:local, command: sleep 1000, stop_signal: SIGKILL}}\n",
            sync.display()
        ),
    )
    .unwrap();
    let w = waited.display().to_string();
    ok(d.wharf(&["compose", "-f", &w, "-p", "waited", "up", "-d"]));
    let mut waiter = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("-H")
        .arg(format!("unix://{}", d.sock().display()))
        .args(["compose", "-f", &w, "-p", "waited", "wait", "--down-project", "once"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(state("waited-once-1"), "running", "still waiting for /sync/go");
    std::fs::write(sync.join("go"), "").unwrap();
    let status = super::exit_within(&mut waiter, 60, "compose wait did not end when the container exited");
    let mut printed = String::new();
    std::io::Read::read_to_string(waiter.stdout.as_mut().unwrap(), &mut printed).unwrap();
    assert_eq!((status.code(), printed.trim()), (Some(5), "5"));
    assert!(!d.ok(&["ps", "-a", "--format", "{{.Names}}"]).contains("waited-"), "--down-project took it down");

    // --wait fails with the status of what went wrong (a healthcheck makes it wait for the exit).
    let bad = d.dir.path().join("bad.yaml");
    std::fs::write(&bad, "services:\n  crash:\n    image: busybox:local\n    command: sh -c 'exit 1'\n    healthcheck: {test: [CMD, 'true'], interval: 30s}\n").unwrap();
    let b = bad.display().to_string();
    let failed = d.wharf(&["compose", "-f", &b, "-p", "bad", "up", "--wait"]);
    assert!(!failed.status.success() && text(&failed).contains("bad-crash-1 exited (1)"), "{}", text(&failed));
    ok(d.wharf(&["compose", "-f", &b, "-p", "bad", "down"]));

    ok(compose(&["--profile", "jobs", "down", "-v", "--rmi", "local"]));
    assert!(d.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim().is_empty());
    assert!(
        !d.ok(&["images", "--format", "{{.Repository}}"]).contains("shop-app"),
        "--rmi local removes the built image"
    );
}

/// `build.additional_contexts`: another service's image (`service:`, built
/// first though it comes later in the file), a directory and an image; and
/// a remote context (a git repository the daemon fetches).
#[test]
fn builds_take_additional_contexts_and_remote_contexts() {
    let d = Daemon::start();
    d.import_busybox();
    let netns = std::path::PathBuf::from(format!("/run/netns/{}", d.netns));
    let server = super::support::StaticServer::serve(&super::support::remote_fixtures(d.dir.path()), Some(&netns));
    let dir = d.dir.path().join("ctxs");
    for sub in ["app", "base", "files"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("compose.yaml"),
        format!("services:\n  app:\n    build:\n      context: ./app\n      additional_contexts:\n        base: service:base\n        files: ./files\n        bb: docker-image://busybox:local\n  base:\n    build: ./base\n  fetched:\n    build: http://127.0.0.1:{}/repo.git#v1:sub\n", server.port),
    )
    .unwrap();
    std::fs::write(dir.join("base/Dockerfile"), "FROM busybox:local\nRUN echo base > /base\n").unwrap();
    std::fs::write(dir.join("files/f.txt"), "file\n").unwrap();
    std::fs::write(
        dir.join("app/Dockerfile"),
        "FROM base\nCOPY --from=files f.txt /f.txt\nCOPY --from=bb /bin/busybox /bb\nRUN cat /base /f.txt > /all\n",
    )
    .unwrap();
    let f = dir.join("compose.yaml").display().to_string();
    // `base` is built first: `FROM base` names its image, in no registry.
    ok(d.wharf(&["compose", "-f", &f, "-p", "ctxs", "build"]));
    assert_eq!(d.ok(&["run", "--rm", "ctxs-app", "cat", "/all"]), "base\nfile\n");
    assert!(d.ok(&["run", "--rm", "ctxs-app", "ls", "/bb"]).contains("/bb"));
    assert_eq!(d.ok(&["run", "--rm", "ctxs-fetched", "cat", "/hello.txt"]), "from git v1\n");
}

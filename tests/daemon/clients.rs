//! Other clients of the daemon: docker-compose 1.29 running a project, wharf's own CLI,
//! and Dockerfile builds through `POST /build`.

use super::*;

/// docker-compose 1.29 (Debian's) drives the daemon unmodified: a project
/// network, a named volume, service discovery by name, a published port,
/// scaling, restart and teardown.
#[test]
fn docker_compose_project() {
    let d = Daemon::start();
    d.import_busybox();
    let proj = d.dir.path().join("shop");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("docker-compose.yml"),
        r#"version: "3.8"
services:
  web:
    image: busybox:local
    command: sh -c "mkdir -p /www && echo compose-ok > /www/index.html && exec httpd -f -p 8000 -h /www"
    ports: ["127.0.0.1:18082:8000"]
    volumes: ["data:/data"]
    environment: [A=1]
  client:
    image: busybox:local
    command: sh -c "until wget -qO- http://web:8000/; do sleep 0.2; done; exec sleep 100"
    depends_on: [web]
volumes:
  data: {}
"#,
    )
    .unwrap();
    let compose = |args: &[&str]| {
        let out = Command::new("docker-compose")
            .current_dir(&proj)
            .env("DOCKER_HOST", format!("unix://{}", d.sock().display()))
            .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
            .args(args)
            .output()
            .expect("docker-compose (apt-get install docker-compose)");
        assert!(out.status.success(), "docker-compose {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    compose(&["up", "-d"]);
    let ps = compose(&["ps"]);
    assert!(
        ps.contains("shop_web_1") && ps.contains("shop_client_1") && ps.contains("127.0.0.1:18082->8000/tcp"),
        "{ps}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !compose(&["logs", "client"]).contains("compose-ok") {
        assert!(Instant::now() < deadline, "client never reached web by name");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = d.in_netns(&["/bin/busybox", "wget", "-qO-", "http://127.0.0.1:18082/"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "compose-ok\n");
    compose(&["up", "-d", "--scale", "client=2"]);
    assert_eq!(d.ok(&["ps", "-q", "--filter", "label=com.docker.compose.service=client"]).lines().count(), 2);
    compose(&["restart", "-t", "1", "web"]);
    compose(&["down", "-v", "-t", "1"]);
    assert!(d.ok(&["ps", "-aq"]).trim().is_empty());
    assert!(!d.ok(&["network", "ls"]).contains("shop_default"));
    assert!(!d.ok(&["volume", "ls"]).contains("shop_data"));
}

/// The scripted scenario with `wharf` itself as the client.
#[test]
fn wharf_cli_scenario() {
    let mut d = Daemon::start();
    d.import_busybox();
    let reg = crate::support::Registry::start_in(Some(&d.netns), None);
    assert!(d.w(&["version"]).contains("API version:\t1.41"));
    assert_eq!(d.w(&["version", "--format", "{{.Server.ApiVersion}}"]).trim(), "1.41");
    assert!(d.w(&["info"]).contains("Default Runtime: wharf"));
    // run --rm: output and exit codes.
    assert_eq!(d.w(&["run", "--rm", "busybox:local", "echo", "hi"]), "hi\n");
    let out = d.wharf(&["run", "--rm", "busybox:local", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).to_string()), (Some(3), "out\n".into()));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let out = d.wharf(&["run", "--rm", "busybox:local", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(d.w(&["ps", "-aq"]).trim().is_empty());
    // run -d, ps with filters and formats, logs, exec, stop, rm.
    let id = d.w(&[
        "run",
        "-d",
        "--name",
        "tick",
        "-e",
        "WHO=wharf",
        "busybox:local",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo hello $WHO; while true; do sleep 0.1; done",
    ]);
    assert_eq!(id.trim().len(), 64);
    assert_eq!(d.w(&["ps", "-q"]).trim(), &id[..12]);
    let ps = d.w(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID") && ps.contains("tick"), "{ps}");
    assert_eq!(d.w(&["ps", "--format", "{{.Names}}:{{.State}}", "--filter", "name=tick"]).trim(), "tick:running");
    assert!(d.w(&["ps", "-q", "--filter", "status=exited"]).trim().is_empty());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.w(&["logs", "tick"]), "hello wharf\n");
    assert_eq!(d.w(&["exec", "tick", "sh", "-c", "echo $WHO"]), "wharf\n");
    assert_eq!(d.wharf(&["exec", "tick", "sh", "-c", "exit 5"]).status.code(), Some(5));
    assert_eq!(d.w(&["exec", "-u", "nobody", "tick", "id", "-u"]).trim(), "65534");
    assert_eq!(d.w(&["inspect", "-f", "{{.State.Status}} {{.Name}}", "tick"]).trim(), "running /tick");
    let stats = d.w(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "tick"]);
    assert!(stats.starts_with("tick "), "{stats}");
    assert!(d.w(&["top", "tick"]).contains("sleep"));
    d.w(&["stop", "-t", "2", "tick"]);
    assert_eq!(d.w(&["inspect", "-f", "{{.State.ExitCode}}", "tick"]).trim(), "0");
    assert_eq!(d.w(&["ps", "-aq", "--filter", "status=exited"]).trim(), &id[..12]);
    d.w(&["rm", "tick"]);
    // logs -f follows until the container ends.
    d.w(&[
        "run",
        "-d",
        "--name",
        "brief",
        "busybox:local",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; sleep 0.2; done",
    ]);
    assert_eq!(d.w(&["logs", "-f", "brief"]), "line1\nline2\nline3\n");
    d.w(&["rm", "brief"]);
    // Images: tag, push/pull through a loopback registry, save/load, rmi.
    let name = format!("{}/wharf/bb:1", reg.host());
    d.w(&["tag", "busybox:local", &name]);
    d.w(&["push", &name]);
    d.w(&["rmi", &name]);
    d.w(&["pull", &name]);
    assert!(d.w(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).contains(&name));
    let archive = d.dir.path().join("cli-save.tar");
    d.w(&["save", "-o", archive.to_str().unwrap(), &name]);
    d.w(&["rmi", &name]);
    assert!(d.w(&["load", "-i", archive.to_str().unwrap()]).contains(&format!("Loaded image: {name}")));
    assert_eq!(d.w(&["run", "--rm", &name, "echo", "from-loaded"]), "from-loaded\n");
    // Volumes and networks.
    d.w(&["volume", "create", "cli-vol"]);
    d.w(&["run", "--rm", "-v", "cli-vol:/data", "busybox:local", "sh", "-c", "echo kept > /data/f"]);
    assert_eq!(d.w(&["run", "--rm", "-v", "cli-vol:/data", "busybox:local", "cat", "/data/f"]), "kept\n");
    assert!(d.w(&["volume", "ls", "-q"]).lines().any(|l| l == "cli-vol"));
    d.w(&["volume", "rm", "cli-vol"]);
    d.w(&["network", "create", "cli-net"]);
    assert!(d.w(&["network", "ls", "--format", "{{.Name}}"]).lines().any(|l| l == "cli-net"));
    d.w(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "cli-net",
        "busybox:local",
        "sh",
        "-c",
        "echo served > /tmp/i; exec httpd -f -p 80 -h /tmp",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = d.wharf(&["run", "--rm", "--network", "cli-net", "busybox:local", "wget", "-qO-", "http://srv/i"]);
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout), "served\n");
            break;
        }
        assert!(Instant::now() < deadline, "no answer from srv");
        std::thread::sleep(Duration::from_millis(100));
    }
    // cp, export, commit.
    let f = d.dir.path().join("cli-cp.txt");
    std::fs::write(&f, "copied\n").unwrap();
    d.w(&["cp", f.to_str().unwrap(), "srv:/tmp/"]);
    assert_eq!(d.w(&["exec", "srv", "cat", "/tmp/cli-cp.txt"]), "copied\n");
    let back = d.dir.path().join("cli-back.txt");
    d.w(&["cp", "srv:/tmp/i", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "served\n");
    let exported = d.dir.path().join("cli-export.tar");
    d.w(&["export", "-o", exported.to_str().unwrap(), "srv"]);
    assert!(std::fs::metadata(&exported).unwrap().len() > 100_000);
    assert!(d.w(&["commit", "-c", "CMD [\"cat\", \"/tmp/i\"]", "srv", "cli-snap:1"]).starts_with("sha256:"));
    assert_eq!(d.w(&["run", "--rm", "cli-snap:1"]), "served\n");
    // Events with a time window and filters.
    let events =
        d.w(&["events", "--since", "5m", "--until", "0s", "--filter", "container=srv", "--format", "{{.Action}}"]);
    assert!(events.lines().take(2).eq(["create", "start"]), "{events}");
    // A killed daemon: the container keeps running and is found again.
    d.kill9();
    d.spawn();
    assert_eq!(d.w(&["ps", "--format", "{{.Names}}"]).trim(), "srv");
    d.w(&["rm", "-f", "srv"]);
    d.w(&["network", "rm", "cli-net"]);
    // Bad input: a message and a non-zero exit.
    for args in [
        &["rm", "nosuch"][..],
        &["logs", "nosuch"],
        &["run", "--rm", "nosuch:image"],
        &["network", "rm", "bridge"],
        &["ps", "--filter", "bogus=1"],
    ] {
        let out = d.wharf(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!out.stderr.is_empty(), "{args:?} gave no message");
    }
    assert!(d.w(&["completion", "bash"]).contains("wharf"));
    let df = d.w(&["system", "df"]);
    assert!(df.starts_with("TYPE") && df.contains("Local Volumes"), "{df}");
}

/// Dockerfile builds through the API: the docker CLI's classic builder and
/// `wharf build` (multi-stage, ARG/ENV substitution, COPY --from/--chown,
/// WORKDIR, USER, ENTRYPOINT/CMD, .dockerignore, failing steps).
#[test]
fn dockerfile_builds() {
    let d = Daemon::start();
    d.import_busybox();
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir_all(ctx.join("sub")).unwrap();
    std::fs::write(ctx.join("hello.txt"), "hello-file\n").unwrap();
    std::fs::write(ctx.join("sub/d.txt"), "deep\n").unwrap();
    std::fs::write(ctx.join("secret.key"), "nope\n").unwrap();
    std::fs::write(ctx.join(".dockerignore"), "*.key\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        r#"ARG BASE=busybox:local
FROM ${BASE} AS first
ARG GREETING=hi
ENV APP=/app
WORKDIR $APP
COPY hello.txt .
COPY sub ./sub/
RUN echo "$GREETING from build" > built.txt && ln built.txt hard.txt && cat hello.txt && ls /app
LABEL stage=first

FROM busybox:local
COPY --from=first /app /srv
RUN echo "bob:x:1000:1000::/home/bob:/bin/sh" >> /etc/passwd && mkdir -p /home/bob
COPY --chown=1000:1000 hello.txt /home/bob/
USER bob
ENTRYPOINT ["cat"]
CMD ["/srv/built.txt"]
"#,
    )
    .unwrap();
    let bin = if Path::new("/usr/local/bin/docker").exists() { "/usr/local/bin/docker" } else { "docker" };
    let out = Command::new(bin)
        .env("DOCKER_HOST", format!("unix://{}", d.sock().display()))
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-t", "built:1", "--build-arg", "GREETING=hey"])
        .arg(&ctx)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("Step 8/16 : RUN") && text.contains("hello-file") && text.contains("Successfully tagged built:1"),
        "{text}"
    );
    assert!(!text.contains("secret.key"), ".dockerignore applies: {text}");
    assert_eq!(d.ok(&["run", "--rm", "built:1"]), "hey from build\n");
    let probe = d.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        "built:1",
        "-c",
        "id -u; stat -c %u /home/bob/hello.txt; cat /srv/sub/d.txt; ls /srv",
    ]);
    assert_eq!(probe, "1000\n1000\ndeep\nbuilt.txt\nhard.txt\nhello.txt\nsub\n");
    // A second build of the same context comes from the cache (same image); --no-cache runs every step.
    let id1 = d.ok(&["image", "inspect", "-f", "{{.Id}}", "built:1"]);
    let again = d.w(&["build", "-t", "built:2", "--build-arg", "GREETING=hey", ctx.to_str().unwrap()]);
    assert!(again.contains("Using cache") && !again.contains("Running in"), "{again}");
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", "built:2"]), id1);
    let fresh = d.w(&["build", "--no-cache", "-t", "built:3", "--build-arg", "GREETING=hey", ctx.to_str().unwrap()]);
    assert!(!fresh.contains("Using cache") && fresh.contains("Running in"), "{fresh}");
    std::fs::write(ctx.join("hello.txt"), "changed\n").unwrap();
    let changed = d.w(&["build", "-t", "built:4", "--build-arg", "GREETING=hey", ctx.to_str().unwrap()]);
    assert!(changed.contains("Running in"), "a changed COPY source invalidates the cache: {changed}");
    std::fs::write(ctx.join("hello.txt"), "hello-file\n").unwrap();
    // The same with wharf's CLI, a target stage, and a label.
    d.w(&["build", "-q", "-t", "first:1", "--target", "first", "--label", "via=wharf", ctx.to_str().unwrap()]);
    assert_eq!(d.w(&["run", "--rm", "first:1", "cat", "built.txt"]), "hi from build\n");
    assert_eq!(
        d.w(&["inspect", "-f", "{{.Config.Labels.via}} {{.Config.WorkingDir}}", "first:1"]).trim(),
        "wharf /app"
    );
    // Failures: a failing RUN, a missing source, an unknown instruction.
    for (df, needle) in [
        ("FROM busybox:local\nRUN exit 3\n", "returned a non-zero code: 3"),
        ("FROM busybox:local\nCOPY nosuch /x\n", "nosuch"),
        ("FROM busybox:local\nFROBNICATE x\n", "unknown instruction"),
    ] {
        std::fs::write(ctx.join("Dockerfile.bad"), df).unwrap();
        let out = d.wharf(&["build", "-f", "Dockerfile.bad", ctx.to_str().unwrap()]);
        assert!(!out.status.success(), "{df}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{df}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(d.w(&["ps", "-aq"]).trim().is_empty(), "build containers are removed");
}

/// Wharf's CLI detaches as the docker CLI does: `--detach-keys` (or the
/// client config file's `detachKeys`) ends `run -i` and `exec -i`, exit 0,
/// and the container and the exec'd process keep running.
#[test]
fn wharf_cli_detach_keys() {
    use std::io::Write;
    let d = Daemon::start();
    d.import_busybox();
    // `ready`: the session is up and the process reads its input (state, not time).
    let session = |args: &[&str], input: &[u8], ready: &dyn Fn() -> bool, keys: &[u8], config: Option<&str>| {
        let dir = d.dir.path().join("client-config");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), config.unwrap_or("{}")).unwrap();
        let mut child = Command::new(support::WHARF)
            .arg("-H")
            .arg(format!("unix://{}", d.sock().display()))
            .args(args)
            .env("DOCKER_CONFIG", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while !ready() {
            assert!(Instant::now() < deadline, "{args:?}: the session did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        stdin.write_all(keys).unwrap();
        // stdin stays open: only the detach keys can end the session.
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "{args:?}: the detach keys did not end the session");
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(stdin);
        child.wait_with_output().unwrap()
    };
    let out = session(
        // Without a terminal a detach ends the container's input (StdinOnce, as Docker's): cat ends, sleep runs on.
        &["run", "-i", "--name", "c", "--detach-keys", "ctrl-a,x", "busybox:local", "sh", "-c", "cat; exec sleep 1000"],
        b"hello\n",
        &|| String::from_utf8_lossy(&d.docker(&["logs", "c"]).stdout).contains("hello"),
        b"\x01x",
        None,
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Running}}", "c"]).trim(), "true");
    // The config file's keys, for exec.
    let exec_runs = || String::from_utf8_lossy(&d.docker(&["top", "c"]).stdout).contains("echo never");
    let config = Some(r#"{"detachKeys": "ctrl-e"}"#);
    let out = session(&["exec", "-i", "c", "sh", "-c", "cat; echo never"], b"", &exec_runs, b"\x05", config);
    assert!(out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("never"), "{out:?}");
    let bad = d.wharf(&["run", "-i", "--detach-keys", "ctrl-1", "busybox:local", "true"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("detach keys"), "{bad:?}");
    d.ok(&["rm", "-f", "c"]);
}

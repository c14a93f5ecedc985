//! `wharf compose` through the binary (issue 13): the project's model as
//! `config` writes it, and bad input refused with file, line and path (no
//! daemon: loading is the client's own work); `up -d`, `ps`, `down -v`
//! against `wharf daemon`, checked with the docker CLI.

mod support;

#[path = "compose/contract.rs"]
mod contract;
#[path = "compose/interop.rs"]
mod interop;
#[path = "compose/lifecycle.rs"]
mod lifecycle;
#[path = "compose/local.rs"]
mod local;
#[path = "compose/watch.rs"]
mod watch;

use std::path::Path;
use std::process::{Command, Output};

use support::daemon::Daemon;

const WHARF: &str = env!("CARGO_BIN_EXE_wharf");

/// Waits for `child` to exit (killing it and failing after `secs`: `what` did not happen).
pub fn exit_within(child: &mut std::process::Child, secs: u64, what: &str) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub fn compose(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(WHARF);
    c.arg("compose").args(args).current_dir(dir);
    for v in ["TAG", "DB_PASSWORD", "COMPOSE_PROFILES", "COMPOSE_FILE", "COMPOSE_PROJECT_NAME"] {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    c.output().unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const APP: &str = r#"x-base: &base
  restart: unless-stopped
services:
  web:
    <<: *base
    image: "busybox:${TAG:-latest}"
    ports: ["8080:80"]
    depends_on: [db]
  db:
    image: busybox
    environment:
      - PASSWORD=${DB_PASSWORD}
  debug:
    image: busybox
    profiles: [dev]
volumes:
  data: {}
"#;

#[test]
fn config_renders_the_resolved_model() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("Shop.App");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("compose.yaml"), APP).unwrap();
    std::fs::write(dir.join("compose.override.yaml"), "services:\n  web:\n    ports: !override [\"9090:80\"]\n")
        .unwrap();
    std::fs::write(dir.join(".env"), "TAG=1.36\n").unwrap();
    // Found from a subdirectory, the override merged, .env read, the name from the directory.
    let out = compose(&dir.join("sub"), &["config", "--format", "json"], &[("DB_PASSWORD", "s3cret")]);
    let model: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(model["name"], "shopapp");
    assert_eq!(model["services"]["web"]["image"], "busybox:1.36");
    assert_eq!(model["services"]["web"]["restart"], "unless-stopped");
    assert_eq!(model["services"]["web"]["ports"], serde_json::json!(["9090:80"]));
    assert_eq!(model["services"]["web"]["depends_on"]["db"]["condition"], "service_started");
    assert_eq!(model["services"]["db"]["environment"]["PASSWORD"], "s3cret");
    assert!(model["services"].get("debug").is_none(), "a profile's service is off");
    // YAML by default, as the JSON.
    let yaml = stdout(&compose(&dir, &["-p", "other", "config"], &[]));
    assert!(yaml.starts_with("name: other\n"), "{yaml}");
    let unset = compose(&dir, &["config", "-q"], &[]);
    assert!(String::from_utf8_lossy(&unset.stderr).contains("\"DB_PASSWORD\" variable is not set"));
    assert_eq!(stdout(&compose(&dir, &["config", "--services"], &[])), "web\ndb\n");
    assert_eq!(stdout(&compose(&dir, &["--profile", "dev", "config", "--services"], &[])), "web\ndb\ndebug\n");
    assert_eq!(stdout(&compose(&dir, &["config", "--services"], &[("COMPOSE_PROFILES", "dev")])), "web\ndb\ndebug\n");
    assert_eq!(stdout(&compose(&dir, &["config", "--profiles"], &[])), "dev\n");
    assert_eq!(stdout(&compose(&dir, &["config", "--volumes"], &[])), "data\n");
    assert_eq!(stdout(&compose(&dir, &["config", "--services", "debug"], &[])), "debug\n");
    assert_eq!(stdout(&compose(&dir, &["config", "--services", "web"], &[])), "web\ndb\n");
}

#[test]
fn bad_input_names_file_line_and_path() {
    let d = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(d.path().join(name), text).unwrap();
    write("typo.yaml", "services:\n  web:\n    image: busybox\n    imagee: x\n");
    write("type.yaml", "services:\n  web:\n    image: busybox\n    ports: 80\n");
    write("yaml.yaml", "services:\n  web: [\n");
    write("dup.yaml", "services:\n  web:\n    image: a\n    image: b\n");
    write("need.yaml", "services:\n  web:\n    image: \"${IMAGE:?set IMAGE first}\"\n");
    write("undefined.yaml", "services:\n  web: {image: a, depends_on: [nope]}\n");
    write("cycle.yaml", "services:\n  a: {image: a, depends_on: [b]}\n  b: {image: b, depends_on: [a]}\n");
    let cases = [
        ("typo.yaml", "typo.yaml:4: services.web: Additional properties are not allowed ('imagee' was unexpected)"),
        ("type.yaml", "type.yaml:4: services.web.ports:"),
        ("yaml.yaml", "yaml.yaml:"),
        ("dup.yaml", "dup.yaml:4:"),
        ("need.yaml", "need.yaml:3: services.web.image: required variable IMAGE is missing a value: set IMAGE first"),
        ("undefined.yaml", "depends on undefined service \"nope\""),
        ("cycle.yaml", "dependency cycle detected: a -> b -> a"),
        ("missing.yaml", "missing.yaml: no such compose file"),
    ];
    for (file, want) in cases {
        let out = compose(d.path(), &["-f", file, "config"], &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{file}: {err}");
        assert!(out.stdout.is_empty(), "{file}: nothing printed on failure");
    }
    let none = compose(d.path(), &["config"], &[]);
    assert!(!none.status.success() && String::from_utf8_lossy(&none.stderr).contains("no configuration file provided"));
    let fmt = compose(d.path(), &["-f", "typo.yaml", "config", "--format", "toml"], &[]);
    assert!(!fmt.status.success() && String::from_utf8_lossy(&fmt.stderr).contains("toml"));
}

const SHOP: &str = r#"services:
  db:
    image: busybox:local
    command: sleep 1000
    stop_signal: SIGKILL
    healthcheck: {test: ["CMD", "true"], interval: 1s, retries: 5}
    volumes: ["data:/data"]
  migrate:
    image: busybox:local
    command: sh -c "echo migrated > /data/done"
    volumes: ["data:/data"]
    depends_on: {db: {condition: service_healthy}}
  web:
    image: busybox:local
    command: sleep 1000
    stop_signal: SIGKILL
    environment: [MODE=one]
    volumes: ["/cache"]
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
  worker:
    image: busybox:local
    command: sleep 1000
    stop_signal: SIGKILL
    scale: 2
volumes:
  data: {}
"#;

#[test]
fn up_ps_and_down_through_the_daemon() {
    let d = Daemon::start();
    d.import_busybox();
    let dir = d.dir.path().join("shop");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("compose.yaml");
    std::fs::write(&file, SHOP).unwrap();
    let f = file.display().to_string();
    let compose = |args: &[&str]| {
        let mut all = vec!["compose", "-f", &f, "-p", "shop"];
        all.extend_from_slice(args);
        d.wharf(&all)
    };
    let up = compose(&["up", "-d"]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let names = |all: bool| {
        let mut args = vec!["ps", "--format", "{{.Names}}"];
        if all {
            args.push("-a");
        }
        let mut n: Vec<String> = d.ok(&args).lines().map(str::to_string).collect();
        n.sort();
        n
    };
    assert_eq!(names(false), ["shop-db-1", "shop-web-1", "shop-worker-1", "shop-worker-2"]);
    assert_eq!(names(true).len(), 5, "the one-shot migrate exited");
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "shop-migrate-1"]).trim(), "0");
    assert_eq!(d.ok(&["exec", "shop-db-1", "cat", "/data/done"]).trim(), "migrated", "the named volume is shared");
    let labels = d.ok(&["inspect", "-f", "{{index .Config.Labels \"com.docker.compose.service\"}} {{index .Config.Labels \"com.docker.compose.container-number\"}}", "shop-worker-2"]);
    assert_eq!(labels.trim(), "worker 2");
    // Services resolve each other on the project's network.
    assert!(d.docker(&["exec", "shop-web-1", "ping", "-c", "1", "-W", "3", "db"]).status.success());
    let ps = String::from_utf8_lossy(&compose(&["ps"]).stdout).into_owned();
    assert!(ps.starts_with("NAME") && ps.contains("shop-web-1") && !ps.contains("shop-migrate-1"), "{ps}");
    // Again: nothing changes; then one service's change recreates only it.
    let id = |n: &str| d.ok(&["inspect", "-f", "{{.Id}}", n]);
    let (db, web) = (id("shop-db-1"), id("shop-web-1"));
    d.ok(&["exec", "shop-web-1", "sh", "-c", "echo kept > /cache/file"]);
    assert!(compose(&["up", "-d"]).status.success());
    assert_eq!((id("shop-db-1"), id("shop-web-1")), (db.clone(), web.clone()));
    std::fs::write(&file, SHOP.replace("MODE=one", "MODE=two")).unwrap();
    let again = compose(&["up", "-d"]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(id("shop-db-1"), db);
    assert_ne!(id("shop-web-1"), web);
    assert_eq!(d.ok(&["exec", "shop-web-1", "sh", "-c", "echo $MODE"]).trim(), "two");
    assert_eq!(d.ok(&["exec", "shop-web-1", "cat", "/cache/file"]).trim(), "kept", "the anonymous volume goes on");
    // down -v leaves nothing of the project.
    let down = compose(&["down", "-v"]);
    assert!(down.status.success(), "{}", String::from_utf8_lossy(&down.stderr));
    assert!(names(true).is_empty());
    assert!(!d.ok(&["network", "ls", "--format", "{{.Name}}"]).contains("shop_"));
    assert!(!d.ok(&["volume", "ls", "--format", "{{.Name}}"]).contains("shop_data"));
    // Nothing of the sandboxes is left: network namespaces, mounts of the data root.
    let netns = std::fs::read_dir(d.dir.path().join("exec/netns")).map(|r| r.count()).unwrap_or(0);
    assert_eq!(netns, 0, "network namespaces left");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&d.data().display().to_string()), "mounts left under the data root");
}

#[test]
fn docker_compose_runs_wharf_as_a_cli_plugin_and_by_that_name() {
    let cfg = tempfile::tempdir().unwrap();
    let plugins = cfg.path().join("cli-plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let plugin = plugins.join("docker-compose");
    std::os::unix::fs::symlink(WHARF, &plugin).unwrap();
    let meta = Command::new(&plugin).arg("docker-cli-plugin-metadata").output().unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    assert_eq!((meta["SchemaVersion"].as_str(), meta["Vendor"].as_str()), (Some("0.1.0"), Some("Wharf")));
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("compose.yaml"), APP).unwrap();
    let docker = ["/usr/local/bin/docker", "/usr/bin/docker"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("the docker CLI");
    let through_docker = Command::new(docker)
        .env("DOCKER_CONFIG", cfg.path())
        .args(["compose", "-p", "plug", "config", "--services"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(stdout(&through_docker), "web\ndb\n");
    let version = Command::new(docker).env("DOCKER_CONFIG", cfg.path()).args(["compose", "--help"]).output().unwrap();
    assert!(version.status.success(), "{}", String::from_utf8_lossy(&version.stderr));
    // Run by its name, as the standalone docker-compose.
    let standalone =
        Command::new(&plugin).args(["-p", "plug", "config", "--services"]).current_dir(d.path()).output().unwrap();
    assert_eq!(stdout(&standalone), "web\ndb\n");
}

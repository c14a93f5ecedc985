//! The same file run with `wharf compose` and with Debian's docker-compose
//! 1.29 on one `wharf daemon`: the same containers (service, replica,
//! image, command, environment, mounts, network and aliases), networks,
//! volumes and outputs; and each tool sees, and takes down, the project
//! the other one started.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use serde_json::Value;

use super::support::daemon::Daemon;

const FILE: &str = r#"version: "3.8"
services:
  db:
    image: busybox:local
    command: sh -c 'echo db says $$ROLE; exec sleep 1000'
    stop_signal: SIGKILL
    environment: [ROLE=primary]
    volumes: ["data:/data"]
  web:
    image: busybox:local
    command: sh -c 'ping -c 1 -W 3 db >/dev/null && echo web reached db; exec sleep 1000'
    stop_signal: SIGKILL
    depends_on: [db]
    labels: {tier: front}
    networks:
      default:
        aliases: [www]
volumes:
  data: {}
"#;

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What a project's containers are, without the names and ids that differ.
fn shape(d: &Daemon, project: &str) -> BTreeMap<String, Value> {
    let ids = d.ok(&["ps", "-aq", "--filter", &format!("label=com.docker.compose.project={project}")]);
    let mut out = BTreeMap::new();
    for id in ids.split_whitespace() {
        let v: Value = serde_json::from_str(&d.ok(&["inspect", id])).unwrap();
        let c = &v[0];
        let l = &c["Config"]["Labels"];
        let key = format!(
            "{}#{}",
            l["com.docker.compose.service"].as_str().unwrap(),
            l["com.docker.compose.container-number"].as_str().unwrap()
        );
        let mut env: Vec<String> =
            c["Config"]["Env"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect();
        env.retain(|e| !e.starts_with("PATH=") && !e.starts_with("HOSTNAME="));
        let nets = c["NetworkSettings"]["Networks"].as_object().unwrap();
        let (net, ep) = nets.iter().next().unwrap();
        let mut aliases: Vec<String> = ep["Aliases"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str())
                    .filter(|x| {
                        // The short id Docker adds (an alias such as `db` may also begin an id: 1 in 256).
                        !(x.len() == 12 && c["Id"].as_str().unwrap().starts_with(x))
                            && c["Name"].as_str() != Some(&format!("/{x}"))
                    })
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        aliases.sort();
        let mounts: Vec<String> = c["Mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}:{}",
                    m["Name"].as_str().unwrap_or("").replacen(project, "P", 1),
                    m["Destination"].as_str().unwrap()
                )
            })
            .collect();
        out.insert(
            key,
            serde_json::json!({
                "image": c["Config"]["Image"], "cmd": c["Config"]["Cmd"], "env": env,
                "state": c["State"]["Status"], "tier": l["tier"], "mounts": mounts,
                "network": net.replacen(project, "P", 1), "aliases": aliases,
                "logs": d.ok(&["logs", id]),
            }),
        );
    }
    out
}

fn names(d: &Daemon, what: &str, project: &str) -> Vec<String> {
    let mut n: Vec<String> = d
        .ok(&[what, "ls", "--format", "{{.Name}}", "--filter", &format!("label=com.docker.compose.project={project}")])
        .split_whitespace()
        .map(|s| s.replacen(project, "P", 1))
        .collect();
    n.sort();
    n
}

#[test]
fn the_same_file_with_wharf_compose_and_docker_compose_gives_the_same_project() {
    let d = Daemon::start();
    d.import_busybox();
    let dir = d.dir.path().join("proj");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("compose.yaml"), FILE).unwrap();
    let f = dir.join("compose.yaml").display().to_string();
    let host = format!("unix://{}", d.sock().display());
    let dc = |args: &[&str]| {
        Command::new("docker-compose")
            .env("DOCKER_HOST", &host)
            .args(["--no-ansi", "-f", &f])
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let wc = |args: &[&str]| {
        let mut all = vec!["compose", "-f", &f];
        all.extend_from_slice(args);
        d.wharf(&all)
    };
    ok(dc(&["-p", "theirs", "up", "-d"]));
    ok(wc(&["-p", "ours", "up", "-d"]));
    // Both projects' outputs are there once web has reached db.
    for p in ["theirs", "ours"] {
        let sep = if p == "theirs" { "_" } else { "-" };
        let web = format!("{p}{sep}web{sep}1");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !d.ok(&["logs", &web]).contains("web reached db") {
            assert!(std::time::Instant::now() < deadline, "{web} never reached db: {}", d.ok(&["logs", &web]));
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let (theirs, ours) = (shape(&d, "theirs"), shape(&d, "ours"));
    assert_eq!(theirs.keys().collect::<Vec<_>>(), ["db#1", "web#1"]);
    assert_eq!(theirs, ours);
    assert_eq!(names(&d, "network", "theirs"), names(&d, "network", "ours"));
    assert_eq!(names(&d, "volume", "theirs"), ["P_data"]);
    assert_eq!(names(&d, "volume", "ours"), ["P_data"]);
    // Each tool sees the other's project...
    let ps = ok(wc(&["-p", "theirs", "ps"]));
    assert!(ps.contains("theirs_web_1") && ps.contains("theirs_db_1"), "{ps}");
    let ps = ok(dc(&["-p", "ours", "ps"]));
    assert!(ps.contains("ours-web-1") && ps.contains("ours-db-1"), "{ps}");
    // ...and takes it down whole.
    ok(wc(&["-p", "theirs", "down", "-v"]));
    ok(dc(&["-p", "ours", "down", "-v"]));
    assert!(d.ok(&["ps", "-aq"]).trim().is_empty());
    for p in ["theirs", "ours"] {
        assert!(names(&d, "network", p).is_empty() && names(&d, "volume", p).is_empty(), "{p} left something");
    }
}

//! `up` and `down` on the fake backend: order, idempotence, recreation of
//! exactly what changed, scale, dependency conditions, orphans, `down -v`,
//! and preflight refusals that create nothing.

use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::backend::fake::FakeBackend;
use crate::convert::{self, Cx};
use crate::merge;
use crate::ops::{down, DownOptions};
use crate::yaml::parse;

struct Run {
    model: Node,
    volumes: Vec<(String, String)>,
    files: Vec<String>,
}

fn none(_: &str) -> Option<String> {
    None
}

impl Run {
    fn new(text: &str) -> Run {
        let mut model = parse(text).unwrap();
        merge::normalize(&mut model);
        let volumes = convert::volume_names("shop", &model);
        Run { model, volumes, files: vec!["/app/compose.yaml".into()] }
    }

    fn plan(&self) -> Plan<'_> {
        Plan {
            project: "shop",
            model: &self.model,
            cx: Cx { project: "shop", lookup: &none, files: &self.files, directory: "/app", volumes: &self.volumes },
            known: &[],
        }
    }

    fn up(&self, b: &FakeBackend, opts: &UpOptions) -> Result<Vec<String>> {
        let seen = Mutex::new(Vec::new());
        up(&self.plan(), b, opts, &|k, n, s| seen.lock().unwrap().push(format!("{k} {n} {s}")))?;
        Ok(seen.into_inner().unwrap())
    }

    fn down(&self, b: &FakeBackend, opts: &DownOptions) -> Result<()> {
        down(&self.plan(), b, opts, &|_, _, _| {})
    }
}

const APP: &str = "services:\n  web: {image: web, depends_on: [db], ports: ['8080:80'], networks: [front, back]}\n  db: {image: db, volumes: ['data:/var/lib/db'], networks: [back]}\n  worker: {image: web, scale: 2}\nnetworks: {front: {}, back: {}}\nvolumes: {data: {}}\n";

#[test]
fn up_makes_the_project_in_order_and_is_idempotent() {
    let b = FakeBackend::new(&["web", "db"]);
    let r = Run::new(APP);
    r.up(&b, &UpOptions::default()).unwrap();
    let calls = b.calls();
    let pos = |c: &str| calls.iter().position(|x| x == c).unwrap_or_else(|| panic!("{c} not in {calls:?}"));
    assert!(pos("network create shop_front") < pos("create shop-web-1"));
    assert!(pos("volume create shop_data") < pos("create shop-db-1"));
    assert!(pos("start shop-db-1") < pos("create shop-web-1"), "web after what it depends on");
    assert!(calls.contains(&"network create shop_default".to_string()), "worker is on the default network");
    let web_id = b.containers_now().iter().find(|c| c.name == "shop-web-1").unwrap().id.clone();
    assert!(calls.contains(&format!("connect shop_back {web_id}")), "{calls:?}");
    let names: Vec<String> = b.containers_now().iter().map(|c| c.name.clone()).collect();
    assert_eq!(names.len(), 4);
    assert!(names.contains(&"shop-worker-2".to_string()));
    let web = b.containers_now().into_iter().find(|c| c.name == "shop-web-1").unwrap();
    assert_eq!(web.networks[0], ("shop_front".to_string(), vec!["web".to_string()]));
    assert_eq!(web.body["HostConfig"]["NetworkMode"], "shop_front");
    // Again: nothing is created or started.
    b.clear_calls();
    let seen = r.up(&b, &UpOptions::default()).unwrap();
    assert!(b.calls().is_empty(), "{:?}", b.calls());
    assert!(seen.iter().all(|s| s.ends_with("Running")), "{seen:?}");
}

#[test]
fn a_change_recreates_exactly_that_service_and_scale_follows() {
    let b = FakeBackend::new(&["web", "db"]);
    Run::new(APP).up(&b, &UpOptions::default()).unwrap();
    let db_id = b.containers_now().into_iter().find(|c| c.name == "shop-db-1").unwrap().id;
    let web_id = b.containers_now().into_iter().find(|c| c.name == "shop-web-1").unwrap().id;
    b.clear_calls();
    let changed = APP
        .replace("web: {image: web, depends_on", "web: {image: web, environment: [A=1], depends_on")
        .replace("scale: 2", "scale: 1");
    Run::new(&changed).up(&b, &UpOptions::default()).unwrap();
    let calls = b.calls();
    // As Compose: stopped, replaced under a temporary name, removed, and the new one renamed.
    let temporary = format!("{}_shop-web-1", &web_id[..12]);
    let order = [
        "stop shop-web-1".to_string(),
        format!("create {temporary}"),
        "rm shop-web-1".to_string(),
        format!("rename {temporary} shop-web-1"),
        "start shop-web-1".to_string(),
    ];
    let at: Vec<usize> =
        order.iter().map(|c| calls.iter().position(|x| x == c).unwrap_or_else(|| panic!("{c}: {calls:?}"))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{calls:?}");
    let web = b.containers_now().into_iter().find(|c| c.name == "shop-web-1").unwrap();
    assert_eq!(web.body["Labels"]["com.docker.compose.replace"], web_id.as_str());
    assert!(calls.contains(&"rm shop-worker-2".to_string()), "scaled down: {calls:?}");
    assert!(!calls.iter().any(|c| c.contains("shop-db-1") || c.contains("shop-worker-1")), "{calls:?}");
    assert!(b.containers_now().iter().any(|c| c.id == db_id), "db kept");
    b.clear_calls();
    Run::new(&changed).up(&b, &UpOptions { force_recreate: true, ..Default::default() }).unwrap();
    assert!(b.calls().contains(&format!("rename {}_shop-db-1 shop-db-1", &db_id[..12])), "{:?}", b.calls());
}

#[test]
fn a_failed_recreate_keeps_the_old_container() {
    let text = "services:
  web: {image: web, environment: [V=1], volumes: ['/cache']}
";
    let b = FakeBackend::new(&["web"]);
    Run::new(text).up(&b, &UpOptions::default()).unwrap();
    let old = b.containers_now().pop().unwrap();
    b.refuse_create("web");
    let e = Run::new(&text.replace("V=1", "V=2")).up(&b, &UpOptions::default()).unwrap_err();
    assert!(e.to_string().contains("cannot create"), "{e}");
    let now = b.containers_now();
    assert_eq!(now.len(), 1, "{now:?}");
    assert_eq!((now[0].id.as_str(), now[0].name.as_str()), (old.id.as_str(), "shop-web-1"));
    assert_eq!(now[0].volumes, old.volumes, "its volumes with it");
}

#[test]
fn dependency_conditions_are_waited_for() {
    let text = "services:\n  db: {image: db, healthcheck: {test: 'true'}}\n  migrate: {image: db}\n  web:\n    image: web\n    depends_on:\n      db: {condition: service_healthy}\n      migrate: {condition: service_completed_successfully}\n";
    let b = FakeBackend::new(&["web", "db"]);
    b.set_health("db", "healthy");
    b.set_exit("migrate", 0);
    Run::new(text).up(&b, &UpOptions::default()).unwrap();
    assert!(b.containers_now().iter().any(|c| c.name == "shop-web-1"));
    let b = FakeBackend::new(&["web", "db"]);
    b.set_health("db", "unhealthy");
    let e = Run::new(text).up(&b, &UpOptions::default()).unwrap_err();
    assert!(e.to_string().contains("shop-db-1 is unhealthy"), "{e}");
    assert!(!b.containers_now().iter().any(|c| c.name == "shop-web-1"), "web is not made");
    let b = FakeBackend::new(&["web", "db"]);
    b.set_health("db", "healthy");
    b.set_exit("migrate", 3);
    let e = Run::new(text).up(&b, &UpOptions::default()).unwrap_err();
    assert!(e.to_string().contains("\"migrate\" didn't complete successfully: exit 3"), "{e}");
}

#[test]
fn preflight_refusals_create_nothing() {
    let cases = [
        ("services:\n  web: {image: web, networks: [nowhere]}\n", "undefined network nowhere"),
        (
            "services:\n  web: {image: web, networks: [ext]}\nnetworks: {ext: {external: true}}\n",
            "declared as external",
        ),
        ("services:\n  web: {image: web}\nvolumes: {v: {external: true}}\n", "external volume"),
        ("services:\n  ok: {image: web}\n  web: {image: missing}\n", "pull access denied for missing"),
        ("services:\n  ok: {image: web}\n  web: {image: web, blkio_config: {weight: 1}}\n", "blkio_config"),
        ("services:\n  web: {image: web, networks: {n: {priority: 5}}}\nnetworks: {n: {}}\n", "services.web.networks.n.priority"),
        ("services:\n  web: {image: web}\nnetworks: {n: {ipam: {config: [{subnet: 10.9.0.0/24, aux_addresses: {a: 10.9.0.5}}]}}}\n", "networks.n.ipam.config[0].aux_addresses"),
        ("services:\n  web: {image: web}\nvolumes: {v: {x-custom: 1, driver: local, unknown_key: 2}}\n", "volumes.v.unknown_key"),
        ("services:\n  web: {image: web}\nnetworks: {n: {enable_ipv4: false}}\n", "networks.n.enable_ipv4"),
        ("services:\n  web: {image: web, secrets: [nope]}\n", "undefined secret \"nope\""),
        ("services:\n  web: {image: web, secrets: [s]}\nsecrets: {s: {external: true}}\n", "secrets.s.external"),
        ("services:\n  web: {image: web, secrets: [{source: s, uid: '7'}]}\nsecrets: {s: {file: /x}}\n", "services.web.secrets[0].uid"),
        ("services:\n  web: {image: web, configs: [c]}\nconfigs: {c: {environment: UNSET_VAR}}\n", "UNSET_VAR is not set"),
        ("services:\n  web: {image: web, configs: [c]}\nconfigs: {c: {content: x, template_driver: golang}}\n", "configs.c.template_driver"),
    ];
    for (text, want) in cases {
        let b = FakeBackend::new(&["web"]);
        let e = Run::new(text).up(&b, &UpOptions::default()).unwrap_err();
        assert!(e.to_string().contains(want), "{text}: {e}");
        assert!(b.containers_now().is_empty() && b.network_names().is_empty() && b.volume_names().is_empty(), "{text}");
    }
}

#[test]
fn down_removes_in_reverse_order_and_volumes_with_v() {
    let b = FakeBackend::new(&["web", "db"]);
    let r = Run::new(APP);
    r.up(&b, &UpOptions::default()).unwrap();
    b.clear_calls();
    r.down(&b, &DownOptions::default()).unwrap();
    let calls = b.calls();
    let pos = |c: &str| calls.iter().position(|x| x == c).unwrap();
    assert!(pos("stop shop-web-1") < pos("stop shop-db-1"), "{calls:?}");
    assert!(b.containers_now().is_empty() && b.network_names().is_empty());
    assert_eq!(b.volume_names(), ["shop_data"], "volumes stay without -v");
    r.up(&b, &UpOptions::default()).unwrap();
    r.down(&b, &DownOptions { volumes: true, ..Default::default() }).unwrap();
    assert!(b.volume_names().is_empty());
}

#[test]
fn orphans_are_reported_or_removed() {
    let b = FakeBackend::new(&["web", "db"]);
    Run::new(APP).up(&b, &UpOptions::default()).unwrap();
    let smaller = Run::new("services:\n  db: {image: db}\n");
    let seen = smaller.up(&b, &UpOptions::default()).unwrap();
    assert!(seen.iter().any(|s| s.contains("shop-web-1 Found orphan")), "{seen:?}");
    assert!(b.containers_now().iter().any(|c| c.name == "shop-web-1"));
    smaller.up(&b, &UpOptions { remove_orphans: true, ..Default::default() }).unwrap();
    assert!(!b.containers_now().iter().any(|c| c.name.starts_with("shop-web") || c.name.starts_with("shop-worker")));
}

#[test]
fn options_pick_services_scale_and_creation_only() {
    let b = FakeBackend::new(&["web", "db"]);
    let r = Run::new(APP);
    // --no-deps web: web alone, its dependency not made.
    r.up(&b, &UpOptions { only: Some(vec!["web".into()]), ..Default::default() }).unwrap();
    let names: Vec<String> = b.containers_now().iter().map(|c| c.name.clone()).collect();
    assert_eq!(names, ["shop-web-1"]);
    let e = r.up(&b, &UpOptions { only: Some(vec!["nope".into()]), ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("no such service: nope"), "{e}");
    // --scale over `scale`; create makes without starting.
    let b = FakeBackend::new(&["web", "db"]);
    let opts = UpOptions { scale: vec![("worker".into(), 3)], no_start: true, ..Default::default() };
    r.up(&b, &opts).unwrap();
    let now = b.containers_now();
    assert_eq!(now.iter().filter(|c| c.name.starts_with("shop-worker-")).count(), 3);
    assert!(now.iter().all(|c| c.state == "created"), "{now:?}");
    assert!(!b.calls().iter().any(|c| c.starts_with("start")));
    let e = r.up(&b, &UpOptions { scale: vec![("ghost".into(), 1)], ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("--scale: no such service: ghost"), "{e}");
}

#[test]
fn images_are_built_or_pulled_as_policies_say() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let text = format!(
        "services:\n  app: {{build: {{context: {0}, args: {{V: '1'}}, tags: ['app:extra']}}}}\n  named: {{image: mine, build: {0}}}\n",
        dir.path().display()
    );
    let b = FakeBackend::new(&[]);
    let r = Run::new(&text);
    r.up(&b, &UpOptions::default()).unwrap();
    assert!(b.calls().contains(&"build shop-app,app:extra".to_string()), "{:?}", b.calls());
    assert!(b.calls().contains(&"build mine".to_string()));
    let app = b.containers_now().into_iter().find(|c| c.name == "shop-app-1").unwrap();
    assert_eq!(app.body["Image"], "shop-app");
    // Built images are kept: no rebuild, unless --build.
    b.clear_calls();
    r.up(&b, &UpOptions::default()).unwrap();
    assert!(!b.calls().iter().any(|c| c.starts_with("build")), "{:?}", b.calls());
    r.up(&b, &UpOptions { build: BuildPolicy::Always, ..Default::default() }).unwrap();
    assert!(b.calls().iter().any(|c| c.starts_with("build")));
    // --no-build with the image missing, pull_policy never/unknown, a build key not honoured.
    let cases = [
        (text.as_str(), BuildPolicy::Never, "--no-build"),
        ("services:\n  a: {image: gone, pull_policy: never}\n", BuildPolicy::Missing, "pull_policy is never"),
        ("services:\n  a: {image: web, pull_policy: daily}\n", BuildPolicy::Missing, "services.a.pull_policy"),
        ("services:\n  a: {build: {context: ., ssh: [default]}}\n", BuildPolicy::Missing, "services.a.build.ssh"),
    ];
    for (text, build, want) in cases {
        let b = FakeBackend::new(&["web"]);
        let e = Run::new(text).up(&b, &UpOptions { build, ..Default::default() }).unwrap_err();
        assert!(e.to_string().contains(want), "{text}: {e}");
        assert!(b.containers_now().is_empty() && b.network_names().is_empty(), "{text}");
    }
    // pull_policy always pulls an image that is there.
    let b = FakeBackend::new(&["web"]);
    let e = Run::new("services:\n  a: {image: web, pull_policy: always}\n").up(&b, &UpOptions::default()).unwrap_err();
    assert!(b.calls().contains(&"pull web".to_string()), "{e}");
}

#[test]
fn additional_contexts_are_passed_and_service_images_built_first() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM base\n").unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    let d = dir.path().display();
    // `web` comes first in the file but takes `base`'s image: base is built first.
    let text = format!(
        "services:\n  web: {{build: {{context: {d}, additional_contexts: {{base: 'service:base', src: {d}/src, img: 'docker-image://busybox'}}}}}}\n  base: {{build: {d}}}\n"
    );
    let b = FakeBackend::new(&["busybox"]);
    let r = Run::new(&text);
    r.up(&b, &UpOptions::default()).unwrap();
    let builds: Vec<String> = b.calls().into_iter().filter(|c| c.starts_with("build")).collect();
    assert_eq!(builds, ["build shop-base", "build shop-web"]);
    let spec =
        super::build_spec(&r.plan(), "web", r.model.get("services").unwrap().get("web").unwrap()).unwrap().unwrap();
    assert_eq!(
        spec.contexts,
        [
            ("base".to_string(), "docker-image://shop-base".to_string()),
            ("src".to_string(), format!("{d}/src")),
            ("img".to_string(), "docker-image://busybox".to_string())
        ]
    );
    assert_eq!(spec.needs, ["base"]);
    // `up web` alone builds the missing image it takes too.
    let b = FakeBackend::new(&["busybox"]);
    r.up(&b, &UpOptions { only: Some(vec!["web".into()]), ..Default::default() }).unwrap();
    assert!(b.calls().contains(&"build shop-base".to_string()), "{:?}", b.calls());
    // A cycle, an unknown service, a remote context, an empty value: refused, nothing made.
    let cases = [
        (format!("services:\n  a: {{build: {{context: {d}, additional_contexts: [x=service:b]}}}}\n  b: {{build: {{context: {d}, additional_contexts: [y=service:a]}}}}\n"), "cycle: a -> b -> a"),
        (format!("services:\n  a: {{build: {{context: {d}, additional_contexts: {{x: 'service:ghost'}}}}}}\n"), "service:ghost names no service"),
        (format!("services:\n  a: {{build: {{context: {d}, additional_contexts: {{x: 'https://h/r.git'}}}}}}\n"), "services.a.build.additional_contexts.x"),
        (format!("services:\n  a: {{build: {{context: {d}, additional_contexts: [x]}}}}\n"), "needs a value"),
    ];
    for (text, want) in cases {
        // Also with the images there (a cycle is one all the same).
        for images in [&[][..], &["shop-a", "shop-b"][..]] {
            let b = FakeBackend::new(images);
            let e =
                Run::new(&text).up(&b, &UpOptions { build: BuildPolicy::Always, ..Default::default() }).unwrap_err();
            assert!(e.to_string().contains(want), "{text}: {e}");
            assert!(b.containers_now().is_empty() && !b.calls().iter().any(|c| c.starts_with("build")), "{text}");
        }
    }
    let twice = format!("services:\n  a: {{build: {{context: {d}, additional_contexts: [x=., x=/]}}}}\n");
    let e = Run::new(&twice).up(&FakeBackend::new(&[]), &UpOptions::default()).unwrap_err();
    assert!(e.to_string().contains("named twice"), "{e}");
}

#[test]
fn wait_reports_ready_exited_unhealthy_and_timeout() {
    let text = "services:\n  db: {image: db, healthcheck: {test: 'true'}}\n  web: {image: web}\n";
    let r = Run::new(text);
    let all = vec!["db".to_string(), "web".to_string()];
    let b = FakeBackend::new(&["web", "db"]);
    b.set_health("db", "healthy");
    r.up(&b, &UpOptions::default()).unwrap();
    wait::ready(&r.plan(), &b, &all, None).unwrap();
    let b = FakeBackend::new(&["web", "db"]);
    b.set_health("db", "unhealthy");
    r.up(&b, &UpOptions::default()).unwrap();
    let e = wait::ready(&r.plan(), &b, &all, None).unwrap_err();
    assert!(e.to_string().contains("shop-db-1 is unhealthy"), "{e}");
    let b = FakeBackend::new(&["web", "db"]);
    r.up(&b, &UpOptions::default()).unwrap();
    let e = wait::ready(&r.plan(), &b, &all, Some(Duration::from_millis(300))).unwrap_err();
    assert!(e.to_string().contains("timeout waiting for shop-db-1"), "{e}");
    let b = FakeBackend::new(&["web", "db"]);
    b.set_health("db", "healthy");
    b.set_exit("web", 2);
    r.up(&b, &UpOptions::default()).unwrap();
    let e = wait::ready(&r.plan(), &b, &all, None).unwrap_err();
    assert!(e.to_string().contains("shop-web-1 exited (2)"), "{e}");
}

#[test]
fn one_off_containers_are_labelled_and_unpublished() {
    let r = Run::new(APP);
    let b = FakeBackend::new(&["web", "db"]);
    let plan = r.plan();
    let svc = plan.service("web").unwrap();
    let o = OneOff {
        command: vec!["sh".into(), "-c".into(), "echo hi".into()],
        env: vec!["A=1".into()],
        remove: true,
        slug: "0123456789abcdef".repeat(4),
        ..Default::default()
    };
    let (name, _) = one_off_body(&plan, &b, "web", svc, &o).unwrap();
    assert_eq!(name, "shop-web-run-0123456789ab");
    let c = b.containers_now().pop().unwrap();
    assert_eq!(c.body["Labels"]["com.docker.compose.oneoff"], "True");
    assert_eq!(c.body["Cmd"], serde_json::json!(["sh", "-c", "echo hi"]));
    assert!(c.body["HostConfig"].get("PortBindings").is_none(), "ports only with --service-ports");
    assert_eq!(c.body["HostConfig"]["AutoRemove"], true);
    assert!(c.body["Env"].as_array().unwrap().contains(&serde_json::json!("A=1")));
    // A one-off is neither an orphan nor a replica.
    let seen = r.up(&b, &UpOptions::default()).unwrap();
    assert!(!seen.iter().any(|s| s.contains("run-") && (s.contains("orphan") || s.contains("Removed"))), "{seen:?}");
    let o = OneOff { service_ports: true, slug: "f".repeat(64), ..Default::default() };
    one_off_body(&plan, &b, "web", svc, &o).unwrap();
    let c = b.containers_now().pop().unwrap();
    assert!(c.body["HostConfig"].get("PortBindings").is_some());
}

#[test]
fn secrets_and_configs_become_files() {
    let text = "services:\n  web:\n    image: web\n    secrets: [token, {source: key, target: api.key, mode: 0400, uid: '100'}]\n    configs: [{source: conf, target: /etc/app.conf}, plain]\nsecrets:\n  token: {file: /srv/token}\n  key: {content: unused, environment: HOME_KEY}\nconfigs:\n  conf: {content: \"level=debug\\n\"}\n  plain: {file: /srv/plain}\n";
    // `content` is a config's, not a secret's.
    let b = FakeBackend::new(&["web"]);
    let e = Run::new(text).up(&b, &UpOptions::default()).unwrap_err();
    assert!(e.to_string().contains("secrets.key.content"), "{e}");
    let text = text.replace("content: unused, ", "");
    let mut model = parse(&text).unwrap();
    merge::normalize(&mut model);
    let lookup = |n: &str| (n == "HOME_KEY").then(|| "k3y".to_string());
    let files = vec![];
    let plan = Plan {
        project: "shop",
        model: &model,
        cx: Cx { project: "shop", lookup: &lookup, files: &files, directory: "/app", volumes: &[] },
        known: &[],
    };
    up(&plan, &b, &UpOptions::default(), &|_, _, _| {}).unwrap();
    let web = b.containers_now().pop().unwrap();
    let mounts = web.body["HostConfig"]["Mounts"].as_array().unwrap_or_else(|| panic!("{}", web.body));
    let bind =
        |src: &str, dst: &str| serde_json::json!({"Type": "bind", "Source": src, "Target": dst, "ReadOnly": true});
    assert!(mounts.contains(&bind("/srv/token", "/run/secrets/token")), "{mounts:?}");
    assert!(mounts.contains(&bind("/srv/plain", "/plain")), "{mounts:?}");
    let got: Vec<(String, String, u32, u32)> = web
        .files
        .iter()
        .map(|f| (f.path.clone(), String::from_utf8_lossy(&f.content).into_owned(), f.uid, f.mode))
        .collect();
    assert_eq!(
        got,
        [
            ("/run/secrets/api.key".into(), "k3y".into(), 100, 0o400),
            ("/etc/app.conf".into(), "level=debug\n".into(), 0, 0o444)
        ]
    );
    let calls = b.calls();
    let pos = |c: &str| calls.iter().position(|x| x == c).unwrap_or_else(|| panic!("{c}: {calls:?}"));
    assert!(pos("inject shop-web-1 /etc/app.conf") < pos("start shop-web-1"), "written before start");
}

#[test]
fn a_dependency_with_restart_true_restarts_its_dependant() {
    let text = "services:\n  db: {image: db, environment: [V=1]}\n  web: {image: web, depends_on: {db: {condition: service_started, restart: true}}}\n  other: {image: web, depends_on: [db]}\n";
    let b = FakeBackend::new(&["web", "db"]);
    Run::new(text).up(&b, &UpOptions::default()).unwrap();
    b.clear_calls();
    let changed = Run::new(&text.replace("V=1", "V=2"));
    changed.up(&b, &UpOptions::default()).unwrap();
    let calls = b.calls();
    let pos = |c: &str| calls.iter().position(|x| x == c).unwrap_or_else(|| panic!("{c}: {calls:?}"));
    assert!(pos("start shop-db-1") < pos("stop shop-web-1") && pos("stop shop-web-1") < pos("start shop-web-1"));
    assert!(!calls.iter().any(|c| c.contains("shop-other-1")), "without restart: true, untouched: {calls:?}");
    // `restart db` takes web along, not other.
    b.clear_calls();
    let plan = changed.plan();
    crate::ops::act(&plan, &b, &["db".into()], &crate::ops::Verb::Restart { timeout: None }, &|_, _, _| {}).unwrap();
    let calls = b.calls();
    assert!(
        calls.contains(&"start shop-web-1".to_string()) && calls.contains(&"start shop-db-1".to_string()),
        "{calls:?}"
    );
    assert!(!calls.iter().any(|c| c.contains("shop-other-1")), "{calls:?}");
}

#[test]
fn a_recreated_container_keeps_its_anonymous_volumes() {
    let text =
        "services:\n  web: {image: web, environment: [V=1], volumes: ['/cache', 'data:/named']}\nvolumes: {data: {}}\n";
    let b = FakeBackend::new(&["web"]);
    Run::new(text).up(&b, &UpOptions::default()).unwrap();
    let old = b.containers_now().pop().unwrap();
    let anon = old.volumes.iter().find(|(_, d)| d == "/cache").unwrap().0.clone();
    Run::new(&text.replace("V=1", "V=2")).up(&b, &UpOptions::default()).unwrap();
    let new = b.containers_now().pop().unwrap();
    assert_ne!(new.id, old.id, "recreated");
    let mounts = new.body["HostConfig"]["Mounts"].as_array().unwrap();
    let at = |t: &str| mounts.iter().find(|m| m["Target"] == t).unwrap()["Source"].clone();
    assert_eq!(at("/cache"), serde_json::json!(anon));
    assert_eq!(at("/named"), "shop_data");
}

#[test]
fn a_new_image_or_a_recreated_namespace_owner_recreates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let text = format!(
        "services:\n  app: {{build: {}, environment: [V=1]}}\n  side: {{image: web, network_mode: 'service:app'}}\n  other: {{image: web}}\n",
        dir.path().display()
    );
    let b = FakeBackend::new(&["web"]);
    let r = Run::new(&text);
    r.up(&b, &UpOptions::default()).unwrap();
    b.clear_calls();
    // The same configuration, a rebuilt image: app is recreated, and side with it (it is in app's namespace).
    let seen = r.up(&b, &UpOptions { build: BuildPolicy::Always, ..Default::default() }).unwrap();
    let calls = b.calls();
    assert!(seen.contains(&"Container shop-app-1 Recreate".to_string()), "{seen:?}");
    for c in ["rm shop-app-1", "rename ", "rm shop-side-1"] {
        assert!(calls.iter().any(|x| x.starts_with(c)), "{c}: {calls:?}");
    }
    for c in ["shop-app-1", "shop-side-1"] {
        assert!(calls.iter().any(|x| x.starts_with("rename ") && x.ends_with(&format!("_{c} {c}"))), "{c}: {calls:?}");
    }
    assert!(!calls.iter().any(|c| c.contains("shop-other-1")), "{calls:?}");
    b.clear_calls();
    r.up(&b, &UpOptions::default()).unwrap();
    assert!(!b.calls().iter().any(|c| c.starts_with("create")), "{:?}", b.calls());
}

#[test]
fn an_image_healthcheck_is_waited_for() {
    let text = "services:\n  db: {image: db}\n  web: {image: web, depends_on: {db: {condition: service_healthy}}}\n";
    let b = FakeBackend::new(&["web", "db"]);
    b.set_health("db", "healthy");
    Run::new(text).up(&b, &UpOptions::default()).unwrap();
    assert!(b.containers_now().iter().any(|c| c.name == "shop-web-1"));
    let r = Run::new(text);
    wait::ready(&r.plan(), &b, &["db".into()], None).unwrap();
    // Without one, service_healthy fails naming it, and nothing depending on it is made.
    let b = FakeBackend::new(&["web", "db"]);
    let e = Run::new(text).up(&b, &UpOptions::default()).unwrap_err();
    assert!(e.to_string().contains("shop-db-1 has no healthcheck"), "{e}");
    assert!(!b.containers_now().iter().any(|c| c.name == "shop-web-1"));
}

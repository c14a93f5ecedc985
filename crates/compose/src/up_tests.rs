//! `up` and `down` on the fake backend: order, idempotence, recreation of
//! exactly what changed, scale, dependency conditions, orphans, `down -v`,
//! and preflight refusals that create nothing.

use super::*;
use crate::backend::fake::FakeBackend;
use crate::merge;
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
        }
    }

    fn up(&self, b: &FakeBackend, opts: &UpOptions) -> Result<Vec<String>> {
        let mut seen = Vec::new();
        up(&self.plan(), b, opts, &mut |k, n, s| seen.push(format!("{k} {n} {s}")))?;
        Ok(seen)
    }

    fn down(&self, b: &FakeBackend, opts: &DownOptions) -> Result<()> {
        down(&self.plan(), b, opts, &mut |_, _, _| {})
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
    b.clear_calls();
    let changed = APP
        .replace("web: {image: web, depends_on", "web: {image: web, environment: [A=1], depends_on")
        .replace("scale: 2", "scale: 1");
    Run::new(&changed).up(&b, &UpOptions::default()).unwrap();
    let calls = b.calls();
    assert!(
        calls.contains(&"rm shop-web-1".to_string()) && calls.contains(&"create shop-web-1".to_string()),
        "{calls:?}"
    );
    assert!(calls.contains(&"rm shop-worker-2".to_string()), "scaled down: {calls:?}");
    assert!(!calls.iter().any(|c| c.contains("shop-db-1") || c.contains("shop-worker-1")), "{calls:?}");
    assert!(b.containers_now().iter().any(|c| c.id == db_id), "db kept");
    b.clear_calls();
    Run::new(&changed).up(&b, &UpOptions { force_recreate: true, ..Default::default() }).unwrap();
    assert!(b.calls().contains(&"create shop-db-1".to_string()));
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

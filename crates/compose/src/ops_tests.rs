//! Lifecycle verbs and `down` on the fake backend.

use std::sync::Mutex;

use super::*;
use crate::backend::fake::FakeBackend;
use crate::convert::{self, Cx};
use crate::merge;
use crate::up::{up, UpOptions};
use crate::yaml::parse;

const APP: &str =
    "services:\n  web: {image: web, depends_on: [db]}\n  db: {image: db}\n  built: {build: .}\nvolumes: {data: {}}\n";

fn none(_: &str) -> Option<String> {
    None
}

fn with_plan<T>(text: &str, f: impl FnOnce(&Plan) -> T) -> T {
    let mut model = parse(text).unwrap();
    merge::normalize(&mut model);
    let volumes = convert::volume_names("shop", &model);
    let files = vec!["/app/compose.yaml".to_string()];
    let plan = Plan {
        project: "shop",
        model: &model,
        cx: Cx { project: "shop", lookup: &none, files: &files, directory: "/app", volumes: &volumes },
        known: &[],
    };
    f(&plan)
}

fn quiet(_: &str, _: &str, _: &str) {}

#[test]
fn verbs_follow_dependency_order_and_skip_what_they_do_not_apply_to() {
    with_plan(APP, |plan| {
        let b = FakeBackend::new(&["web", "db", "shop-built"]);
        up(plan, &b, &UpOptions::default(), &quiet).unwrap();
        b.clear_calls();
        act(plan, &b, &[], &Verb::Stop { timeout: Some(1) }, &quiet).unwrap();
        let calls = b.calls();
        let pos = |c: &str| calls.iter().position(|x| x == c).unwrap_or_else(|| panic!("{c}: {calls:?}"));
        assert!(pos("stop shop-web-1") < pos("stop shop-db-1"));
        b.clear_calls();
        act(plan, &b, &[], &Verb::Stop { timeout: None }, &quiet).unwrap();
        assert!(b.calls().is_empty(), "stopped ones are left: {:?}", b.calls());
        act(plan, &b, &[], &Verb::Start, &quiet).unwrap();
        let calls = b.calls();
        let pos = |c: &str| calls.iter().position(|x| x == c).unwrap();
        assert!(pos("start shop-db-1") < pos("start shop-web-1"));
        b.clear_calls();
        let seen = Mutex::new(Vec::new());
        act(plan, &b, &["db".into()], &Verb::Pause, &|k, n, s| seen.lock().unwrap().push(format!("{k} {n} {s}")))
            .unwrap();
        assert_eq!(b.calls(), ["pause shop-db-1"]);
        assert_eq!(seen.into_inner().unwrap(), ["Container shop-db-1 Pausing", "Container shop-db-1 Paused"]);
        act(plan, &b, &[], &Verb::Unpause, &quiet).unwrap();
        act(plan, &b, &["web".into()], &Verb::Kill { signal: Some("SIGTERM".into()) }, &quiet).unwrap();
        assert!(b.calls().contains(&"kill SIGTERM shop-web-1".to_string()), "{:?}", b.calls());
        let e = act(plan, &b, &["ghost".into()], &Verb::Start, &quiet).unwrap_err();
        assert!(e.to_string().contains("no such service: ghost"), "{e}");
    });
}

#[test]
fn rm_takes_stopped_containers_after_confirmation() {
    with_plan(APP, |plan| {
        let b = FakeBackend::new(&["web", "db", "shop-built"]);
        up(plan, &b, &UpOptions::default(), &quiet).unwrap();
        act(plan, &b, &["web".into()], &Verb::Stop { timeout: None }, &quiet).unwrap();
        let refused = rm(plan, &b, &[], false, false, &mut |_| false, &quiet).unwrap();
        assert_eq!(refused.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["shop-web-1"]);
        assert_eq!(b.containers_now().len(), 3, "nothing removed without confirmation");
        rm(plan, &b, &[], false, false, &mut |_| true, &quiet).unwrap();
        assert_eq!(b.containers_now().len(), 2, "running ones stay");
        rm(plan, &b, &["db".into()], true, true, &mut |_| true, &quiet).unwrap();
        assert!(!b.containers_now().iter().any(|c| c.name == "shop-db-1"));
    });
}

#[test]
fn down_removes_images_with_rmi() {
    with_plan(APP, |plan| {
        let b = FakeBackend::new(&["web", "db", "shop-built"]);
        up(plan, &b, &UpOptions::default(), &quiet).unwrap();
        down(plan, &b, &DownOptions { rmi: Some(Rmi::Local), ..Default::default() }, &quiet).unwrap();
        assert_eq!(b.images_now(), ["web", "db"], "only the built image");
        up(plan, &b, &UpOptions::default(), &quiet).unwrap_err();
        let b = FakeBackend::new(&["web", "db", "shop-built"]);
        up(plan, &b, &UpOptions::default(), &quiet).unwrap();
        down(plan, &b, &DownOptions { rmi: Some(Rmi::All), volumes: true, ..Default::default() }, &quiet).unwrap();
        assert!(b.images_now().is_empty() && b.volume_names().is_empty() && b.containers_now().is_empty());
    });
}

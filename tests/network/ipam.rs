//! Addresses under load and across a daemon crash: concurrent starts on
//! one network never share an address, and a restarted daemon keeps every
//! running container's address and hands out no used one.

use std::collections::BTreeSet;

use crate::support::daemon::Daemon;

const IMG: &str = "busybox:local";

fn ips(d: &Daemon) -> Vec<String> {
    let ids = d.ok(&["ps", "-q"]);
    let mut args = vec!["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"];
    args.extend(ids.split_whitespace());
    d.ok(&args).lines().map(str::to_string).collect()
}

#[test]
fn concurrent_starts_get_distinct_addresses_that_survive_a_crash() {
    let mut d = Daemon::start();
    d.import_busybox();
    d.ok(&["network", "create", "--subnet", "10.78.0.0/24", "app"]);
    std::thread::scope(|s| {
        for i in 0..12 {
            let d = &d;
            s.spawn(move || d.ok(&["run", "-d", "--name", &format!("c{i}"), "--network", "app", IMG, "sleep", "1000"]));
        }
    });
    let before = ips(&d);
    let distinct: BTreeSet<&String> = before.iter().collect();
    assert_eq!((before.len(), distinct.len()), (12, 12), "{before:?}");
    assert!(before.iter().all(|ip| ip.starts_with("10.78.0.")), "{before:?}");
    d.kill9();
    d.spawn();
    let mut after = ips(&d);
    let mut sorted = before.clone();
    sorted.sort();
    after.sort();
    assert_eq!(after, sorted, "the restart kept every address");
    d.ok(&["run", "-d", "--name", "late", "--network", "app", IMG, "sleep", "1000"]);
    let late = d.ok(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "late"]);
    assert!(!before.contains(&late.trim().to_string()), "{late} was in use");
    let all = d.ok(&["ps", "-aq"]);
    let mut rm = vec!["rm", "-f"];
    rm.extend(all.split_whitespace());
    d.ok(&rm);
    d.ok(&["network", "rm", "app"]);
}

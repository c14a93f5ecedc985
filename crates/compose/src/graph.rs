//! The services' dependency graph: `depends_on`, and the implicit
//! dependencies of `network_mode: service:x`, `volumes_from: [x]` (or
//! `service:x`) and `links`. Start order is by levels — every service of
//! a level depends only on earlier levels, so a level starts in parallel —
//! and stop order is the reverse. A cycle is an error that names it.

use std::sync::Mutex;

use crate::error::{ComposeError, Result};
use crate::yaml::{Node, Value};

/// One service's dependencies, in the order they are written.
pub fn dependencies(svc: &Node) -> Vec<String> {
    let mut deps: Vec<String> = Vec::new();
    let mut add = |d: &str| {
        if !deps.iter().any(|x| x == d) {
            deps.push(d.to_string());
        }
    };
    if let Some(Value::Map(entries)) = svc.get("depends_on").map(|d| &d.value) {
        entries.iter().for_each(|(k, _)| add(&k.name));
    }
    if let Some(Value::Seq(items)) = svc.get("depends_on").map(|d| &d.value) {
        items.iter().filter_map(Node::as_str).for_each(&mut add);
    }
    if let Some(x) = svc.get("network_mode").and_then(Node::as_str).and_then(|m| m.strip_prefix("service:")) {
        add(x);
    }
    if let Some(Value::Seq(items)) = svc.get("volumes_from").map(|v| &v.value) {
        for v in items.iter().filter_map(Node::as_str) {
            // `service[:ro]`, `service:name[:ro]`, or `container:name` (not a service).
            if v.starts_with("container:") {
                continue;
            }
            let v = v.strip_prefix("service:").unwrap_or(v);
            add(v.split(':').next().unwrap_or(v));
        }
    }
    if let Some(Value::Seq(items)) = svc.get("links").map(|v| &v.value) {
        for l in items.iter().filter_map(Node::as_str) {
            add(l.split(':').next().unwrap_or(l));
        }
    }
    deps
}

/// Levels of services in start order (each level's services in file order).
pub fn start_order(model: &Node) -> Result<Vec<Vec<String>>> {
    let all: Vec<(&str, &Node)> = model.get("services").map(|s| s.entries().collect()).unwrap_or_default();
    let deps: Vec<(String, Vec<String>)> = all
        .iter()
        .map(|(n, s)| {
            (n.to_string(), dependencies(s).into_iter().filter(|d| all.iter().any(|(m, _)| m == d)).collect())
        })
        .collect();
    let mut placed: Vec<String> = Vec::new();
    let mut levels = Vec::new();
    while placed.len() < deps.len() {
        let level: Vec<String> = deps
            .iter()
            .filter(|(n, d)| !placed.contains(n) && d.iter().all(|x| placed.contains(x)))
            .map(|(n, _)| n.clone())
            .collect();
        if level.is_empty() {
            let left: Vec<&(String, Vec<String>)> = deps.iter().filter(|(n, _)| !placed.contains(n)).collect();
            return Err(ComposeError::Project(format!("dependency cycle detected: {}", cycle(&left).join(" -> "))));
        }
        placed.extend(level.iter().cloned());
        levels.push(level);
    }
    Ok(levels)
}

/// A cycle among services none of which could be placed: follow the first
/// unplaced dependency until a service repeats.
fn cycle(left: &[&(String, Vec<String>)]) -> Vec<String> {
    let Some(first) = left.first() else { return Vec::new() };
    let mut path = vec![first.0.clone()];
    loop {
        let cur = path.last().expect("non-empty");
        let Some((_, d)) = left.iter().find(|(n, _)| n == cur).map(|x| (&x.0, &x.1)) else { return path };
        let Some(next) = d.iter().find(|x| left.iter().any(|(n, _)| n == *x)) else { return path };
        if let Some(i) = path.iter().position(|p| p == next) {
            let mut c = path[i..].to_vec();
            c.push(next.clone());
            return c;
        }
        path.push(next.clone());
    }
}

/// Runs `f` on every item of a level at once (a thread each), the levels
/// one after the other; the first error stops before the next level.
pub fn in_levels<T: Sync>(levels: &[Vec<T>], f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    for level in levels {
        let failed: Mutex<Option<ComposeError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for item in level {
                let (f, failed) = (&f, &failed);
                s.spawn(move || {
                    if let Err(e) = f(item) {
                        failed.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
    }
    Ok(())
}

/// Stop order: the start levels reversed.
pub fn stop_order(model: &Node) -> Result<Vec<Vec<String>>> {
    let mut levels = start_order(model)?;
    levels.reverse();
    Ok(levels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn order(text: &str) -> Result<Vec<Vec<String>>> {
        start_order(&parse(text).unwrap())
    }

    #[test]
    fn levels_start_in_dependency_order() {
        let cases: &[(&str, &[&[&str]])] = &[
            ("services: {a: {}, b: {}}", &[&["a", "b"]]),
            ("services: {web: {depends_on: [db, cache]}, db: {}, cache: {depends_on: {db: {condition: service_healthy}}}}", &[&["db"], &["cache"], &["web"]]),
            ("services: {app: {network_mode: 'service:vpn'}, vpn: {}}", &[&["vpn"], &["app"]]),
            ("services: {app: {volumes_from: ['data:ro', 'container:other', 'service:more']}, data: {}, more: {}}", &[&["data", "more"], &["app"]]),
            ("services: {app: {links: ['db:database']}, db: {}}", &[&["db"], &["app"]]),
            ("services: {app: {network_mode: host}}", &[&["app"]]),
            ("services: {}", &[]),
        ];
        for (text, want) in cases {
            let want: Vec<Vec<String>> = want.iter().map(|l| l.iter().map(|s| s.to_string()).collect()).collect();
            assert_eq!(order(text).unwrap(), want, "{text}");
        }
        let stop = stop_order(&parse("services: {web: {depends_on: [db]}, db: {}}").unwrap()).unwrap();
        assert_eq!(stop, [vec!["web".to_string()], vec!["db".to_string()]]);
    }

    #[test]
    fn cycles_are_named() {
        let cases = [
            ("services: {a: {depends_on: [b]}, b: {depends_on: [a]}}", "a -> b -> a"),
            ("services: {x: {}, a: {depends_on: [b]}, b: {depends_on: [c]}, c: {depends_on: [b]}}", "b -> c -> b"),
            ("services: {a: {depends_on: [a]}}", "a -> a"),
        ];
        for (text, want) in cases {
            match order(text) {
                Err(ComposeError::Project(m)) => assert!(m.ends_with(want), "{text}: {m}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}

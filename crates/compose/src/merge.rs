//! Several compose files into one tree, by the specification's merge
//! rules: mappings merge key by key, sequences append, scalars are
//! replaced; `command`, `entrypoint` and `healthcheck.test` are replaced
//! whole; a service's `volumes`, `secrets` and `configs` are unique by
//! target and its `ports` by (ip, target, published, protocol) — an entry
//! with the key of an earlier one replaces it; `!reset` removes a value,
//! `!override` replaces it whole. Before merging, a service's short forms
//! that have a mapping form are turned into it (`environment`, `labels`,
//! `annotations`, `sysctls`, `depends_on`, `networks`, `build` and its
//! `args`/`labels`, a string `env_file`), so a list in one file and a
//! mapping in the next merge entry by entry, as compose-go does.

use crate::yaml::{Key, Node, Value};

/// `files`' trees merged in order (later files win).
pub fn merge_all(files: impl IntoIterator<Item = Node>) -> Node {
    let mut out = Node { value: Value::Map(Vec::new()), pos: Default::default(), tag: None };
    for mut f in files {
        normalize(&mut f);
        out = merge(Some(out), f, &mut Vec::new()).unwrap_or(Node {
            value: Value::Map(Vec::new()),
            pos: Default::default(),
            tag: None,
        });
    }
    out
}

/// `over` onto `base` at `path` (the keys from the root); None: removed.
fn merge(base: Option<Node>, mut over: Node, path: &mut Vec<String>) -> Option<Node> {
    match over.tag.as_deref() {
        Some("!reset") => return None,
        Some("!override") => {
            over.tag = None;
            strip_tags(&mut over);
            return Some(over);
        }
        _ => {}
    }
    let Some(base) = base else {
        strip_tags(&mut over);
        return Some(over);
    };
    // An empty value in a later file keeps the earlier one (compose-go's merge).
    if over.value == Value::Null && over.tag.is_none() {
        return Some(base);
    }
    // Another logging driver brings its own options: the block is replaced.
    if let ["services", _, "logging"] = path.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        let driver = |n: &Node| n.get("driver").and_then(Node::as_str).map(str::to_string);
        if driver(&over).is_some() && driver(&over) != driver(&base) {
            strip_tags(&mut over);
            return Some(over);
        }
    }
    match (base.value, over.value) {
        (Value::Map(mut entries), Value::Map(more)) => {
            for (k, v) in more {
                path.push(k.name.clone());
                let at = entries.iter().position(|(e, _)| e.name == k.name);
                let old = at.map(|i| entries.remove(i).1);
                if let Some(merged) = merge(old, v, path) {
                    match at {
                        Some(i) => entries.insert(i, (k, merged)),
                        None => entries.push((k, merged)),
                    }
                }
                path.pop();
            }
            Some(Node { value: Value::Map(entries), pos: base.pos, tag: None })
        }
        (Value::Seq(mut items), Value::Seq(more)) => {
            let rule = sequence_rule(path);
            if rule == Seq::Replace {
                let mut n = Node { value: Value::Seq(more), pos: over.pos, tag: None };
                strip_tags(&mut n);
                return Some(n);
            }
            for mut item in more {
                strip_tags(&mut item);
                let key = unique_key(rule, &item);
                match key.and_then(|k| items.iter().position(|e| unique_key(rule, e).as_ref() == Some(&k))) {
                    Some(i) => items[i] = item,
                    None => items.push(item),
                }
            }
            Some(Node { value: Value::Seq(items), pos: base.pos, tag: None })
        }
        (_, value) => {
            let mut n = Node { value, pos: over.pos, tag: None };
            strip_tags(&mut n);
            Some(n)
        }
    }
}

/// A first file's tags: `!reset` entries go, `!override` is a plain value.
pub(crate) fn strip_tags(node: &mut Node) {
    node.tag = None;
    match &mut node.value {
        Value::Map(entries) => {
            entries.retain(|(_, v)| v.tag.as_deref() != Some("!reset"));
            entries.iter_mut().for_each(|(_, v)| strip_tags(v));
        }
        Value::Seq(items) => {
            items.retain(|v| v.tag.as_deref() != Some("!reset"));
            items.iter_mut().for_each(strip_tags);
        }
        _ => {}
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seq {
    Append,
    Replace,
    ByTarget,
    Ports,
}

fn sequence_rule(path: &[String]) -> Seq {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["services", _, "command" | "entrypoint"] | ["services", _, "healthcheck", "test"] => Seq::Replace,
        ["services", _, "volumes" | "secrets" | "configs"] => Seq::ByTarget,
        ["services", _, "ports"] => Seq::Ports,
        _ => Seq::Append,
    }
}

/// The uniqueness key of a sequence entry under `rule`, if it has one.
fn unique_key(rule: Seq, item: &Node) -> Option<String> {
    let field = |k: &str| item.get(k).map(|n| scalar_text(n).unwrap_or_default());
    match (rule, &item.value) {
        (Seq::ByTarget, Value::Str(s)) => Some(short_volume_target(s)),
        (Seq::ByTarget, Value::Map(_)) => field("target").or_else(|| field("source")),
        (Seq::Ports, Value::Str(s)) => Some(short_port_key(s)),
        (Seq::Ports, Value::Int(i)) => Some(format!("|{i}||tcp")),
        (Seq::Ports, Value::Map(_)) => Some(format!(
            "{}|{}|{}|{}",
            field("host_ip").unwrap_or_default(),
            field("target").unwrap_or_default(),
            field("published").unwrap_or_default(),
            field("protocol").filter(|p| !p.is_empty()).unwrap_or_else(|| "tcp".into())
        )),
        _ => None,
    }
}

fn scalar_text(n: &Node) -> Option<String> {
    n.scalar_text()
}

/// `src:target[:mode]` (or a bare target, an anonymous volume) → target;
/// a secret or config by name is its own target.
fn short_volume_target(s: &str) -> String {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [one] => one.to_string(),
        [_, target, ..] => target.to_string(),
        [] => String::new(),
    }
}

/// `[ip:][published:]target[/proto]` → "ip|target|published|proto".
fn short_port_key(s: &str) -> String {
    let (spec, proto) = s.rsplit_once('/').unwrap_or((s, "tcp"));
    // An IPv6 host address is bracketed: [::1]:8080:80.
    let (ip, rest) = match spec.strip_prefix('[').and_then(|r| r.split_once("]:")) {
        Some((ip, rest)) => (ip.to_string(), rest.to_string()),
        None => (String::new(), spec.to_string()),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, published, target) = match parts.as_slice() {
        [t] => (ip, String::new(), t.to_string()),
        [p, t] => (ip, p.to_string(), t.to_string()),
        [i, p, t] => (i.to_string(), p.to_string(), t.to_string()),
        _ => (ip, String::new(), rest.clone()),
    };
    format!("{ip}|{target}|{published}|{proto}")
}

/// Service `name`'s `over` onto its `base` (`extends`), by the same rules.
pub(crate) fn merge_service(name: &str, base: Node, over: Node) -> Node {
    let mut path = vec!["services".to_string(), name.to_string()];
    let fallback = base.clone();
    merge(Some(base), over, &mut path).unwrap_or(fallback)
}

/// The mapping form of each service's short forms.
pub(crate) fn normalize(root: &mut Node) {
    let Value::Map(top) = &mut root.value else { return };
    for (k, services) in top.iter_mut() {
        if k.name != "services" {
            continue;
        }
        let Value::Map(services) = &mut services.value else { continue };
        for (_, svc) in services.iter_mut() {
            let Value::Map(fields) = &mut svc.value else { continue };
            for (key, v) in fields.iter_mut() {
                match key.name.as_str() {
                    "environment" | "labels" | "annotations" | "sysctls" => list_to_map(v, '='),
                    "depends_on" => names_to_map(v, |n| {
                        map_of(n.pos, vec![("condition", Node { value: Value::Str("service_started".into()), ..n })])
                    }),
                    "networks" => names_to_map(v, |n| Node { value: Value::Null, ..n }),
                    "env_file" if matches!(v.value, Value::Str(_)) => {
                        let one = v.clone();
                        v.value = Value::Seq(vec![Node { tag: None, ..one }]);
                    }
                    "build" => {
                        if matches!(v.value, Value::Str(_)) {
                            let ctx = Node { tag: None, ..v.clone() };
                            *v = map_of(v.pos, vec![("context", ctx)]);
                        }
                        if let Value::Map(b) = &mut v.value {
                            for (bk, bv) in b.iter_mut() {
                                if bk.name == "args" || bk.name == "labels" {
                                    list_to_map(bv, '=');
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

fn map_of(pos: crate::yaml::Pos, entries: Vec<(&str, Node)>) -> Node {
    let entries = entries.into_iter().map(|(k, v)| (Key { name: k.to_string(), pos }, v)).collect();
    Node { value: Value::Map(entries), pos, tag: None }
}

/// `["A=1", "B"]` → `{A: "1", B: null}` (a tag on the list stays on the map).
fn list_to_map(v: &mut Node, sep: char) {
    let Value::Seq(items) = &v.value else { return };
    let mut entries: Vec<(Key, Node)> = Vec::new();
    for item in items {
        let Some(text) = scalar_text(item) else { return };
        let (name, value) = match text.split_once(sep) {
            Some((n, val)) => (n.to_string(), Value::Str(val.to_string())),
            None => (text.clone(), Value::Null),
        };
        entries.retain(|(k, _)| k.name != name);
        entries.push((Key { name, pos: item.pos }, Node { value, pos: item.pos, tag: None }));
    }
    v.value = Value::Map(entries);
}

/// `[a, b]` → `{a: f(a), b: f(b)}`.
fn names_to_map(v: &mut Node, f: impl Fn(Node) -> Node) {
    let Value::Seq(items) = &v.value else { return };
    let mut entries = Vec::new();
    for item in items {
        let Some(name) = scalar_text(item) else { return };
        entries.push((Key { name, pos: item.pos }, f(Node { tag: None, ..item.clone() })));
    }
    v.value = Value::Map(entries);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn merged(files: &[&str]) -> serde_json::Value {
        merge_all(files.iter().map(|f| parse(f).unwrap())).to_json()
    }

    fn yaml(text: &str) -> serde_json::Value {
        parse(text).unwrap().to_json()
    }

    #[test]
    fn the_specification_examples_and_more() {
        // (files, expected): the merge section's examples, then each exception.
        let cases: &[(&[&str], &str)] = &[
            (
                &["services: {foo: {key1: value1, key2: value2}}", "services: {foo: {key2: VALUE, key3: value3}}"],
                "services: {foo: {key1: value1, key2: VALUE, key3: value3}}",
            ),
            (&["services: {foo: {dns: [1.1.1.1]}}", "services: {foo: {dns: [8.8.8.8]}}"], "services: {foo: {dns: [1.1.1.1, 8.8.8.8]}}"),
            (
                &["services: {foo: {command: [echo, foo]}}", "services: {foo: {command: [echo, bar]}}"],
                "services: {foo: {command: [echo, bar]}}",
            ),
            (
                &["services: {foo: {entrypoint: [a], healthcheck: {test: [CMD, a], retries: 3}}}", "services: {foo: {entrypoint: [b], healthcheck: {test: [CMD, b]}}}"],
                "services: {foo: {entrypoint: [b], healthcheck: {test: [CMD, b], retries: 3}}}",
            ),
            (&["services: {foo: {volumes: ['foo:/work']}}", "services: {foo: {volumes: ['bar:/work']}}"], "services: {foo: {volumes: ['bar:/work']}}"),
            (
                &["services: {foo: {volumes: ['a:/a', {type: volume, source: b, target: /b}]}}", "services: {foo: {volumes: [{type: bind, source: ./c, target: /a}, 'd:/d:ro']}}"],
                "services: {foo: {volumes: [{type: bind, source: ./c, target: /a}, {type: volume, source: b, target: /b}, 'd:/d:ro']}}",
            ),
            (
                &["services: {foo: {ports: ['8080:80', '127.0.0.1:9000:90', 53/udp]}}", "services: {foo: {ports: ['8080:80', '9000:90', 53/tcp, {target: 80, published: '8080'}]}}"],
                "services: {foo: {ports: [{target: 80, published: '8080'}, '127.0.0.1:9000:90', 53/udp, '9000:90', 53/tcp]}}",
            ),
            (&["services: {foo: {secrets: [a, {source: b, target: /run/x}]}}", "services: {foo: {secrets: [{source: a2, target: a}]}}"], "services: {foo: {secrets: [{source: a2, target: a}, {source: b, target: /run/x}]}}"),
            // !reset and !override.
            (
                &["services: {app: {image: myapp, ports: ['8080:80'], environment: {FOO: BAR}}}", "services: {app: {image: myapp, ports: !reset [], environment: {FOO: !reset null}}}"],
                "services: {app: {image: myapp, environment: {}}}",
            ),
            (&["services: {app: {image: myapp, ports: ['8080:80']}}", "services: {app: {ports: !override ['8443:443']}}"], "services: {app: {image: myapp, ports: ['8443:443']}}"),
            (&["services: {app: {image: a, build: {context: .}}}", "services: {app: {build: !override {context: ./b}}}"], "services: {app: {image: a, build: {context: ./b}}}"),
            (&["services: {app: {image: a, x: !reset 1}}"], "services: {app: {image: a}}"),
            // Short forms merge entry by entry with long ones.
            (
                &["services: {a: {environment: [A=1, B=2, C], labels: [x=1]}}", "services: {a: {environment: {B: '3'}, labels: {y: '2'}}}"],
                "services: {a: {environment: {A: '1', B: '3', C: null}, labels: {x: '1', y: '2'}}}",
            ),
            (
                &["services: {a: {depends_on: [db], networks: [front]}}", "services: {a: {depends_on: {db: {condition: service_healthy}}, networks: {back: {aliases: [x]}}}}"],
                "services: {a: {depends_on: {db: {condition: service_healthy}}, networks: {front: null, back: {aliases: [x]}}}}",
            ),
            (&["services: {a: {build: ., env_file: a.env}}", "services: {a: {build: {dockerfile: D, args: [V=1]}, env_file: [b.env]}}"], "services: {a: {build: {context: ., dockerfile: D, args: {V: '1'}}, env_file: [a.env, b.env]}}"),
            // Top-level resources merge as mappings; scalars of another type replace.
            (&["networks: {n: {driver: bridge}}\nvolumes: {v: {}}", "networks: {n: {internal: true}}\nvolumes: {w: {}}"], "networks: {n: {driver: bridge, internal: true}}\nvolumes: {v: {}, w: {}}"),
            (&["services: {a: {image: x, restart: always}}", "services: {a: {restart: 'no'}}", "services: {a: {image: y}}"], "services: {a: {image: y, restart: 'no'}}"),
            // An empty value keeps the earlier one; another logging driver replaces the block.
            (&["volumes: {data: {driver: local}}\nservices: {a: {environment: {A: '1'}}}", "volumes: {data: }\nservices: {a: {environment: {A: }}}"], "volumes: {data: {driver: local}}\nservices: {a: {environment: {A: '1'}}}"),
            (&["services: {a: {logging: {driver: syslog, options: {syslog-address: 'udp://x'}}}}", "services: {a: {logging: {driver: json-file}}}"], "services: {a: {logging: {driver: json-file}}}"),
            (&["services: {a: {logging: {driver: json-file, options: {max-size: 1m}}}}", "services: {a: {logging: {options: {max-file: '3'}}}}"], "services: {a: {logging: {driver: json-file, options: {max-size: 1m, max-file: '3'}}}}"),
        ];
        for (files, want) in cases {
            assert_eq!(merged(files), yaml(want), "{files:?}");
        }
    }

    #[test]
    fn merged_values_keep_their_file_positions() {
        let a = parse("services:\n  a:\n    image: x\n").unwrap();
        let b = parse("\n\n\nservices:\n  a:\n    restart: always\n").unwrap();
        let m = merge_all([a, b]);
        let svc = m.get("services").and_then(|s| s.get("a")).unwrap();
        assert_eq!(svc.get("image").unwrap().pos.line, 3);
        assert_eq!(svc.get("restart").unwrap().pos.line, 6);
    }
}

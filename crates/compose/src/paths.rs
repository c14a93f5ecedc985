//! Relative paths of a file made absolute, as the specification says:
//! against the project directory for the files of `-f` (override files
//! too), against their own directory for the files of `extends` and
//! `include`. What is resolved: a service's `build` context (not a URL),
//! `env_file`s, `volumes` bind sources (`./x`, `../x`, `~/x` in the short
//! form; `source` of `type: bind`), `extends.file`, and the `file` of
//! top-level `secrets` and `configs`. `~` is the user's home. Paths are
//! cleaned lexically (`.` and `..`), never looked up.

use std::path::{Component, Path, PathBuf};

use crate::yaml::{Node, Value};

/// `p` joined to `base` (`~` to `home`), cleaned.
pub fn absolute(base: &Path, home: Option<&Path>, p: &str) -> String {
    let joined = match (p.strip_prefix('~'), home) {
        (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => h.join(rest.trim_start_matches('/')),
        _ => base.join(p),
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.display().to_string()
}

pub(crate) fn is_remote(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

fn resolve_str(node: &mut Node, base: &Path, home: Option<&Path>) {
    if let Value::Str(s) = &mut node.value {
        *s = absolute(base, home, s);
    }
}

fn entries_mut(node: &mut Node) -> impl Iterator<Item = (&str, &mut Node)> {
    let entries = match &mut node.value {
        Value::Map(e) => e.as_mut_slice(),
        _ => &mut [],
    };
    entries.iter_mut().map(|(k, v)| (k.name.as_str(), v))
}

/// `build.additional_contexts` values that are paths (not `service:`,
/// `docker-image://` or other URLs), in a mapping or as `NAME=PATH` items.
fn additional_contexts(node: &mut Node, base: &Path, home: Option<&Path>) {
    let is_path = |v: &str| !v.is_empty() && !is_remote(v) && !v.starts_with("service:");
    match &mut node.value {
        Value::Seq(items) => {
            for item in items {
                if let Value::Str(s) = &mut item.value {
                    if let Some((k, v)) = s.split_once('=').filter(|(_, v)| is_path(v)) {
                        *s = format!("{k}={}", absolute(base, home, v));
                    }
                }
            }
        }
        _ => {
            for (_, v) in entries_mut(node) {
                if v.as_str().is_some_and(is_path) {
                    resolve_str(v, base, home);
                }
            }
        }
    }
}

/// A short volume's source is a path if it starts like one.
fn short_volume(s: &str, base: &Path, home: Option<&Path>) -> String {
    let Some((src, rest)) = s.split_once(':') else { return s.to_string() };
    if src.starts_with('.') || src.starts_with('~') {
        format!("{}:{rest}", absolute(base, home, src))
    } else {
        s.to_string()
    }
}

/// Resolves `root`'s relative paths against `base`.
pub fn resolve(root: &mut Node, base: &Path, home: Option<&Path>) {
    for (key, section) in entries_mut(root) {
        match key {
            "services" => {
                for (_, svc) in entries_mut(section) {
                    service(svc, base, home);
                }
            }
            "secrets" | "configs" => {
                for (_, item) in entries_mut(section) {
                    for (k, v) in entries_mut(item) {
                        if k == "file" {
                            resolve_str(v, base, home);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn service(svc: &mut Node, base: &Path, home: Option<&Path>) {
    for (key, v) in entries_mut(svc) {
        match key {
            "build" => match &mut v.value {
                Value::Str(s) if !is_remote(s) => *s = absolute(base, home, s),
                Value::Map(_) => {
                    for (k, c) in entries_mut(v) {
                        if k == "context" && c.as_str().is_some_and(|s| !is_remote(s)) {
                            resolve_str(c, base, home);
                        }
                        if k == "additional_contexts" {
                            additional_contexts(c, base, home);
                        }
                    }
                }
                _ => {}
            },
            "env_file" => match &mut v.value {
                Value::Str(_) => resolve_str(v, base, home),
                Value::Seq(items) => {
                    for item in items {
                        match &item.value {
                            Value::Str(_) => resolve_str(item, base, home),
                            _ => {
                                for (k, p) in entries_mut(item) {
                                    if k == "path" {
                                        resolve_str(p, base, home);
                                    }
                                }
                            }
                        }
                    }
                }
                _ => {}
            },
            "volumes" => {
                let Value::Seq(items) = &mut v.value else { continue };
                for item in items {
                    match &mut item.value {
                        Value::Str(s) => *s = short_volume(s, base, home),
                        Value::Map(_) => {
                            let bind = item.get("type").and_then(Node::as_str) == Some("bind");
                            for (k, src) in entries_mut(item) {
                                if bind && k == "source" {
                                    resolve_str(src, base, home);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            "extends" => {
                for (k, f) in entries_mut(v) {
                    if k == "file" {
                        resolve_str(f, base, home);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    #[test]
    fn what_is_a_path_is_made_absolute() {
        let text = "services:\n  web:\n    build: ./app\n    env_file: [.env.web, {path: ../shared.env, required: false}]\n    volumes: ['./data:/data', '~/cache:/cache:ro', 'named:/n', '/abs:/abs', {type: bind, source: ../src, target: /src}, {type: volume, source: v, target: /v}]\n    extends: {file: ./base.yaml, service: b}\n  remote:\n    build: {context: 'https://github.com/x/y.git', dockerfile: ./D}\n  named:\n    build: {context: ., additional_contexts: {src: ../src, img: 'docker-image://busybox', svc: 'service:web'}}\n  listed:\n    build: {context: ., additional_contexts: [src=./s, svc=service:web]}\nsecrets:\n  s: {file: ./secret.txt}\nconfigs:\n  c: {file: /etc/c}\n";
        let mut root = parse(text).unwrap();
        resolve(&mut root, Path::new("/proj/dir"), Some(Path::new("/home/me")));
        let want = serde_json::json!({
            "services": {
                "web": {
                    "build": "/proj/dir/app",
                    "env_file": ["/proj/dir/.env.web", {"path": "/proj/shared.env", "required": false}],
                    "volumes": ["/proj/dir/data:/data", "/home/me/cache:/cache:ro", "named:/n", "/abs:/abs",
                                {"type": "bind", "source": "/proj/src", "target": "/src"},
                                {"type": "volume", "source": "v", "target": "/v"}],
                    "extends": {"file": "/proj/dir/base.yaml", "service": "b"},
                },
                "remote": {"build": {"context": "https://github.com/x/y.git", "dockerfile": "./D"}},
                "named": {"build": {"context": "/proj/dir", "additional_contexts":
                    {"src": "/proj/src", "img": "docker-image://busybox", "svc": "service:web"}}},
                "listed": {"build": {"context": "/proj/dir", "additional_contexts": ["src=/proj/dir/s", "svc=service:web"]}},
            },
            "secrets": {"s": {"file": "/proj/dir/secret.txt"}},
            "configs": {"c": {"file": "/etc/c"}},
        });
        assert_eq!(root.to_json(), want);
    }
}

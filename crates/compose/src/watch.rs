//! `develop.watch`: what `compose watch` does when files change. A rule
//! watches a host path (relative to the project directory) and, on a
//! change under it, syncs the changed files into the containers
//! (`sync`, `sync+restart`, `sync+exec`: the path's tree mapped onto
//! `target`), restarts them (`restart`, `sync+restart`), runs a command
//! in them (`sync+exec`) or rebuilds the image and recreates them
//! (`rebuild`). `initial_sync` copies the whole tree first. Which changes
//! are ignored (`ignore`, `include`: .dockerignore patterns relative to
//! the path) is left to the caller's matcher.

use std::path::{Path, PathBuf};

use crate::convert::{self, unsupported};
use crate::error::{ComposeError, Result};
use crate::up::Plan;
use crate::yaml::Node;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Sync,
    Rebuild,
    Restart,
    SyncRestart,
    /// `sync+exec` and its `exec` hook.
    SyncExec(Hook),
}

/// A command run in the containers (`exec` of `sync+exec`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hook {
    pub command: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub privileged: bool,
    pub environment: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub service: String,
    pub action: Action,
    /// Absolute host path watched.
    pub path: PathBuf,
    /// Where the path's tree lands in the container (sync actions).
    pub target: Option<String>,
    pub ignore: Vec<String>,
    pub include: Vec<String>,
    pub initial_sync: bool,
}

impl Rule {
    pub fn syncs(&self) -> bool {
        matches!(self.action, Action::Sync | Action::SyncRestart | Action::SyncExec(_))
    }

    /// `changed`'s path relative to the rule's (None if outside it).
    pub fn relative(&self, changed: &Path) -> Option<String> {
        let rel = changed.strip_prefix(&self.path).ok()?;
        Some(rel.to_string_lossy().into_owned())
    }

    /// Where `changed` (under the rule's path) lands in the container.
    pub fn target_of(&self, changed: &Path) -> Option<String> {
        let rel = self.relative(changed)?;
        let target = self.target.as_deref()?.trim_end_matches('/');
        Some(if rel.is_empty() { target.to_string() } else { format!("{target}/{rel}") })
    }
}

fn hook(n: &Node, path: &str) -> Result<Hook> {
    convert::only_keys(n, path, &["command", "user", "working_dir", "privileged", "environment"])?;
    let command = match n.get("command") {
        Some(c) => crate::units::command(c).map_err(|e| unsupported(c, &format!("{path}.command"), &e))?,
        None => return Err(unsupported(n, path, "an exec hook needs a command")),
    };
    let privileged = match n.get("privileged") {
        Some(p) => convert::boolean(p).map_err(|e| unsupported(p, &format!("{path}.privileged"), &e))?,
        None => false,
    };
    let environment = match n.get("environment") {
        Some(e) if matches!(e.value, crate::yaml::Value::Map(_)) => {
            convert::map(e).into_iter().map(|(k, v)| v.map_or(k.clone(), |v| format!("{k}={v}"))).collect()
        }
        Some(e) => e.strings(),
        None => Vec::new(),
    };
    Ok(Hook {
        command,
        user: n.get("user").and_then(convert::text),
        working_dir: n.get("working_dir").and_then(convert::text),
        privileged,
        environment,
    })
}

/// The watch rules of `services` (all of the model's when empty).
pub fn rules(plan: &Plan, services: &[String]) -> Result<Vec<Rule>> {
    plan.check(services)?;
    let mut out = Vec::new();
    for (name, svc) in plan.services() {
        if !services.is_empty() && !services.iter().any(|s| s == name) {
            continue;
        }
        let Some(develop) = svc.get("develop") else { continue };
        convert::only_keys(develop, &format!("services.{name}.develop"), &["watch"])?;
        let Some(crate::yaml::Value::Seq(items)) = develop.get("watch").map(|w| &w.value) else { continue };
        for (i, item) in items.iter().enumerate() {
            let at = format!("services.{name}.develop.watch[{i}]");
            convert::only_keys(item, &at, &["path", "action", "target", "ignore", "include", "exec", "initial_sync"])?;
            let text = |k: &str| item.get(k).and_then(convert::text);
            let action = match text("action").as_deref() {
                Some("sync") => Action::Sync,
                Some("rebuild") => Action::Rebuild,
                Some("restart") => Action::Restart,
                Some("sync+restart") => Action::SyncRestart,
                Some("sync+exec") => match item.get("exec") {
                    Some(h) => Action::SyncExec(hook(h, &format!("{at}.exec"))?),
                    None => return Err(unsupported(item, &at, "sync+exec needs an exec hook")),
                },
                other => return Err(unsupported(item, &format!("{at}.action"), &format!("unknown action {other:?}"))),
            };
            if item.get("exec").is_some() && !matches!(action, Action::SyncExec(_)) {
                return Err(unsupported(item, &format!("{at}.exec"), "only sync+exec runs an exec hook"));
            }
            let path = PathBuf::from(text("path").unwrap_or_default());
            let path = if path.is_absolute() { path } else { Path::new(plan.cx.directory).join(path) };
            let target = text("target");
            let rule = Rule {
                service: name.to_string(),
                path,
                target,
                ignore: item.get("ignore").map(Node::strings).unwrap_or_default(),
                include: item.get("include").map(Node::strings).unwrap_or_default(),
                initial_sync: match item.get("initial_sync") {
                    Some(b) => convert::boolean(b).map_err(|e| unsupported(b, &format!("{at}.initial_sync"), &e))?,
                    None => false,
                },
                action,
            };
            if rule.syncs() && rule.target.is_none() {
                return Err(unsupported(item, &at, "a sync action needs a target"));
            }
            if rule.action == Action::Rebuild && svc.get("build").is_none() {
                return Err(ComposeError::Project(format!("{at}: rebuild needs a build section in service {name:?}")));
            }
            out.push(rule);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::Cx;
    use crate::merge;
    use crate::yaml::parse;

    fn rules_of(text: &str) -> Result<Vec<Rule>> {
        let mut model = parse(text).unwrap();
        merge::normalize(&mut model);
        let lookup = |_: &str| None;
        let plan = Plan {
            project: "p",
            model: &model,
            cx: Cx { project: "p", lookup: &lookup, files: &[], directory: "/app", volumes: &[] },
            known: &[],
        };
        rules(&plan, &[])
    }

    #[test]
    fn rules_map_paths_onto_targets() {
        let text = "services:\n  web:\n    image: w\n    build: .\n    develop:\n      watch:\n        - {action: sync, path: ./src, target: /srv/src/, ignore: [node_modules/], initial_sync: true}\n        - {action: rebuild, path: package.json}\n        - {action: sync+exec, path: /etc/conf, target: /conf, exec: {command: 'kill -HUP 1', user: root}}\n";
        let r = rules_of(text).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].path.as_path(), r[0].initial_sync), (Path::new("/app/src"), true));
        assert_eq!(r[0].target_of(Path::new("/app/src/a/b.js")).as_deref(), Some("/srv/src/a/b.js"));
        assert_eq!(r[0].target_of(Path::new("/app/src")).as_deref(), Some("/srv/src"));
        assert_eq!(r[0].target_of(Path::new("/app/srcx/a")), None, "outside the path");
        assert_eq!(r[0].ignore, ["node_modules/"]);
        assert_eq!(r[1].action, Action::Rebuild);
        let Action::SyncExec(h) = &r[2].action else { panic!("{:?}", r[2].action) };
        assert_eq!(
            (h.command.clone(), h.user.as_deref()),
            (vec!["kill".to_string(), "-HUP".into(), "1".into()], Some("root"))
        );
    }

    #[test]
    fn bad_rules_are_refused() {
        let base = "services:\n  web:\n    image: w\n    develop:\n      watch:\n        - ";
        let cases = [
            ("{action: sync, path: ./src}", "needs a target"),
            ("{action: rebuild, path: .}", "rebuild needs a build section"),
            ("{action: sync+exec, path: ., target: /x}", "needs an exec hook"),
            ("{action: restart, path: ., exec: {command: x}}", "only sync+exec"),
            ("{action: sync, path: ., target: /x, exec_later: 1}", "exec_later"),
        ];
        for (rule, want) in cases {
            let e = rules_of(&format!("{base}{rule}\n")).unwrap_err();
            assert!(e.to_string().contains(want), "{rule}: {e}");
        }
    }
}

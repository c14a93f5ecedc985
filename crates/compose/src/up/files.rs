//! A service's `secrets` and `configs` as files in its containers: one
//! declared with `file:` is bind-mounted read-only; one from `environment:`
//! (or a config's `content:`) is written into the container after create,
//! with its `uid`, `gid` and `mode`. Secrets land in `/run/secrets/<name>`
//! (a relative target is under it), configs in `/<name>`. What the engine
//! cannot give (external ones, drivers, labels, templates) is refused.

use serde_json::{json, Value as J};

use super::plan::Plan;
use crate::backend::Injected;
use crate::convert::{self, unsupported};
use crate::error::{ComposeError, Result};
use crate::yaml::{Node, Value};

/// The bind mounts to add to the create body, and the files to write.
#[derive(Debug, Default)]
pub(super) struct Files {
    pub mounts: Vec<J>,
    pub injected: Vec<Injected>,
}

fn number(n: Option<&Node>, path: &str, default: u32, radix: u32) -> Result<u32> {
    let Some(n) = n else { return Ok(default) };
    let text = convert::text(n).unwrap_or_default();
    // An integer is the number itself (`0440` was read as octal); a string is in `radix` (a mode's digits are octal).
    let parsed = match &n.value {
        Value::Int(i) => u32::try_from(*i).ok(),
        _ => u32::from_str_radix(text.trim_start_matches("0o"), radix).ok(),
    };
    parsed.ok_or_else(|| unsupported(n, path, &format!("{text:?} is not a number")))
}

pub(super) fn of(plan: &Plan, name: &str, svc: &Node) -> Result<Files> {
    let mut files = Files::default();
    for kind in ["secrets", "configs"] {
        let Some(Value::Seq(items)) = svc.get(kind).map(|n| &n.value) else { continue };
        for (i, item) in items.iter().enumerate() {
            let path = format!("services.{name}.{kind}[{i}]");
            let (source, target, spec) = match &item.value {
                Value::Str(s) => (s.clone(), None, None),
                _ => {
                    convert::only_keys(item, &path, &["source", "target", "uid", "gid", "mode"])?;
                    let source = item.get("source").and_then(convert::text).unwrap_or_default();
                    (source, item.get("target").and_then(convert::text), Some(item))
                }
            };
            let decl = plan.model.get(kind).and_then(|d| d.get(&source)).ok_or_else(|| {
                ComposeError::Project(format!(
                    "service {name:?} refers to undefined {} {source:?}",
                    &kind[..kind.len() - 1]
                ))
            })?;
            let dpath = format!("{kind}.{source}");
            let keys: &[&str] = if kind == "secrets" {
                &["name", "file", "environment"]
            } else {
                &["name", "file", "environment", "content"]
            };
            if decl.get("external").is_some() {
                return Err(unsupported(
                    decl,
                    &format!("{dpath}.external"),
                    "external secrets and configs need a swarm; not supported",
                ));
            }
            convert::only_keys(decl, &dpath, keys)?;
            let target = match (kind, target) {
                ("secrets", Some(t)) if !t.starts_with('/') => format!("/run/secrets/{t}"),
                ("secrets", None) => format!("/run/secrets/{source}"),
                (_, Some(t)) => t,
                (_, None) => format!("/{source}"),
            };
            let field = |k: &str| spec.and_then(|s| s.get(k));
            let owner = ["uid", "gid", "mode"].into_iter().find(|k| field(k).is_some());
            if let Some(file) = decl.get("file").and_then(convert::text) {
                if let Some(k) = owner {
                    return Err(unsupported(
                        field(k).expect("found"),
                        &format!("{path}.{k}"),
                        "a file-based secret or config is bind-mounted and keeps the file's own owner and mode",
                    ));
                }
                files.mounts.push(json!({"Type": "bind", "Source": file, "Target": target, "ReadOnly": true}));
                continue;
            }
            let content =
                match (decl.get("environment").and_then(convert::text), decl.get("content").and_then(convert::text)) {
                    (Some(var), _) => (plan.cx.lookup)(&var).ok_or_else(|| {
                        ComposeError::Project(format!("{dpath}: environment variable {var} is not set"))
                    })?,
                    (None, Some(c)) => c,
                    (None, None) => return Err(unsupported(decl, &dpath, "needs one of file, environment or content")),
                };
            files.injected.push(Injected {
                path: target,
                content: content.into_bytes(),
                uid: number(field("uid"), &format!("{path}.uid"), 0, 10)?,
                gid: number(field("gid"), &format!("{path}.gid"), 0, 10)?,
                mode: number(field("mode"), &format!("{path}.mode"), 0o444, 8)?,
            });
        }
    }
    Ok(files)
}

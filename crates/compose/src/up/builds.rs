//! Service builds: a service's `build` as the builder is asked for it, and
//! the builds of `up`/`build`/`run` in an order where every image a build
//! takes from another service (`additional_contexts: {x: service:y}`) is
//! built first (when missing, or built in the same run).

use std::path::PathBuf;

use super::plan::{Plan, Progress};
use crate::backend::{Backend, BuildContext, BuildSpec};
use crate::convert;
use crate::error::{ComposeError, Result};
use crate::yaml::{Node, Value};

/// The keys of a service's `build` that Wharf's builder honours.
const BUILD_KEYS: [&str; 8] =
    ["context", "dockerfile", "args", "target", "labels", "tags", "no_cache", "additional_contexts"];

fn pairs(n: Option<&Node>, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    match n.map(|n| &n.value) {
        Some(Value::Map(_)) => n
            .into_iter()
            .flat_map(Node::entries)
            .filter_map(|(k, v)| convert::text(v).or_else(|| lookup(k)).map(|v| (k.to_string(), v)))
            .collect(),
        Some(Value::Seq(_)) => n
            .map(Node::strings)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|i| match i.split_once('=') {
                Some((k, v)) => Some((k.to_string(), v.to_string())),
                // `ARG` alone: from the environment, or left to the Dockerfile's default.
                None => lookup(&i).map(|v| (i, v)),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The build of service `name`, if it has one; keys the builder does not
/// honour are refused with their path.
pub fn build_spec(plan: &Plan, name: &str, svc: &Node) -> Result<Option<BuildSpec>> {
    let Some(b) = svc.get("build") else { return Ok(None) };
    let path = format!("services.{name}.build");
    convert::only_keys(b, &path, &BUILD_KEYS)?;
    let context = match &b.value {
        Value::Str(s) => s.clone(),
        _ => b.get("context").and_then(convert::text).unwrap_or_else(|| ".".into()),
    };
    let context = if crate::paths::is_remote(&context) {
        if b.get("additional_contexts").is_some() {
            return Err(convert::unsupported(b, &path, "additional_contexts with a remote context are not supported"));
        }
        BuildContext::Remote(context)
    } else {
        let context = PathBuf::from(context);
        BuildContext::Dir(if context.is_absolute() { context } else { PathBuf::from(plan.cx.directory).join(context) })
    };
    let (contexts, needs) = additional_contexts(plan, name, b)?;
    let mut tags = vec![plan.image(name, svc)?];
    tags.extend(b.get("tags").map(Node::strings).unwrap_or_default());
    let no_cache = match b.get("no_cache") {
        Some(n) => convert::boolean(n).map_err(|e| convert::unsupported(n, &format!("{path}.no_cache"), &e))?,
        None => false,
    };
    Ok(Some(BuildSpec {
        service: name.to_string(),
        context,
        dockerfile: b.get("dockerfile").and_then(convert::text).unwrap_or_else(|| "Dockerfile".into()),
        args: pairs(b.get("args"), plan.cx.lookup),
        target: b.get("target").and_then(convert::text),
        labels: pairs(b.get("labels"), &|_| None),
        tags,
        no_cache,
        contexts,
        needs,
    }))
}

/// Named contexts (name, value) and the services they take images from.
type Contexts = (Vec<(String, String)>, Vec<String>);

/// `build.additional_contexts` (a mapping, or `NAME=VALUE` items): the
/// values for the builder (`docker-image://REF`, or an absolute directory)
/// and the services whose images they name (`service:NAME`).
fn additional_contexts(plan: &Plan, name: &str, b: &Node) -> Result<Contexts> {
    let Some(n) = b.get("additional_contexts") else { return Ok((Vec::new(), Vec::new())) };
    let path = format!("services.{name}.build.additional_contexts");
    let items: Vec<(String, Option<String>, &Node)> = match &n.value {
        Value::Map(e) => e.iter().map(|(k, v)| (k.name.clone(), convert::text(v), v)).collect(),
        Value::Seq(items) => items
            .iter()
            .map(|i| {
                let t = convert::text(i).unwrap_or_default();
                match t.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string()), i),
                    None => (t, None, i),
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    let (mut contexts, mut needs) = (Vec::new(), Vec::new());
    for (key, value, at) in items {
        let here = format!("{path}.{key}");
        if contexts.iter().any(|(k, _)| *k == key) {
            return Err(convert::unsupported(at, &here, "the context is named twice"));
        }
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Err(convert::unsupported(
                at,
                &here,
                "a context needs a value (a path, docker-image://REF or service:NAME)",
            ));
        };
        let value = if let Some(other) = value.strip_prefix("service:") {
            let Some(svc) = plan.service(other) else {
                return Err(convert::unsupported(
                    at,
                    &here,
                    &format!("service:{other} names no service of the project"),
                ));
            };
            if other == name {
                return Err(convert::unsupported(at, &here, "a service cannot take its own image as a build context"));
            }
            needs.push(other.to_string());
            format!("docker-image://{}", plan.image(other, svc)?)
        } else if value.starts_with("docker-image://") {
            value
        } else if value.contains("://") || value.starts_with("git@") || value.starts_with("github.com/") {
            return Err(convert::unsupported(
                at,
                &here,
                &format!("{value}: Wharf's builder takes a local directory, docker-image://REF or service:NAME"),
            ));
        } else {
            let p = PathBuf::from(&value);
            let p = if p.is_absolute() { p } else { PathBuf::from(plan.cx.directory).join(p) };
            p.display().to_string()
        };
        contexts.push((key, value));
    }
    Ok((contexts, needs))
}

/// Runs `builds`, each after the builds of the services it takes images
/// from; such a service's image is built first also when it is not in
/// `builds` but missing. A cycle is refused before anything is built.
pub fn build_in_order(plan: &Plan, backend: &dyn Backend, builds: Vec<BuildSpec>, progress: Progress) -> Result<()> {
    let mut queue = builds;
    let mut order: Vec<BuildSpec> = Vec::new();
    // Depth-first: a build goes after what it needs; `path` holds the chain being resolved.
    fn visit(
        plan: &Plan,
        backend: &dyn Backend,
        spec: BuildSpec,
        queue: &mut Vec<BuildSpec>,
        order: &mut Vec<BuildSpec>,
        path: &mut Vec<String>,
    ) -> Result<()> {
        if path.contains(&spec.service) {
            path.push(spec.service);
            return Err(ComposeError::Project(format!("build contexts form a cycle: {}", path.join(" -> "))));
        }
        path.push(spec.service.clone());
        for need in &spec.needs {
            // Before anything else: a cycle is one whether or not its images are there.
            if path.contains(need) {
                path.push(need.clone());
                return Err(ComposeError::Project(format!("build contexts form a cycle: {}", path.join(" -> "))));
            }
            if order.iter().any(|b| &b.service == need) {
                continue;
            }
            let dep = match queue.iter().position(|b| &b.service == need) {
                Some(i) => Some(queue.remove(i)),
                None => {
                    let svc = plan.service(need).expect("checked by additional_contexts");
                    match (backend.image_exists(&plan.image(need, svc)?)?, build_spec(plan, need, svc)?) {
                        (true, _) => None,
                        (false, Some(b)) => Some(b),
                        (false, None) => {
                            return Err(ComposeError::Project(format!(
                                "service {:?} takes the image of service {need:?}, which is not there and has no build",
                                spec.service
                            )))
                        }
                    }
                }
            };
            if let Some(dep) = dep {
                visit(plan, backend, dep, queue, order, path)?;
            }
        }
        path.pop();
        order.push(spec);
        Ok(())
    }
    while !queue.is_empty() {
        let next = queue.remove(0);
        visit(plan, backend, next, &mut queue, &mut order, &mut Vec::new())?;
    }
    for b in &order {
        progress("Service", &b.service, "Building");
        backend.build(b)?;
        progress("Service", &b.service, "Built");
    }
    Ok(())
}

//! The project's other lifecycle verbs on a [`Backend`], as Docker Compose
//! v2 does them: `start` (dependency order), `stop`/`kill` (reverse order),
//! `restart`, `pause`, `unpause`, `rm` (stopped containers), and `down`
//! (containers in reverse dependency order, networks, with `volumes` the
//! named volumes, with `rmi` the images).

use crate::backend::{Backend, Summary};
use crate::error::{ComposeError, Result};
use crate::graph;
use crate::up::{is_true, restarts_after, Plan, Progress};
use crate::yaml::Node;

/// The project's containers of `services` (all of the model's when empty),
/// in start order (by service level, then replica number); one-off
/// containers of `run` only with `oneoff`.
pub fn containers(plan: &Plan, backend: &dyn Backend, services: &[String], oneoff: bool) -> Result<Vec<Summary>> {
    plan.check(services)?;
    let order: Vec<String> = graph::start_order(plan.model)?.into_iter().flatten().collect();
    let mut list: Vec<Summary> = backend
        .containers(plan.project)?
        .into_iter()
        .filter(|c| oneoff || c.label("com.docker.compose.oneoff") != Some("True"))
        .filter(|c| services.is_empty() || c.service().is_some_and(|s| services.iter().any(|x| x == s)))
        .collect();
    let rank = |c: &Summary| order.iter().position(|s| Some(s.as_str()) == c.service()).unwrap_or(usize::MAX);
    list.sort_by(|a, b| (rank(a), a.number(), &a.name).cmp(&(rank(b), b.number(), &b.name)));
    Ok(list)
}

/// `list` in levels of the dependency graph (start order, or reversed);
/// containers of services outside the graph make a last level.
fn levels(plan: &Plan, list: Vec<Summary>, reverse: bool) -> Result<Vec<Vec<Summary>>> {
    let mut order = graph::start_order(plan.model)?;
    if reverse {
        order.reverse();
    }
    let mut left = list;
    let mut out = Vec::new();
    for level in order {
        let (here, rest): (Vec<Summary>, Vec<Summary>) =
            left.into_iter().partition(|c| c.service().is_some_and(|s| level.iter().any(|l| l == s)));
        left = rest;
        if !here.is_empty() {
            out.push(here);
        }
    }
    if !left.is_empty() {
        out.push(left);
    }
    Ok(out)
}

/// A lifecycle verb for each selected container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Start,
    Stop { timeout: Option<i64> },
    Restart { timeout: Option<i64> },
    Kill { signal: Option<String> },
    Pause,
    Unpause,
}

/// Runs `verb` on the containers of `services` (all when empty): start
/// and restart in dependency order, the rest in reverse. Containers the
/// verb does not apply to (`stop` of a stopped one) are left alone.
///
/// `restart` of some services also restarts, after them, the services that
/// depend on one of them with `restart: true`.
pub fn act(plan: &Plan, backend: &dyn Backend, services: &[String], verb: &Verb, progress: Progress) -> Result<()> {
    let mut services = services.to_vec();
    if matches!(verb, Verb::Restart { .. }) && !services.is_empty() {
        loop {
            let more: Vec<String> = plan
                .services()
                .into_iter()
                .filter(|(n, svc)| {
                    !services.iter().any(|s| s == n) && restarts_after(svc).iter().any(|d| services.contains(d))
                })
                .map(|(n, _)| n.to_string())
                .collect();
            if more.is_empty() {
                break;
            }
            services.extend(more);
        }
    }
    let services = &services[..];
    let list = containers(plan, backend, services, false)?;
    let forward = matches!(verb, Verb::Start | Verb::Restart { .. });
    if list.is_empty() && !services.is_empty() && forward {
        return Err(ComposeError::Project(format!("service {:?} has no container to start", services[0])));
    }
    graph::in_levels(&levels(plan, list, !forward)?, |c| {
        let st = c.state.as_str();
        let (doing, done) = match verb {
            Verb::Start if st == "running" => return Ok(()),
            Verb::Start => ("Starting", "Started"),
            Verb::Stop { .. } if !matches!(st, "running" | "paused" | "restarting") => return Ok(()),
            Verb::Stop { .. } => ("Stopping", "Stopped"),
            Verb::Restart { .. } => ("Restarting", "Started"),
            Verb::Kill { .. } if st != "running" => return Ok(()),
            Verb::Kill { .. } => ("Killing", "Killed"),
            Verb::Pause if st != "running" => return Ok(()),
            Verb::Pause => ("Pausing", "Paused"),
            Verb::Unpause if st != "paused" => return Ok(()),
            Verb::Unpause => ("Unpausing", "Unpaused"),
        };
        progress("Container", &c.name, doing);
        match verb {
            Verb::Start => {
                // As `up`: what the service depends on meets its condition first.
                if let Some((name, svc)) = c.service().and_then(|s| plan.service(s).map(|svc| (s, svc))) {
                    crate::up::wait::dependencies(plan, backend, name, svc)?;
                }
                backend.start(&c.id)?
            }
            Verb::Stop { timeout } => backend.stop(&c.id, *timeout)?,
            Verb::Restart { timeout } => backend.restart(&c.id, *timeout)?,
            Verb::Kill { signal } => backend.kill(&c.id, signal.as_deref())?,
            Verb::Pause => backend.pause(&c.id)?,
            Verb::Unpause => backend.unpause(&c.id)?,
        }
        progress("Container", &c.name, done);
        Ok(())
    })
}

/// `rm`: the stopped containers of `services` (with `stop`, running ones
/// are stopped first). Returns what would be or was removed; `confirm`
/// sees the list first and may refuse.
pub fn rm(
    plan: &Plan,
    backend: &dyn Backend,
    services: &[String],
    stop: bool,
    volumes: bool,
    confirm: &mut dyn FnMut(&[Summary]) -> bool,
    progress: Progress,
) -> Result<Vec<Summary>> {
    if stop {
        act(plan, backend, services, &Verb::Stop { timeout: None }, progress)?;
    }
    let list: Vec<Summary> = containers(plan, backend, services, true)?
        .into_iter()
        .filter(|c| !matches!(c.state.as_str(), "running" | "paused" | "restarting"))
        .collect();
    if list.is_empty() || !confirm(&list) {
        return Ok(list);
    }
    for c in &list {
        progress("Container", &c.name, "Removing");
        backend.remove(&c.id, volumes)?;
        progress("Container", &c.name, "Removed");
    }
    Ok(list)
}

/// Which images `down --rmi` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rmi {
    /// Images built for a service without an `image:` name.
    Local,
    /// Every image a service uses.
    All,
}

#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    pub volumes: bool,
    pub remove_orphans: bool,
    pub rmi: Option<Rmi>,
    /// Seconds a container has to stop (`-t`), over its `stop_grace_period`.
    pub timeout: Option<i64>,
}

/// Removes the project's containers (reverse dependency order, one-off
/// ones too), networks, and with `volumes` its volumes (named, and the
/// containers' anonymous ones), with `rmi` its images.
pub fn down(plan: &Plan, backend: &dyn Backend, opts: &DownOptions, progress: Progress) -> Result<()> {
    let all = backend.containers(plan.project)?;
    let (orphans, mine): (Vec<Summary>, Vec<Summary>) = all.into_iter().partition(|c| plan.is_orphan(c));
    let mut order: Vec<Vec<Summary>> = Vec::new();
    if opts.remove_orphans {
        order.push(orphans);
    } else {
        for o in &orphans {
            progress("Warning", &o.name, "Found orphan container (run with --remove-orphans to remove it)");
        }
    }
    // Reverse dependency order; services that are off (profiles) last.
    order.extend(levels(plan, mine, true)?);
    graph::in_levels(&order, |c| {
        if matches!(c.state.as_str(), "running" | "paused" | "restarting") {
            progress("Container", &c.name, "Stopping");
            backend.stop(&c.id, opts.timeout)?;
            progress("Container", &c.name, "Stopped");
        }
        progress("Container", &c.name, "Removing");
        backend.remove(&c.id, opts.volumes)?;
        progress("Container", &c.name, "Removed");
        Ok(())
    })?;
    let mut nets: Vec<String> = backend.networks(plan.project)?;
    nets.sort();
    for n in nets {
        progress("Network", &n, "Removing");
        backend.remove_network(&n)?;
        progress("Network", &n, "Removed");
    }
    if opts.volumes {
        for (key, decl) in plan.model.get("volumes").into_iter().flat_map(Node::entries) {
            let name = plan.volume_name(key);
            if !is_true(decl.get("external")) && backend.volume_exists(&name)? {
                progress("Volume", &name, "Removing");
                backend.remove_volume(&name)?;
                progress("Volume", &name, "Removed");
            }
        }
    }
    if let Some(rmi) = opts.rmi {
        let mut images: Vec<String> = Vec::new();
        for (name, svc) in plan.services() {
            let local = svc.get("image").is_none();
            if rmi == Rmi::All || local {
                let image = plan.image(name, svc)?;
                if !images.contains(&image) {
                    images.push(image);
                }
            }
        }
        for image in images {
            if backend.image_exists(&image)? {
                progress("Image", &image, "Removing");
                backend.remove_image(&image)?;
                progress("Image", &image, "Removed");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;

//! Waiting on containers: a service's dependencies before it starts
//! (`service_started`, `service_healthy`, `service_completed_successfully`),
//! and `up --wait` for the whole project (running, and healthy when a
//! healthcheck says so). The engine's state is read every 100 ms.

use std::time::{Duration, Instant};

use super::plan::{is_true, Plan};
use crate::backend::{Backend, State, Summary};
use crate::error::{ComposeError, Result};
use crate::yaml::{Node, Value};

const POLL: Duration = Duration::from_millis(100);

fn err(m: String) -> ComposeError {
    ComposeError::Project(m)
}

/// Where a container stands for a condition: met, not yet, or failed.
enum Verdict {
    Met,
    Pending,
    Failed(String),
}

fn judge(condition: &str, c: &Summary, st: &State) -> Verdict {
    match condition {
        "service_healthy" => match st.health.as_deref() {
            // An exit first: an engine may drop the health of a stopped container.
            _ if !st.running && st.exit_code.is_some() => {
                Verdict::Failed(format!("container {} exited ({})", c.name, st.exit_code.unwrap_or_default()))
            }
            Some("healthy") if st.running => Verdict::Met,
            Some("unhealthy") => Verdict::Failed(format!("container {} is unhealthy", c.name)),
            None => Verdict::Failed(format!("container {} has no healthcheck", c.name)),
            _ => Verdict::Pending,
        },
        "service_completed_successfully" => match st.exit_code {
            Some(0) if !st.running => Verdict::Met,
            Some(code) if !st.running => Verdict::Failed(format!(
                "service {:?} didn't complete successfully: exit {code}",
                c.service().unwrap_or_default()
            )),
            _ => Verdict::Pending,
        },
        // Running; healthy too if the engine says it has a healthcheck.
        "running" => match st.health.as_deref() {
            Some(_) => judge("service_healthy", c, st),
            None if st.running => Verdict::Met,
            None if st.exit_code.is_some() => {
                Verdict::Failed(format!("container {} exited ({})", c.name, st.exit_code.unwrap_or_default()))
            }
            None => Verdict::Pending,
        },
        _ => Verdict::Met,
    }
}

/// Waits until every container meets its condition; `deadline` ends it.
fn until(backend: &dyn Backend, items: &[(Summary, String)], deadline: Option<Instant>) -> Result<()> {
    let mut left: Vec<&(Summary, String)> = items.iter().collect();
    loop {
        let mut pending = Vec::new();
        for item in left {
            match judge(&item.1, &item.0, &backend.state(&item.0.id)?) {
                Verdict::Met => {}
                Verdict::Pending => pending.push(item),
                Verdict::Failed(m) => return Err(err(m)),
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let names: Vec<&str> = pending.iter().map(|(c, _)| c.name.as_str()).collect();
            return Err(err(format!("timeout waiting for {}", names.join(", "))));
        }
        left = pending;
        std::thread::sleep(POLL);
    }
}

fn replicas_of(backend: &dyn Backend, project: &str, service: &str) -> Result<Vec<Summary>> {
    Ok(backend
        .containers(project)?
        .into_iter()
        .filter(|c| c.service() == Some(service) && c.label("com.docker.compose.oneoff") != Some("True"))
        .collect())
}

/// Waits for the conditions of service `name`'s `depends_on`.
pub fn dependencies(plan: &Plan, backend: &dyn Backend, name: &str, svc: &Node) -> Result<()> {
    let mut items = Vec::new();
    for (dep, d) in svc.get("depends_on").into_iter().flat_map(Node::entries) {
        let condition = d.get("condition").and_then(Node::as_str).unwrap_or("service_started").to_string();
        let required = !matches!(d.get("required").map(|r| &r.value), Some(Value::Bool(false)));
        let containers = replicas_of(backend, plan.project, dep)?;
        if containers.is_empty() && required {
            return Err(err(format!("service {name:?} depends on {dep:?}, which has no container")));
        }
        // Whether it has a healthcheck (the file's or its image's) is the engine's to say: judged at run time.
        items.extend(containers.into_iter().map(|c| (c, condition.clone())));
    }
    until(backend, &items, None).map_err(|e| match e {
        ComposeError::Project(m) if m.starts_with("container ") => err(format!("dependency failed to start: {m}")),
        e => e,
    })
}

/// `up --wait`: every container of `services` running (healthy if it has a
/// healthcheck); a container that a dependant waits on to complete may
/// have exited 0. Fails on an exit, an unhealthy container, or the timeout.
pub fn ready(plan: &Plan, backend: &dyn Backend, services: &[String], timeout: Option<Duration>) -> Result<()> {
    let completes = |s: &str| {
        plan.services().iter().any(|(_, svc)| {
            svc.get("depends_on").and_then(|d| d.get(s)).and_then(|d| d.get("condition")).and_then(Node::as_str)
                == Some("service_completed_successfully")
        })
    };
    let mut items = Vec::new();
    for s in services {
        let svc = plan.service(s).ok_or_else(|| err(format!("no such service: {s}")))?;
        let condition = if completes(s) {
            "service_completed_successfully"
        } else if svc.get("healthcheck").is_some_and(|h| !is_true(h.get("disable"))) {
            "service_healthy"
        } else {
            // Healthy if its image has a healthcheck, else running.
            "running"
        };
        items.extend(replicas_of(backend, plan.project, s)?.into_iter().map(|c| (c, condition.to_string())));
    }
    until(backend, &items, timeout.map(|t| Instant::now() + t))?;
    Ok(())
}

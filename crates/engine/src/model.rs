//! The container record and what it is made of: `Container` (what
//! `container.json` holds), its `State` and `Status`, the restart policy,
//! the create request, and the record's paths and lock. A leaf of the
//! engine: it imports only the option and configuration types it holds.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::logs::LogOptions;
use crate::RunOptions;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        f.write_str(&s)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub status: Status,
    pub pid: i32,
    pub exit_code: i32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub error: String,
    pub oom_killed: bool,
    /// Published ports as served by this run (free host ports chosen).
    pub ports: Vec<crate::options::PortBinding>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    /// The image ID (config digest).
    pub image_id: String,
    pub opts: RunOptions,
    pub labels: BTreeMap<String, String>,
    pub auto_remove: bool,
    pub open_stdin: bool,
    /// Docker's `StdinOnce`: the first attached client's end of input closes
    /// the container's stdin.
    pub stdin_once: bool,
    pub restart_policy: RestartPolicy,
    /// Restarts by the restart policy since the last explicit start.
    pub restart_count: u32,
    /// The image's HEALTHCHECK merged with the request's (None: no probes).
    pub healthcheck: Option<crate::health::Healthcheck>,
    /// Signal `stop` sends first (the image's STOPSIGNAL unless the request has one).
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL, if the request set it.
    pub stop_timeout: Option<u64>,
    pub log: LogOptions,
    /// The runtime it runs with (Docker's `HostConfig.Runtime`).
    pub runtime: crate::runtimes::RuntimeSpec,
    /// The image's config merged with the request (what `inspect` shows as
    /// `Config`: effective Cmd/Entrypoint/Env/WorkingDir/User/ports/volumes).
    pub config: wharf_image::manifest::RunConfig,
    pub state: State,
}

/// Docker's restart policies: `no`, `always`, `unless-stopped`, `on-failure[:max]`.
/// The monitor applies them (with a doubling backoff), so containers are
/// restarted even while the daemon is down.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: u32,
}

impl RestartPolicy {
    /// Parses the CLI form (`on-failure:3`).
    pub fn parse(s: &str) -> Result<RestartPolicy> {
        let (name, max) = match s.split_once(':') {
            Some((n, m)) => (
                n,
                m.parse::<u32>().map_err(|_| EngineError::Invalid {
                    what: "restart policy".into(),
                    reason: format!("maximum retry count must be a non-negative number: {m:?}"),
                })?,
            ),
            None => (s, 0),
        };
        let p = RestartPolicy { name: name.to_string(), maximum_retry_count: max };
        p.validate()?;
        Ok(p)
    }

    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(EngineError::Invalid { what: "restart policy".into(), reason });
        match self.name.as_str() {
            "" | "no" | "always" | "unless-stopped" if self.maximum_retry_count > 0 => {
                invalid(format!("maximum retry count cannot be used with restart policy '{}'", self.name))
            }
            "" | "no" | "always" | "unless-stopped" | "on-failure" => Ok(()),
            other => invalid(format!("invalid restart policy '{other}'")),
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self.name.as_str(), "" | "no")
    }

    /// Whether a container that exited with `code` after `restarts` restarts
    /// is started again (`manually_stopped`: by stop/kill).
    pub fn should_restart(&self, code: i32, restarts: u32, manually_stopped: bool) -> bool {
        if manually_stopped {
            return false;
        }
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => code != 0 && (self.maximum_retry_count == 0 || restarts < self.maximum_retry_count),
            _ => false,
        }
    }
}

impl Container {
    pub fn dir(root: &Path, id: &str) -> PathBuf {
        root.join("containers").join(id)
    }
    /// Where its log driver writes (`None`: a driver that keeps nothing, so
    /// there is nothing to read).
    pub fn log_path(&self, root: &Path) -> Option<PathBuf> {
        self.log.driver().file(&Container::dir(root, &self.id), &self.id)
    }
    /// Written by a SIGKILL through the daemon: read if the monitor dies before
    /// the container (an adoption then reports 137).
    pub fn killed_marker(root: &Path, id: &str) -> PathBuf {
        Container::dir(root, id).join("killed-by")
    }

    /// Present while the user's stop or kill holds off the restart policy.
    pub fn stop_marker(root: &Path, id: &str) -> PathBuf {
        Container::dir(root, id).join("stopped-by-user")
    }

    /// Event attributes: image, name and the container's labels.
    pub fn event(&self, action: &str, extra: &[(&str, String)]) -> crate::events::Event {
        let mut attrs = self.labels.clone();
        attrs.insert("image".into(), self.image.clone());
        attrs.insert("name".into(), self.name.clone());
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        crate::events::Event::new("container", action, &self.id, attrs)
    }
}

/// SIGKILLs one host process (a probe that outlived its timeout).
pub fn kill_process(pid: i32) {
    if pid > 0 {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

/// What `create` needs beyond the run options.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: Option<String>,
    pub opts: RunOptions,
    pub labels: BTreeMap<String, String>,
    pub auto_remove: bool,
    pub open_stdin: bool,
    /// Docker's `StdinOnce`: the first attached client's end of input closes
    /// the container's stdin.
    pub stdin_once: bool,
    pub restart_policy: RestartPolicy,
    pub healthcheck: Option<crate::health::Healthcheck>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u64>,
    pub log: LogOptions,
    /// A runtime name (`--runtime`); `None`: the daemon's default.
    pub runtime: Option<String>,
}

/// An exclusive `flock` on `path` (created if missing), held while the value
/// lives. `wait` false tries once: `None` if someone else holds it.
pub(crate) fn lock_file(path: &Path, wait: bool) -> Result<Option<nix::fcntl::Flock<fs::File>>> {
    let file = fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(EngineError::io("open", path))?;
    let how = if wait { nix::fcntl::FlockArg::LockExclusive } else { nix::fcntl::FlockArg::LockExclusiveNonblock };
    match nix::fcntl::Flock::lock(file, how) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) if !wait => Ok(None),
        Err((_, e)) => Err(EngineError::Io { context: "lock", path: path.to_path_buf(), source: e.into() }),
    }
}

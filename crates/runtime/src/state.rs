//! What a container leaves on disk between runtime invocations: one
//! directory per container under the runtime root, holding `state.json`
//! and, until `start`, the `exec.fifo` the blocked init waits on.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::cgroups::{Cgroup, Hierarchy};
use crate::error::{Result, RuntimeError};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

/// Lifecycle status as the OCI runtime spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The OCI state document (`runtime state ID`, hook stdin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    #[serde(default)]
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

/// Everything the runtime remembers about one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` (field 22 of /proc/PID/stat) so a recycled pid is not mistaken for the container.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub cgroup_path: PathBuf,
    pub spec: Spec,
}

impl Record {
    pub fn dir(root: &Path, id: &str) -> PathBuf {
        root.join(id)
    }

    pub fn load(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        let path = Record::dir(root, id).join(STATE_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(RuntimeError::NotFound(id.to_string())),
            Err(e) => return Err(RuntimeError::Io { context: "read", path, source: e }),
        };
        serde_json::from_slice(&data).map_err(|e| RuntimeError::State { path, reason: e.to_string() })
    }

    /// Writes `state.json` atomically (temp file + rename).
    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = Record::dir(root, &self.id);
        let data =
            serde_json::to_vec(self).map_err(|e| RuntimeError::State { path: dir.clone(), reason: e.to_string() })?;
        write_atomic(&dir.join(STATE_FILE), &data)
    }

    pub fn cgroup(&self) -> Result<Cgroup> {
        Ok(Cgroup::new(Hierarchy::detect()?, self.cgroup_path.clone()))
    }

    /// The live status, derived from the kernel rather than stored.
    pub fn status(&self, root: &Path) -> Status {
        if self.pid <= 0 || !process_alive(self.pid, self.start_time) {
            return Status::Stopped;
        }
        if Record::dir(root, &self.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if self.cgroup().map(|c| c.is_frozen()).unwrap_or(false) {
            return Status::Paused;
        }
        Status::Running
    }

    pub fn state(&self, root: &Path) -> State {
        self.state_with(self.status(root))
    }

    pub fn state_with(&self, status: Status) -> State {
        State {
            oci_version: self.spec.version().clone(),
            id: self.id.clone(),
            status,
            pid: if status == Status::Stopped { 0 } else { self.pid },
            bundle: self.bundle.clone(),
            rootfs: Some(self.rootfs.clone()),
            created: Some(self.created.clone()),
            owner: Some(String::new()),
            annotations: self.spec.annotations().clone().unwrap_or_default(),
        }
    }
}

/// Container ids become directory names: keep them to a safe alphabet.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidId(id.to_string()))
    }
}

/// Field 22 (starttime) and the state letter of /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// True if `pid` still runs and is the same process (same start time); zombies count as gone.
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    match proc_stat(pid) {
        Some((state, start)) => start == start_time && state != 'Z' && state != 'X',
        None => false,
    }
}

pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = fs::File::create(&tmp).map_err(RuntimeError::io("create", &tmp))?;
    f.write_all(data).map_err(RuntimeError::io("write", &tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(RuntimeError::io("rename", path))
}

/// Current time as RFC 3339 with nanoseconds, UTC (what runc writes in `created`).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z') && t.len() == 30, "{t}");
    }

    #[test]
    fn ids() {
        for good in ["abc", "a-b_c.d+e", "0123456789abcdef"] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_own_stat() {
        let me = std::process::id() as i32;
        let (state, start) = proc_stat(me).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(process_alive(me, start));
        assert!(!process_alive(me, start + 1));
    }
}

//! The external backend: drives any runc-compatible binary (runc, crun,
//! youki, or `wharf runtime` itself) through its command line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use oci_spec::runtime::Process;

use crate::error::{Result, RuntimeError};
use crate::native::{CreateOptions, ExecOptions};
use crate::state::State;
use crate::Runtime;

#[derive(Debug, Clone)]
pub struct OciBinary {
    binary: PathBuf,
    /// Arguments placed before the global flags (`runtime` for the wharf binary).
    prefix: Vec<String>,
    root: PathBuf,
}

impl OciBinary {
    pub fn new(binary: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Self {
        OciBinary { binary: binary.into(), prefix: Vec::new(), root: root.into() }
    }

    /// Arguments placed before the global flags, e.g. `["runtime"]` for `wharf runtime`.
    pub fn with_prefix(mut self, prefix: &[&str]) -> Self {
        self.prefix = prefix.iter().map(|s| s.to_string()).collect();
        self
    }

    fn command(&self, log: Option<&Path>) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.prefix).arg("--root").arg(&self.root);
        if let Some(log) = log {
            cmd.arg("--log").arg(log).arg("--log-format").arg("json");
        }
        cmd
    }

    fn fail(&self, verb: &str, message: String) -> RuntimeError {
        // The binary's words are all we get about a missing executable: the
        // one place its message is read, so the engine can match the type.
        if matches!(verb, "create" | "run" | "exec")
            && message.contains("exec:")
            && (message.contains("executable file not found") || message.contains("no such file or directory"))
        {
            return RuntimeError::ExecutableNotFound(message.trim().to_string());
        }
        if matches!(verb, "create" | "run" | "exec")
            && message.contains("exec:")
            && message.contains("permission denied")
        {
            return RuntimeError::ExecutableNotRunnable(message.trim().to_string());
        }
        RuntimeError::External {
            binary: self.binary.clone(),
            verb: verb.to_string(),
            message: message.trim().to_string(),
        }
    }

    /// Runs a verb whose output we capture (the container does not inherit its stdio).
    fn output(&self, verb: &str, args: &[&str]) -> Result<String> {
        let out = self
            .command(None)
            .arg(verb)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.fail(verb, e.to_string()))?;
        if !out.status.success() {
            return Err(self.fail(verb, String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs a verb whose child processes inherit stdio (the container's init
    /// gets the caller's 0-2): errors come from the JSON log.
    fn spawn_logged(&self, verb: &str, args: Vec<String>, stdio: Option<&crate::StdioFds>) -> Result<i32> {
        let log = std::env::temp_dir().join(format!("wharf-ocibin-{}-{}.log", std::process::id(), next_seq()));
        let mut cmd = self.command(Some(&log));
        cmd.arg(verb).args(&args);
        with_stdio(&mut cmd, stdio)?;
        let status = cmd.status().map_err(|e| self.fail(verb, e.to_string()));
        let message = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        let status = status?;
        if status.success() {
            return Ok(0);
        }
        let last_error = message
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["level"] == "error" || v["level"] == "fatal")
            .filter_map(|v| v["msg"].as_str().map(str::to_string))
            .next_back()
            .unwrap_or_else(|| format!("exited with {status}"));
        Err(self.fail(verb, last_error))
    }
}

/// Gives the binary (and so the container's process) the requested stdio.
fn with_stdio(cmd: &mut Command, stdio: Option<&crate::StdioFds>) -> Result<()> {
    if let Some(io) = stdio {
        let (i, o, e) = io.dup()?;
        cmd.stdin(Stdio::from(i)).stdout(Stdio::from(o)).stderr(Stdio::from(e));
    }
    Ok(())
}

fn next_seq() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    SEQ.fetch_add(1, Ordering::Relaxed)
}

impl Runtime for OciBinary {
    fn create(&self, id: &str, opts: &CreateOptions) -> Result<i32> {
        let mut args = vec!["--bundle".to_string(), opts.bundle.display().to_string()];
        // The init's pid comes from a pid file: by the time `state` could be
        // asked, a short-lived process may be gone.
        let own = std::env::temp_dir().join(format!("wharf-ocibin-{}-{}.pid", std::process::id(), next_seq()));
        let pid_file = opts.pid_file.clone().unwrap_or_else(|| own.clone());
        args.extend(["--pid-file".into(), pid_file.display().to_string()]);
        if let Some(p) = &opts.console_socket {
            args.extend(["--console-socket".into(), p.display().to_string()]);
        }
        if opts.preserve_fds > 0 {
            args.extend(["--preserve-fds".into(), opts.preserve_fds.to_string()]);
        }
        if opts.no_pivot {
            args.push("--no-pivot".into());
        }
        args.push(id.into());
        let created = self.spawn_logged("create", args, opts.stdio.as_ref());
        let pid = std::fs::read_to_string(&pid_file).ok().and_then(|p| p.trim().parse::<i32>().ok());
        let _ = std::fs::remove_file(&own);
        created?;
        pid.ok_or_else(|| self.fail("create", format!("no pid in {}", pid_file.display())))
    }

    fn start(&self, id: &str) -> Result<()> {
        self.output("start", &[id]).map(|_| ())
    }

    fn state(&self, id: &str) -> Result<State> {
        let out = self.output("state", &[id])?;
        serde_json::from_str(&out).map_err(|e| self.fail("state", format!("unparsable state {out:?}: {e}")))
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let sig = signal.to_string();
        let mut args = Vec::new();
        if all {
            args.push("--all");
        }
        args.extend([id, sig.as_str()]);
        self.output("kill", &args).map(|_| ())
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        let args: &[&str] = if force { &["--force", id] } else { &[id] };
        self.output("delete", args).map(|_| ())
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.output("pause", &[id]).map(|_| ())
    }

    fn resume(&self, id: &str) -> Result<()> {
        self.output("resume", &[id]).map(|_| ())
    }

    fn ps(&self, id: &str) -> Result<Vec<i32>> {
        let out = self.output("ps", &["--format", "json", id])?;
        serde_json::from_str(&out).map_err(|e| self.fail("ps", format!("unparsable pid list {out:?}: {e}")))
    }

    /// `events --stats`: runc's and crun's JSON (cpu, memory, pids).
    fn stats(&self, id: &str) -> Result<crate::cgroups::CgroupStats> {
        let out = self.output("events", &["--stats", id])?;
        let v: serde_json::Value =
            serde_json::from_str(&out).map_err(|e| self.fail("events", format!("unparsable stats {out:?}: {e}")))?;
        let d = &v["data"];
        let limit = d["memory"]["usage"]["limit"].as_u64().filter(|l| *l != 0 && *l < (1 << 62));
        Ok(crate::cgroups::CgroupStats {
            cpu_usage_ns: d["cpu"]["usage"]["total"].as_u64().unwrap_or(0),
            memory_usage: d["memory"]["usage"]["usage"].as_u64().unwrap_or(0),
            memory_limit: limit,
            pids: d["pids"]["current"].as_u64().unwrap_or(0),
        })
    }

    /// `update --resources FILE`: the LinuxResources JSON runc and crun take.
    fn update(&self, id: &str, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        let file = std::env::temp_dir().join(format!("wharf-resources-{}-{}.json", std::process::id(), next_seq()));
        let data = serde_json::to_vec(resources).map_err(|e| self.fail("update", e.to_string()))?;
        std::fs::write(&file, data).map_err(RuntimeError::io("write", &file))?;
        let result = self.output("update", &["--resources", &file.display().to_string(), id]);
        let _ = std::fs::remove_file(&file);
        result.map(|_| ())
    }

    fn exec(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32> {
        let file = std::env::temp_dir().join(format!("wharf-process-{}-{}.json", std::process::id(), next_seq()));
        let data = serde_json::to_vec(process).map_err(|e| self.fail("exec", e.to_string()))?;
        std::fs::write(&file, data).map_err(RuntimeError::io("write", &file))?;
        let mut args = vec!["--process".to_string(), file.display().to_string()];
        if opts.detach {
            args.push("--detach".into());
        }
        if let Some(p) = &opts.pid_file {
            args.extend(["--pid-file".into(), p.display().to_string()]);
        }
        if let Some(p) = &opts.console_socket {
            args.extend(["--console-socket".into(), p.display().to_string()]);
        }
        args.push(id.into());
        let log = std::env::temp_dir().join(format!("wharf-ocibin-{}-{}.log", std::process::id(), next_seq()));
        let mut cmd = self.command(Some(&log));
        cmd.arg("exec").args(&args).stdin(Stdio::null());
        with_stdio(&mut cmd, opts.stdio.as_ref())?;
        let status = cmd.status();
        let _ = std::fs::remove_file(&file);
        let message = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        let status = status.map_err(|e| self.fail("exec", e.to_string()))?;
        match status.code() {
            Some(0) => Ok(0),
            // A foreground exec returns the process's own exit code; runtime errors also log one.
            Some(code) if !message.contains("\"level\":\"error\"") => Ok(code),
            _ => Err(self.fail("exec", message)),
        }
    }
}

//! OCI hooks: run a program with the container state on stdin, with an
//! optional timeout, and fail if it exits non-zero.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Result, RuntimeError};
use crate::state::State;

pub fn run_all(kind: &'static str, hooks: Option<&Vec<Hook>>, state: &State) -> Result<()> {
    let Some(hooks) = hooks else { return Ok(()) };
    if hooks.is_empty() {
        return Ok(());
    }
    let input = serde_json::to_vec(state).map_err(|e| RuntimeError::Hook(kind, Default::default(), e.to_string()))?;
    for hook in hooks {
        run(kind, hook, &input)?;
    }
    Ok(())
}

fn run(kind: &'static str, hook: &Hook, input: &[u8]) -> Result<()> {
    let fail = |msg: String| RuntimeError::Hook(kind, hook.path().clone(), msg);
    let mut cmd = Command::new(hook.path());
    let args = hook.args().clone().unwrap_or_default();
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin: a broken pipe is not an error.
        let _ = stdin.write_all(input);
    }
    let deadline = hook.timeout().filter(|t| *t > 0).map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| fail(e.to_string()))? {
            break status;
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!("timed out after {}s", hook.timeout().unwrap_or_default())));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    if !status.success() {
        return Err(fail(format!("exited with {status}")));
    }
    Ok(())
}

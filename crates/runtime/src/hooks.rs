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

/// Runs every hook of a kind whose failures do not stop the lifecycle
/// (`poststart`, `poststop`): each failure is logged as a warning and the
/// remaining hooks still run. Returns how many failed.
pub fn run_all_warn(kind: &'static str, hooks: Option<&Vec<Hook>>, state: &State) -> usize {
    let Some(hooks) = hooks.filter(|h| !h.is_empty()) else { return 0 };
    let input = match serde_json::to_vec(state) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!("{kind} hooks not run: state: {e}");
            return hooks.len();
        }
    };
    let mut failed = 0;
    for hook in hooks {
        if let Err(e) = run(kind, hook, &input) {
            tracing::warn!("{e}");
            failed += 1;
        }
    }
    failed
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

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;

    fn state() -> State {
        State {
            oci_version: "1.0.2".into(),
            id: "c1".into(),
            status: crate::state::Status::Running,
            pid: 1,
            bundle: "/b".into(),
            rootfs: None,
            created: None,
            owner: None,
            annotations: Default::default(),
        }
    }

    #[test]
    fn warn_only_hooks_all_run_despite_failures() {
        let tmp = tempfile::tempdir().unwrap();
        let marker = tmp.path().join("ran");
        let failing = HookBuilder::default().path("/bin/false").build().unwrap();
        let writing = HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".into(), "-c".into(), format!("cat > {}", marker.display())])
            .build()
            .unwrap();
        let hooks = vec![failing.clone(), writing, failing];
        assert_eq!(run_all_warn("poststart", Some(&hooks), &state()), 2);
        let got: serde_json::Value = serde_json::from_slice(&std::fs::read(&marker).unwrap()).unwrap();
        assert_eq!(got["id"], "c1", "the hook after a failing one ran with the state");
        // run_all stops at the first failure.
        std::fs::remove_file(&marker).unwrap();
        assert!(run_all("prestart", Some(&hooks), &state()).is_err());
        assert!(!marker.exists());
        assert_eq!(run_all_warn("poststop", None, &state()), 0);
    }
}

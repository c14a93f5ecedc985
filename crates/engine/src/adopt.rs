//! Recovery: containers whose monitor died (the daemon adopts them), the
//! records of a daemon start (`reconcile`), and Docker's restart-at-start.
//!
//! A monitor killed with SIGKILL (or crashed) leaves its container running
//! with nobody to record its exit. The daemon notices at once (the monitor's
//! socket reaches EOF without an exit frame), then [`Engine::adopt`] waits on
//! the container's init through a pidfd, does the teardown the monitor would
//! have done, records the exit, and lets the restart policy start a new
//! monitor. The init is no child of the daemon, so its exit status is not
//! observable: the exit is recorded with code 255 (Docker's "unknown"), or
//! 128+signal when the daemon itself killed the container.

use std::os::unix::net::UnixStream;
use std::path::Path;

use rustix::event::{poll, PollFd, PollFlags};
use rustix::process::{pidfd_open, Pid, PidfdFlags};

use crate::error::Result;
use crate::model::{Container, Status};
use crate::Engine;
use wharf_common::time::now;

/// The exit code recorded when the container's own status cannot be read.
pub const UNKNOWN_EXIT: i32 = 255;

impl Engine {
    /// Finds containers whose monitor died with them still marked running
    /// (host reboot, killed monitor) and marks them exited.
    pub fn reconcile(&self) -> Result<()> {
        for mut c in self.list()? {
            // A live init without its monitor is left running: the daemon adopts it.
            if matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting)
                && UnixStream::connect(self.monitor_socket(&c.id)).is_err()
                && self.init_alive(&c.id).is_none()
            {
                c = self
                    .update(&c.id, |c| {
                        c.state.status = Status::Exited;
                        c.state.exit_code = if c.state.exit_code == 0 { UNKNOWN_EXIT } else { c.state.exit_code };
                        c.state.finished_at = Some(now());
                        c.state.pid = 0;
                        Ok(())
                    })?
                    .0;
                self.unwire(&c.id);
            }
            if c.auto_remove && c.state.status == Status::Exited {
                self.cleanup(&c.id);
            }
        }
        Ok(())
    }

    /// At daemon start, as Docker does: containers with restart policy
    /// `always` that are not running are started, and so are `unless-stopped`
    /// ones the user did not stop. Returns the ids started.
    pub fn start_by_policy(&self, monitor_exe: &Path) -> Vec<String> {
        let mut started = Vec::new();
        for c in self.list().unwrap_or_default() {
            let stopped_by_user = Container::stop_marker(self.root(), &c.id).exists();
            let wanted = match c.restart_policy.name.as_str() {
                "always" => true,
                "unless-stopped" => !stopped_by_user,
                _ => false,
            };
            if wanted && c.state.status == Status::Exited {
                match self.start(&c.id, monitor_exe, 0) {
                    Ok(_) => started.push(c.id),
                    Err(e) => tracing::warn!("restart policy: start {}: {e}", c.id),
                }
            }
        }
        started
    }

    /// What a run held once its init has exited: the runtime state (anything
    /// left in the cgroup is killed), the network sandbox, the rootfs mount.
    /// Done by the monitor after every exit, and by an adoption.
    pub(crate) fn release_run(&self, id: &str) {
        let _ = self.runtime_for(id).delete(id, true);
        self.unwire(id);
        self.host().unmount(&Container::dir(self.root(), id).join("rootfs"));
    }

    /// Whether the container's init, as the runtime knows it, still runs.
    pub(crate) fn init_alive(&self, id: &str) -> Option<i32> {
        let st = self.runtime_for(id).state(id).ok()?;
        (st.pid > 0 && matches!(st.status, wharf_runtime::Status::Running | wharf_runtime::Status::Paused))
            .then_some(st.pid)
    }

    /// Called when `id`'s monitor socket closed without an exit frame. `None`
    /// if a monitor is in fact alive (it holds its lock: the caller waits on
    /// it again). Otherwise, if the record still says the container runs,
    /// waits (blocking) until its init exits, tears down what the monitor
    /// held, records the exit and applies the restart policy. Returns the
    /// recorded exit code. Concurrent calls for one container are serialised
    /// by the monitor lock.
    pub fn adopt(&self, id: &str, monitor_exe: &Path) -> Result<Option<i32>> {
        let c = self.get(id)?;
        let Some(lock) = crate::monitor::monitor_lock(self, &c.id, false)? else { return Ok(None) };
        // Re-read under the lock: an adoption that ran meanwhile has recorded the exit.
        let c = self.get(&c.id)?;
        if !matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting) {
            return Ok(Some(c.state.exit_code));
        }
        if let Some(pid) = self.init_alive(&c.id) {
            tracing::warn!("container {}: its monitor died; the daemon follows it", c.id);
            self.wait_for_exit(&c.id, pid);
        }
        let code = std::fs::read_to_string(Container::killed_marker(self.root(), &c.id))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .map(|sig| 128 + sig)
            .unwrap_or(UNKNOWN_EXIT);
        self.release_run(&c.id);
        let _ = std::fs::remove_file(self.monitor_socket(&c.id));
        let by_user = Container::stop_marker(self.root(), &c.id).exists();
        let (c, again) = self.update(&c.id, |c| {
            let again = c.restart_policy.should_restart(code, c.restart_count, by_user);
            c.state.status = Status::Exited;
            c.state.exit_code = code;
            c.state.pid = 0;
            c.state.finished_at = Some(now());
            c.state.error = "the container's monitor died".into();
            if again {
                c.restart_count += 1;
            }
            Ok(again)
        })?;
        self.emit(&c.event("die", &[("exitCode", code.to_string())]));
        // The new monitor takes the lock itself.
        drop(lock);
        if again {
            if let Err(e) = self.start_container(self.get(&c.id)?, monitor_exe, 0, true) {
                tracing::warn!("restart {} after its monitor died: {e}", c.id);
            }
        }
        Ok(Some(code))
    }

    /// Blocks until the process `pid` (the container's init) has exited: on
    /// its pidfd, or where pidfds are unavailable by watching the runtime's
    /// view of it. Never returns while the init still runs.
    fn wait_for_exit(&self, id: &str, pid: i32) {
        // A pidfd pins the process: the pid cannot be reused under us. Check
        // it is still the container's init after opening it.
        if let Some(fd) = Pid::from_raw(pid).and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok()) {
            if self.init_alive(id) != Some(pid) {
                return;
            }
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            loop {
                match poll(&mut fds, None) {
                    Ok(_) => return,
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => break,
                }
            }
        }
        while self.init_alive(id) == Some(pid) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

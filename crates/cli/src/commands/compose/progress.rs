//! Progress lines as Compose v2 prints them, on stderr: plain (every
//! event, ` Container shop-web-1  Started`) when stderr is not a terminal
//! or `--progress plain`; on a terminal (`tty`) one line per finished
//! step with a mark and its time (` ✔ Container shop-web-1  Started  0.4s`);
//! nothing with `quiet`. Warnings are always printed.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Tty,
    Quiet,
}

pub struct Printer {
    mode: Mode,
    began: Mutex<HashMap<String, Instant>>,
}

/// The statuses that end a step (the others are in progress).
const DONE: [&str; 12] = [
    "Created", "Started", "Running", "Stopped", "Removed", "Killed", "Paused", "Unpaused", "Pulled", "Built",
    "Healthy", "Pushed",
];

impl Printer {
    pub fn new(mode: &str) -> Printer {
        let mode = match mode {
            "plain" => Mode::Plain,
            "tty" => Mode::Tty,
            "quiet" => Mode::Quiet,
            _ if std::io::stderr().is_terminal() => Mode::Tty,
            _ => Mode::Plain,
        };
        Printer { mode, began: Mutex::new(HashMap::new()) }
    }

    pub fn event(&self, kind: &str, name: &str, status: &str) {
        let mut err = std::io::stderr().lock();
        if kind == "Warning" {
            let _ = writeln!(err, "WARN[0000] {name}: {status}");
            return;
        }
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                let _ = writeln!(err, " {kind} {name}  {status}");
            }
            Mode::Tty => {
                let key = format!("{kind} {name}");
                let mut began = self.began.lock().unwrap_or_else(|e| e.into_inner());
                let start = *began.entry(key.clone()).or_insert_with(Instant::now);
                if DONE.contains(&status) {
                    began.remove(&key);
                    let secs = start.elapsed().as_secs_f64();
                    let _ = writeln!(err, " \x1b[32m✔\x1b[0m {key}  \x1b[34m{status}\x1b[0m  {secs:.1}s");
                }
            }
        }
    }
}

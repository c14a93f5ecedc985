//! Pull/push/load progress as the docker CLI shows it, for both engines: on
//! a terminal one live line per layer with a bar, redrawn in place;
//! otherwise one line per change of status. The local engine feeds it
//! through the registry's `Progress`, the remote one from the daemon's JSON
//! progress stream ([`Renderer::follow`]).

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::sync::Mutex;

use anyhow::{bail, Result};
use serde_json::Value;
use wharf_image::registry::Progress;

use super::human_size;

pub struct Renderer {
    tty: bool,
    quiet: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    order: Vec<String>,
    lines: BTreeMap<String, String>,
    last_status: BTreeMap<String, String>,
    drawn: usize,
}

/// A progress bar like the docker CLI's: `[=====>     ]  12.3MB/40MB`.
pub fn bar(current: u64, total: u64) -> String {
    const WIDTH: usize = 50;
    let done = ((current.min(total) as f64 / total.max(1) as f64) * WIDTH as f64) as usize;
    let arrow = if done < WIDTH { ">" } else { "" };
    format!(
        "[{}{arrow}{}] {:>8}/{}",
        "=".repeat(done.saturating_sub(usize::from(done < WIDTH && done > 0))),
        " ".repeat(WIDTH - done.min(WIDTH)),
        human_size(current),
        human_size(total)
    )
}

impl Renderer {
    pub fn new(quiet: bool) -> Renderer {
        Renderer::with_terminal(quiet, nix::unistd::isatty(std::io::stdout()).unwrap_or(false))
    }

    pub fn with_terminal(quiet: bool, tty: bool) -> Renderer {
        Renderer { tty, quiet, state: Mutex::new(State::default()) }
    }

    /// A whole-image message (`Status: Downloaded newer image for …`), shown unless quiet.
    pub fn message(&self, text: &str) {
        self.update("", text, 0, None);
    }

    /// Renders a daemon's JSON progress stream; `stream` entries are text
    /// (load's "Loaded image: …", collected into the result), `aux` the
    /// result's details. The stream's `error` fails.
    pub fn follow(&self, body: impl Read) -> Result<Followed> {
        let mut followed = Followed::default();
        for line in std::io::BufReader::new(body).lines() {
            let line = line?;
            let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
            if let Some(e) = v["error"].as_str() {
                bail!("{e}");
            }
            if let Some(s) = v["stream"].as_str() {
                followed.stream.push_str(s);
                continue;
            }
            if !v["aux"].is_null() {
                followed.aux = Some(v["aux"].clone());
            }
            let Some(status) = v["status"].as_str() else { continue };
            let detail = &v["progressDetail"];
            self.update(
                v["id"].as_str().unwrap_or(""),
                status,
                detail["current"].as_u64().unwrap_or(0),
                detail["total"].as_u64(),
            );
        }
        Ok(followed)
    }
}

/// What a followed stream carried besides progress.
#[derive(Debug, Default)]
pub struct Followed {
    pub stream: String,
    pub aux: Option<Value>,
}

impl wharf_image::registry::Progress for Renderer {
    fn update(&self, id: &str, status: &str, current: u64, total: Option<u64>) {
        if self.quiet {
            return;
        }
        let Ok(mut st) = self.state.lock() else { return };
        let mut out = std::io::stdout().lock();
        let text = match total {
            Some(t) if t > 0 && self.tty => format!("{id}: {status} {}", bar(current, t)),
            _ if id.is_empty() => status.to_string(),
            _ => format!("{id}: {status}"),
        };
        if !self.tty {
            // Plain output: one line per change of status.
            if st.last_status.get(id).map(String::as_str) != Some(status) || id.is_empty() {
                st.last_status.insert(id.to_string(), status.to_string());
                let _ = writeln!(out, "{text}");
            }
            return;
        }
        if id.is_empty() {
            let _ = writeln!(out, "{text}");
            *st = State::default();
            return;
        }
        if !st.lines.contains_key(id) {
            st.order.push(id.to_string());
        }
        st.lines.insert(id.to_string(), text);
        // Redraw the live block in place.
        if st.drawn > 0 {
            let _ = write!(out, "\x1b[{}A", st.drawn);
        }
        for i in &st.order {
            let _ = writeln!(out, "\x1b[2K{}", st.lines[i]);
        }
        st.drawn = st.order.len();
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_streams() {
        let b = bar(5 << 20, 10 << 20);
        assert!(b.starts_with('[') && b.contains('>') && b.contains("MB/"), "{b}");
        assert!(bar(10, 10).starts_with(&format!("[{}]", "=".repeat(50))));
        let r = Renderer::with_terminal(true, false);
        let err = r.follow(&b"{\"status\":\"Pulling\"}\n{\"error\":\"boom\"}\n"[..]).unwrap_err();
        assert_eq!(err.to_string(), "boom");
        let got =
            r.follow(&b"{\"stream\":\"Loaded image: a:1\\n\"}\n{\"aux\":{\"Digest\":\"sha256:ab\"}}\n"[..]).unwrap();
        assert_eq!(
            (got.stream.as_str(), got.aux.unwrap()["Digest"].as_str()),
            ("Loaded image: a:1\n", Some("sha256:ab"))
        );
    }
}

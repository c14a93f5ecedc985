//! Logging for the runtime command line: runc's `--log` file, in text or in
//! the JSON-lines shape containerd's shim parses (`level`, `msg`, `time`).

use std::fmt;
use std::fs::OpenOptions;
use std::path::Path;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

struct RuncJson;

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

impl<S, N> FormatEvent<S, N> for RuncJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut msg = Message::default();
        event.record(&mut msg);
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let line = serde_json::json!({"level": level, "msg": msg.0, "time": wharf_runtime::state::now_rfc3339()});
        writeln!(w, "{line}")
    }
}

/// Sends `tracing` output to `log` (or stderr for warnings and worse).
pub fn init(log: Option<&Path>, json: bool, debug: bool) {
    let level = if debug { Level::DEBUG } else { Level::WARN };
    let builder = tracing_subscriber::fmt().with_max_level(level).with_ansi(false);
    let file = log.and_then(|p| OpenOptions::new().create(true).append(true).open(p).ok());
    match (file, json) {
        (Some(f), true) => {
            let _ = builder.event_format(RuncJson).with_writer(std::sync::Mutex::new(f)).try_init();
        }
        (Some(f), false) => {
            let _ = builder.with_writer(std::sync::Mutex::new(f)).try_init();
        }
        (None, _) => {
            let _ = builder.with_writer(std::io::stderr).try_init();
        }
    }
}

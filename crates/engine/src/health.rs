//! Healthchecks: the configuration (image `HEALTHCHECK` merged with the
//! request, Docker's rules and defaults), and the health state machine.
//! The daemon runs the probes; the state lives in `<container>/health.json`
//! (its own file, so probes never race the container record).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// Docker's `HealthConfig`; durations in nanoseconds, 0 = inherit/default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Healthcheck {
    #[serde(deserialize_with = "null_as_default")]
    pub test: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub interval: i64,
    #[serde(deserialize_with = "null_as_default")]
    pub timeout: i64,
    #[serde(deserialize_with = "null_as_default")]
    pub start_period: i64,
    #[serde(deserialize_with = "null_as_default")]
    pub retries: i64,
}

/// JSON `null` as the field's default (clients send unset fields as null, as Docker accepts).
fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: i64 = 3;
/// Log entries kept, and bytes of output per entry (as Docker).
const MAX_LOG: usize = 5;
const MAX_OUTPUT: usize = 4096;

impl Healthcheck {
    /// The request's fields override the image's field by field; `["NONE"]` disables.
    pub fn merge(image: Option<&serde_json::Value>, request: Option<&Healthcheck>) -> Result<Option<Healthcheck>> {
        let base: Healthcheck = match image {
            Some(v) if !v.is_null() => serde_json::from_value(v.clone())
                .map_err(|e| EngineError::Invalid { what: "image healthcheck".into(), reason: e.to_string() })?,
            _ => Healthcheck::default(),
        };
        let mut hc = base;
        if let Some(r) = request {
            if !r.test.is_empty() {
                hc.test = r.test.clone();
            }
            for (mine, theirs) in [
                (&mut hc.interval, r.interval),
                (&mut hc.timeout, r.timeout),
                (&mut hc.start_period, r.start_period),
                (&mut hc.retries, r.retries),
            ] {
                if theirs != 0 {
                    *mine = theirs;
                }
            }
        }
        hc.validate()?;
        Ok(match hc.test.first().map(String::as_str) {
            None | Some("NONE") => None,
            _ => Some(hc),
        })
    }

    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: &str| Err(EngineError::Invalid { what: "healthcheck".into(), reason: reason.into() });
        let min = Duration::from_millis(1).as_nanos() as i64;
        for (name, v) in [("Interval", self.interval), ("Timeout", self.timeout), ("StartPeriod", self.start_period)] {
            if v != 0 && v < min {
                return invalid(&format!("{name} in Healthcheck cannot be less than 1ms"));
            }
        }
        if self.retries < 0 {
            return invalid("Retries in Healthcheck cannot be negative");
        }
        match self.test.first().map(String::as_str) {
            None | Some("NONE") => Ok(()),
            Some("CMD") | Some("CMD-SHELL") if self.test.len() > 1 => Ok(()),
            Some("CMD") | Some("CMD-SHELL") => invalid("Healthcheck test has no command"),
            Some(other) => invalid(&format!("unknown Healthcheck test type {other:?}: use CMD, CMD-SHELL or NONE")),
        }
    }

    /// The probe's argv (`CMD-SHELL` runs under `/bin/sh -c`).
    pub fn command(&self) -> Vec<String> {
        match self.test.first().map(String::as_str) {
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), self.test[1..].join(" ")],
            Some("CMD") => self.test[1..].to_vec(),
            _ => Vec::new(),
        }
    }

    fn nanos(v: i64, default: Duration) -> Duration {
        if v > 0 {
            Duration::from_nanos(v as u64)
        } else {
            default
        }
    }
    pub fn interval(&self) -> Duration {
        Self::nanos(self.interval, DEFAULT_INTERVAL)
    }
    pub fn timeout(&self) -> Duration {
        Self::nanos(self.timeout, DEFAULT_TIMEOUT)
    }
    pub fn start_period(&self) -> Duration {
        Self::nanos(self.start_period, Duration::ZERO)
    }
    pub fn retries(&self) -> i64 {
        if self.retries > 0 {
            self.retries
        } else {
            DEFAULT_RETRIES
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// Docker's `Health` in `State`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<Probe>,
}

impl Default for Health {
    fn default() -> Self {
        Health { status: "starting".into(), failing_streak: 0, log: Vec::new() }
    }
}

impl Health {
    /// Applies one probe; returns true if the status changed. Failures during
    /// the start period do not count (unless a success already ended it).
    pub fn record(&mut self, mut probe: Probe, hc: &Healthcheck, in_start_period: bool) -> bool {
        let before = self.status.clone();
        if probe.output.len() > MAX_OUTPUT {
            let mut cut = MAX_OUTPUT;
            while !probe.output.is_char_boundary(cut) {
                cut -= 1;
            }
            probe.output.truncate(cut);
        }
        if probe.exit_code == 0 {
            self.failing_streak = 0;
            self.status = "healthy".into();
        } else if !(in_start_period && self.status == "starting") {
            self.failing_streak += 1;
            if self.failing_streak >= hc.retries() {
                self.status = "unhealthy".into();
            }
        }
        self.log.push(probe);
        if self.log.len() > MAX_LOG {
            self.log.remove(0);
        }
        self.status != before
    }
}

pub fn path(root: &Path, id: &str) -> PathBuf {
    crate::Container::dir(root, id).join("health.json")
}

pub fn load(root: &Path, id: &str) -> Option<Health> {
    serde_json::from_slice(&fs::read(path(root, id)).ok()?).ok()
}

/// Atomic replace (a crash leaves the old or the new state).
pub fn save(root: &Path, id: &str, h: &Health) -> Result<()> {
    let p = path(root, id);
    let tmp = p.with_extension("json.tmp");
    let data = serde_json::to_vec(h).map_err(|e| EngineError::Other(e.to_string()))?;
    fs::write(&tmp, data).map_err(EngineError::io("write", &tmp))?;
    fs::rename(&tmp, &p).map_err(EngineError::io("rename", &p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_are_defaults() {
        let hc: Healthcheck = serde_json::from_str(
            r#"{"Test":["CMD","true"],"Interval":null,"Timeout":null,"StartPeriod":null,"Retries":null}"#,
        )
        .unwrap();
        assert_eq!((hc.interval, hc.retries), (0, 0));
        let none: Healthcheck = serde_json::from_str(r#"{"Test":null}"#).unwrap();
        assert!(none.test.is_empty());
    }

    fn hc(test: &[&str]) -> Healthcheck {
        Healthcheck { test: test.iter().map(|s| s.to_string()).collect(), ..Default::default() }
    }

    #[test]
    fn merge_and_validate() {
        let image = serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000i64, "Retries": 2});
        let merged = Healthcheck::merge(Some(&image), None).unwrap().unwrap();
        assert_eq!(merged.command(), ["/bin/sh", "-c", "true"]);
        assert_eq!(merged.interval(), Duration::from_secs(5));
        assert_eq!(merged.timeout(), DEFAULT_TIMEOUT);
        let req = Healthcheck { interval: 1_000_000_000, ..hc(&["CMD", "ls", "/"]) };
        let merged = Healthcheck::merge(Some(&image), Some(&req)).unwrap().unwrap();
        assert_eq!(
            (merged.command(), merged.interval(), merged.retries()),
            (vec!["ls".into(), "/".into()], Duration::from_secs(1), 2)
        );
        assert_eq!(Healthcheck::merge(Some(&image), Some(&hc(&["NONE"]))).unwrap(), None);
        assert_eq!(Healthcheck::merge(None, None).unwrap(), None);
        assert!(Healthcheck::merge(None, Some(&hc(&["CMD"]))).is_err());
        assert!(Healthcheck::merge(None, Some(&hc(&["RUN", "x"]))).is_err());
        assert!(Healthcheck::merge(None, Some(&Healthcheck { interval: 5, ..hc(&["CMD", "x"]) })).is_err());
    }

    #[test]
    fn state_machine() {
        let c = Healthcheck { retries: 2, ..hc(&["CMD", "x"]) };
        let probe = |code| Probe { exit_code: code, output: "o".into(), ..Default::default() };
        let mut h = Health::default();
        assert!(!h.record(probe(1), &c, true), "start period: failures do not count");
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        assert!(h.record(probe(0), &c, true));
        assert_eq!(h.status, "healthy");
        assert!(!h.record(probe(1), &c, false));
        assert!(h.record(probe(1), &c, false));
        assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 2));
        for _ in 0..10 {
            h.record(probe(0), &c, false);
        }
        assert_eq!(h.log.len(), MAX_LOG);
        let mut long = probe(0);
        long.output = "é".repeat(MAX_OUTPUT);
        h.record(long, &c, false);
        assert!(h.log.last().unwrap().output.len() <= MAX_OUTPUT);
    }
}

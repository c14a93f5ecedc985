//! The event journal: every lifecycle event (container, image, volume) is
//! one JSON line appended to `<data-root>/events.jsonl`, in Docker's event
//! message shape. Writers are the daemon and every container monitor (which
//! reports `die`, restarts and health changes even while the daemon is
//! down); `O_APPEND` writes of one line keep concurrent writers whole. The
//! daemon follows the file (inotify) to stream `/events`, and reads it back
//! for `since`. The journal rotates once at 4 MiB (`events.jsonl.1`).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

const MAX_JOURNAL: u64 = 4 << 20;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// Docker's `events` message (with the pre-1.22 `status`/`id`/`from` fields the CLI still reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "Type")]
    pub typ: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub time: i64,
    #[serde(rename = "timeNano", default)]
    pub time_nano: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from: Option<String>,
}

impl Event {
    pub fn new(typ: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Event {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_nanos() as i64;
        let container = typ == "container";
        Event {
            typ: typ.into(),
            action: action.into(),
            status: container.then(|| action.to_string()),
            id: container.then(|| id.to_string()),
            from: if container { attributes.get("image").cloned() } else { None },
            actor: Actor { id: id.into(), attributes },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        }
    }
}

pub fn journal_path(root: &Path) -> PathBuf {
    root.join("events.jsonl")
}

/// Appends one event; failures are logged, never fatal (events are advisory).
pub fn emit(root: &Path, event: &Event) {
    let path = journal_path(root);
    let mut line = match serde_json::to_vec(event) {
        Ok(l) => l,
        Err(_) => return,
    };
    line.push(b'\n');
    let result = OpenOptions::new().create(true).append(true).open(&path).and_then(|mut f| {
        f.write_all(&line)?;
        if f.metadata()?.len() > MAX_JOURNAL {
            fs::rename(&path, path.with_extension("jsonl.1"))?;
        }
        Ok(())
    });
    if let Err(e) = result {
        tracing::warn!("event journal {}: {e}", path.display());
    }
}

/// Events already in the journal (oldest first), rotated part included.
pub fn history(root: &Path) -> Vec<Event> {
    let path = journal_path(root);
    let mut out = Vec::new();
    for p in [path.with_extension("jsonl.1"), path] {
        if let Ok(f) = File::open(&p) {
            out.extend(
                BufReader::new(f).lines().map_while(|l| l.ok()).filter_map(|l| serde_json::from_str::<Event>(&l).ok()),
            );
        }
    }
    out
}

/// Follows the journal from its current end, calling `f` for each new event
/// until it returns false. Blocks (inotify on the data root); run it on a
/// dedicated thread.
pub fn follow(root: &Path, mut f: impl FnMut(Event) -> bool) -> crate::Result<()> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let err = |e: nix::Error| crate::EngineError::Other(format!("inotify: {e}"));
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC).map_err(err)?;
    fs::create_dir_all(root).map_err(crate::EngineError::io("create", root))?;
    inotify
        .add_watch(root, AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_FROM)
        .map_err(err)?;
    let path = journal_path(root);
    let inode = |f: &File| f.metadata().map(|m| std::os::unix::fs::MetadataExt::ino(&m)).ok();
    let mut reader: Option<BufReader<File>> = File::open(&path).ok().and_then(|mut file| {
        file.seek(SeekFrom::End(0)).ok()?;
        Some(BufReader::new(file))
    });
    let mut pending = String::new();
    loop {
        let events = inotify.read_events().map_err(err)?;
        if !events.iter().any(|e| e.name.as_deref().is_some_and(|n| n == "events.jsonl")) {
            continue;
        }
        // Drain the file we follow; if the journal was rotated, continue with the new one from its start.
        loop {
            if let Some(r) = reader.as_mut() {
                while r.read_line(&mut pending).is_ok_and(|n| n > 0) {
                    if !pending.ends_with('\n') {
                        break; // a line still being written: the next event completes it
                    }
                    let line = std::mem::take(&mut pending);
                    if let Ok(ev) = serde_json::from_str::<Event>(&line) {
                        if !f(ev) {
                            return Ok(());
                        }
                    }
                }
            }
            let current = File::open(&path).ok();
            let followed = reader.as_ref().and_then(|r| inode(r.get_ref()));
            match current {
                Some(file) if inode(&file) != followed => {
                    pending.clear();
                    reader = Some(BufReader::new(file));
                }
                _ => break,
            }
        }
    }
}

/// One `label` filter value, `key` or `key=value`, against a label map.
pub fn label_matches(labels: &BTreeMap<String, String>, v: &str) -> bool {
    match v.split_once('=') {
        Some((k, val)) => labels.get(k).is_some_and(|x| x == val),
        None => labels.contains_key(v),
    }
}

/// Docker's rule for the values of one filter key: `label` values must all
/// match, any other key's values are alternatives.
pub fn key_matches(key: &str, values: &[String], pred: impl Fn(&String) -> bool) -> bool {
    if key == "label" {
        values.iter().all(pred)
    } else {
        values.iter().any(pred)
    }
}

/// Docker's `/events` filters: `type`, `event`, `container`, `image`, `volume`,
/// `network`, `label` (`key` or `key=value`); values of one key are ORed
/// (labels: all must match), keys are ANDed.
#[derive(Debug, Clone, Default)]
pub struct Filter(pub BTreeMap<String, Vec<String>>);

impl Filter {
    pub fn matches(&self, e: &Event) -> bool {
        self.0.iter().all(|(key, values)| {
            let pred = |v: &String| {
                let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str).unwrap_or("");
                match key.as_str() {
                    "type" => e.typ == *v,
                    "event" => e.action == *v || e.action.split(':').next() == Some(v.as_str()),
                    "container" => e.typ == "container" && (e.actor.id.starts_with(v.as_str()) || attr("name") == v),
                    "image" => {
                        (e.typ == "image" && (e.actor.id == *v || attr("name") == v))
                            || (e.typ == "container"
                                && (attr("image") == v || attr("image").split(':').next() == Some(v)))
                    }
                    "volume" => e.typ == "volume" && e.actor.id == *v,
                    "network" => e.typ == "network" && (e.actor.id == *v || attr("name") == v),
                    "label" => label_matches(&e.actor.attributes, v),
                    "daemon" | "scope" => true,
                    _ => false,
                }
            };
            key_matches(key, values, pred)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn journal_round_trip_and_rotation() {
        let tmp = tempfile::tempdir().unwrap();
        let e = Event::new("container", "start", "abc", attrs(&[("image", "bb"), ("name", "web")]));
        emit(tmp.path(), &e);
        let h = history(tmp.path());
        assert_eq!(h, vec![e.clone()]);
        assert_eq!(h[0].status.as_deref(), Some("start"));
        assert_eq!(h[0].from.as_deref(), Some("bb"));
        // Rotation keeps the older part readable.
        fs::write(journal_path(tmp.path()), vec![b' '; MAX_JOURNAL as usize]).unwrap();
        emit(tmp.path(), &e);
        assert!(journal_path(tmp.path()).with_extension("jsonl.1").exists());
        emit(tmp.path(), &e);
        assert_eq!(history(tmp.path()).len(), 2);
    }

    #[test]
    fn follow_sees_new_events_across_rotation() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        emit(&root, &Event::new("volume", "create", "old", BTreeMap::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let r = root.clone();
        std::thread::spawn(move || {
            follow(&r, |e| {
                let more = e.actor.id != "last";
                tx.send(e.actor.id).unwrap();
                more
            })
        });
        std::thread::sleep(Duration::from_millis(100));
        emit(&root, &Event::new("volume", "create", "v1", BTreeMap::new()));
        std::thread::sleep(Duration::from_millis(50));
        fs::rename(journal_path(&root), journal_path(&root).with_extension("jsonl.1")).unwrap();
        emit(&root, &Event::new("volume", "create", "last", BTreeMap::new()));
        let got: Vec<String> = rx.iter().take(2).collect();
        assert_eq!(got, vec!["v1", "last"]);
    }

    #[test]
    fn filters() {
        let e = Event::new("container", "die", "abcdef", attrs(&[("image", "busybox:local"), ("name", "web")]));
        let f = |pairs: &[(&str, &[&str])]| {
            Filter(pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect())
        };
        assert!(f(&[]).matches(&e));
        assert!(f(&[("type", &["container"]), ("event", &["die", "start"])]).matches(&e));
        assert!(!f(&[("type", &["image"])]).matches(&e));
        assert!(f(&[("container", &["web"])]).matches(&e));
        assert!(f(&[("container", &["abc"])]).matches(&e));
        assert!(!f(&[("container", &["other"])]).matches(&e));
        assert!(f(&[("image", &["busybox"])]).matches(&e));
        assert!(f(&[("label", &["name=web"])]).matches(&e));
        assert!(!f(&[("label", &["name=db"])]).matches(&e));
        assert!(!f(&[("bogus", &["x"])]).matches(&e));
        let h = Event::new("container", "health_status: healthy", "abcdef", BTreeMap::new());
        assert!(f(&[("event", &["health_status"])]).matches(&h));
    }
}

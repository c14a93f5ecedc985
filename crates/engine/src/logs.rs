//! Container logs: the `LogDriver` seam and its drivers — `json-file`
//! (Docker's format: one JSON object per line), `local` (a compact binary
//! file: length-prefixed records) and `none` — plus the one writer (line
//! splitting, size-based rotation) and the one reader (all rotated files in
//! order, stream and time filters, tail, follow) every driver shares. The
//! monitor writes through it; the API, the CLI's daemonless paths and the
//! builder read through it.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// Which output stream an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One log entry: a line (with its newline) or a partial line flushed at exit or at 16 KiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub stream: Stream,
    pub time: SystemTime,
    pub line: Vec<u8>,
    /// Extra attributes (`labels`/`env` log options), as json-file's `attrs`.
    pub attrs: BTreeMap<String, String>,
}

/// A log format: where its file lives and how entries are encoded.
pub trait LogDriver: Send + Sync {
    fn name(&self) -> &'static str;
    /// The current log file in a container's directory; `None` for a driver that keeps nothing.
    fn file(&self, dir: &Path, id: &str) -> Option<PathBuf>;
    fn encode(&self, e: &Entry, out: &mut Vec<u8>);
    /// The next entry of a file, `None` at its end (a torn last record is the end).
    fn decode(&self, r: &mut dyn BufRead) -> io::Result<Option<Entry>>;
}

/// Docker's `json-file`: `{"log":…,"stream":…,"time":…}` per line.
pub struct JsonFile;
/// A compact binary file: `[len u32 BE][stream u8][unix nanos i64 BE][line]` per entry
/// (Docker's `local` driver keeps protobuf records; the shape here is Wharf's own).
pub struct Local;
/// Keeps nothing; reading is refused.
pub struct NoLog;

#[derive(Serialize, Deserialize)]
struct JsonEntry {
    log: String,
    stream: String,
    time: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    attrs: BTreeMap<String, String>,
}

impl LogDriver for JsonFile {
    fn name(&self) -> &'static str {
        "json-file"
    }
    fn file(&self, dir: &Path, id: &str) -> Option<PathBuf> {
        Some(dir.join(format!("{id}-json.log")))
    }
    fn encode(&self, e: &Entry, out: &mut Vec<u8>) {
        let j = JsonEntry {
            log: String::from_utf8_lossy(&e.line).into_owned(),
            stream: e.stream.name().into(),
            time: rfc3339(e.time),
            attrs: e.attrs.clone(),
        };
        serde_json::to_writer(&mut *out, &j).expect("serialising to memory");
        out.push(b'\n');
    }
    fn decode(&self, r: &mut dyn BufRead) -> io::Result<Option<Entry>> {
        let mut line = Vec::new();
        loop {
            line.clear();
            if r.take(MAX_RECORD as u64).read_until(b'\n', &mut line)? == 0 || !line.ends_with(b"\n") {
                return Ok(None);
            }
            // A line that is not an entry (a torn write) is skipped, as Docker's reader does.
            let Ok(j) = serde_json::from_slice::<JsonEntry>(&line) else { continue };
            let stream = if j.stream == "stderr" { Stream::Stderr } else { Stream::Stdout };
            let time = wharf_common::time::parse_rfc3339(&j.time).unwrap_or(SystemTime::UNIX_EPOCH);
            return Ok(Some(Entry { stream, time, line: j.log.into_bytes(), attrs: j.attrs }));
        }
    }
}

const MAX_RECORD: usize = 1 << 20;

impl LogDriver for Local {
    fn name(&self) -> &'static str {
        "local"
    }
    fn file(&self, dir: &Path, _id: &str) -> Option<PathBuf> {
        Some(dir.join("container.log"))
    }
    fn encode(&self, e: &Entry, out: &mut Vec<u8>) {
        let nanos = e.time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
        out.extend_from_slice(&((1 + 8 + e.line.len()) as u32).to_be_bytes());
        out.push(if e.stream == Stream::Stderr { 2 } else { 1 });
        out.extend_from_slice(&nanos.to_be_bytes());
        out.extend_from_slice(&e.line);
    }
    fn decode(&self, r: &mut dyn BufRead) -> io::Result<Option<Entry>> {
        let mut len = [0u8; 4];
        if read_full(r, &mut len)? < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes(len) as usize;
        if !(9..=MAX_RECORD).contains(&len) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("log record of {len} bytes")));
        }
        let mut rec = vec![0u8; len];
        if read_full(r, &mut rec)? < len {
            return Ok(None);
        }
        let stream = if rec[0] == 2 { Stream::Stderr } else { Stream::Stdout };
        let nanos = i64::from_be_bytes(rec[1..9].try_into().expect("9 bytes checked"));
        let time = SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos.max(0) as u64);
        Ok(Some(Entry { stream, time, line: rec[9..].to_vec(), attrs: BTreeMap::new() }))
    }
}

use wharf_common::io::read_full;

impl LogDriver for NoLog {
    fn name(&self) -> &'static str {
        "none"
    }
    fn file(&self, _: &Path, _: &str) -> Option<PathBuf> {
        None
    }
    fn encode(&self, _: &Entry, _: &mut Vec<u8>) {}
    fn decode(&self, _: &mut dyn BufRead) -> io::Result<Option<Entry>> {
        Ok(None)
    }
}

/// A container's logging configuration: the driver and rotation, as Docker's
/// `HostConfig.LogConfig` (`max-size`, `max-file`, `labels`, `env`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogOptions {
    pub driver: String,
    pub max_size: u64,
    pub max_file: u32,
    /// Label keys whose values go into every entry's attributes.
    pub labels: Vec<String>,
    /// Environment keys whose values go into every entry's attributes.
    pub env: Vec<String>,
    /// The options as the client gave them (what inspect reports; the
    /// defaults above are applied, not reported as if set).
    pub config: BTreeMap<String, String>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            driver: "json-file".into(),
            max_size: 20 << 20,
            max_file: 5,
            labels: Vec::new(),
            env: Vec::new(),
            config: BTreeMap::new(),
        }
    }
}

impl LogOptions {
    /// From `HostConfig.LogConfig` (`Type` and `Config`).
    pub fn from_docker(driver: &str, config: &BTreeMap<String, String>) -> Result<LogOptions> {
        let invalid = |reason: String| EngineError::Invalid { what: "log config".into(), reason };
        let mut o = LogOptions { config: config.clone(), ..LogOptions::default() };
        match driver {
            "" | "json-file" => {}
            "local" => o.driver = "local".into(),
            "none" => {
                if let Some(k) = config.keys().next() {
                    return Err(invalid(format!("unknown log opt '{k}' for none log driver")));
                }
                o.driver = "none".into();
                return Ok(o);
            }
            other => {
                return Err(invalid(format!("logging driver {other:?} is not supported: use json-file, local or none")))
            }
        }
        let list = |v: &str| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        for (k, v) in config {
            match k.as_str() {
                "max-size" => {
                    o.max_size =
                        parse_size(v).filter(|n| *n > 0).ok_or_else(|| invalid(format!("invalid max-size {v:?}")))?
                }
                "max-file" => {
                    o.max_file = v
                        .parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| invalid(format!("invalid max-file {v:?}: at least 1")))?
                }
                "compress" if v == "false" => {}
                "compress" => return Err(invalid("compress: compressed rotated logs are not supported".into())),
                "labels" if o.driver == "json-file" => o.labels = list(v),
                "env" if o.driver == "json-file" => o.env = list(v),
                other => return Err(invalid(format!("unknown log opt '{other}' for {} log driver", o.driver))),
            }
        }
        Ok(o)
    }

    pub fn driver(&self) -> &'static dyn LogDriver {
        driver(&self.driver)
    }

    /// The attributes every entry carries: the named labels and environment variables that are set.
    pub fn attrs(&self, labels: &BTreeMap<String, String>, env: &[String]) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for k in &self.labels {
            if let Some(v) = labels.get(k) {
                out.insert(k.clone(), v.clone());
            }
        }
        for k in &self.env {
            if let Some(v) = env.iter().rev().find_map(|e| e.strip_prefix(k.as_str())?.strip_prefix('=')) {
                out.insert(k.clone(), v.to_string());
            }
        }
        out
    }
}

/// The driver of a name ([`LogOptions::from_docker`] admitted only these).
pub fn driver(name: &str) -> &'static dyn LogDriver {
    match name {
        "none" => &NoLog,
        "local" => &Local,
        _ => &JsonFile,
    }
}

/// `10m`, `1g`, `512k`, `100` (bytes; binary multiples, as Docker's RAMInBytes).
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().and_then(|n| n.checked_mul(mult))
}

pub use wharf_common::time::rfc3339;

/// `<file>.N`: the N-th rotated file (1 is the newest).
fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The writer: output bytes → entries (split at newlines; partial lines wait
/// for their end, or are flushed at 16 KiB and at exit), rotated by size.
pub struct LogWriter {
    driver: &'static dyn LogDriver,
    path: Option<PathBuf>,
    file: Option<File>,
    size: u64,
    partial: [Vec<u8>; 2],
    opts: LogOptions,
    attrs: BTreeMap<String, String>,
    buf: Vec<u8>,
}

impl LogWriter {
    pub fn open(dir: &Path, id: &str, opts: LogOptions, attrs: BTreeMap<String, String>) -> Result<LogWriter> {
        let driver = opts.driver();
        let path = driver.file(dir, id);
        let file = match &path {
            Some(p) => {
                Some(OpenOptions::new().create(true).append(true).open(p).map_err(EngineError::io("open log", p))?)
            }
            None => None,
        };
        let size = file.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.len()).unwrap_or(0);
        Ok(LogWriter { driver, path, file, size, partial: [Vec::new(), Vec::new()], opts, attrs, buf: Vec::new() })
    }

    fn write_entry(&mut self, stream: Stream, line: &[u8]) {
        if self.file.is_none() {
            return;
        }
        self.buf.clear();
        let e = Entry { stream, time: SystemTime::now(), line: line.to_vec(), attrs: self.attrs.clone() };
        self.driver.encode(&e, &mut self.buf);
        if self.size > 0 && self.size + self.buf.len() as u64 > self.opts.max_size {
            self.rotate();
        }
        if let Some(f) = self.file.as_mut() {
            if f.write_all(&self.buf).is_ok() {
                self.size += self.buf.len() as u64;
            }
        }
    }

    fn rotate(&mut self) {
        let Some(path) = self.path.clone() else { return };
        if self.opts.max_file <= 1 {
            // One file: start it over.
            if let Ok(f) = OpenOptions::new().create(true).write(true).truncate(true).open(&path) {
                self.file = Some(f);
                self.size = 0;
            }
            return;
        }
        for i in (1..self.opts.max_file).rev() {
            let from = if i == 1 { path.clone() } else { rotated(&path, i - 1) };
            let _ = fs::rename(&from, rotated(&path, i));
        }
        if let Ok(f) = OpenOptions::new().create(true).append(true).open(&path) {
            self.file = Some(f);
            self.size = 0;
        }
    }

    /// Appends output of one stream.
    pub fn append(&mut self, stream: Stream, data: &[u8]) {
        if self.file.is_none() {
            return;
        }
        let idx = (stream == Stream::Stderr) as usize;
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            self.write_entry(stream, &buf[start..start + pos + 1]);
            start += pos + 1;
        }
        let rest = buf[start..].to_vec();
        if rest.len() >= 16 << 10 {
            self.write_entry(stream, &rest);
        } else {
            self.partial[idx] = rest;
        }
    }

    /// Writes what is left of partial lines (at exit).
    pub fn flush(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.partial[(stream == Stream::Stderr) as usize]);
            if !rest.is_empty() {
                self.write_entry(stream, &rest);
            }
        }
    }
}

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    /// Only the last N entries (of the selected streams).
    pub tail: Option<usize>,
}

impl ReadOptions {
    fn wants(&self, e: &Entry) -> bool {
        (if e.stream == Stream::Stderr { self.stderr } else { self.stdout })
            && self.since.is_none_or(|s| e.time >= s)
            && self.until.is_none_or(|u| e.time <= u)
    }
}

/// Reads a container's log: every rotated file, oldest first, then the
/// current one. Returns the position reached in the current file (to follow
/// from). `sink` returning false stops the read.
pub fn read(
    driver: &dyn LogDriver,
    dir: &Path,
    id: &str,
    opts: &ReadOptions,
    sink: &mut dyn FnMut(Entry) -> bool,
) -> Result<u64> {
    let Some(path) = driver.file(dir, id) else {
        return Err(EngineError::LogsUnsupported(driver.name().into()));
    };
    let mut files: Vec<PathBuf> = (1..=64).map(|n| rotated(&path, n)).take_while(|p| p.exists()).collect();
    files.reverse();
    files.push(path.clone());
    let mut pos = 0;
    let mut tail: std::collections::VecDeque<Entry> = Default::default();
    for (i, p) in files.iter().enumerate() {
        let f = match File::open(p) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(EngineError::io("open log", p)(e)),
        };
        let mut r = BufReader::new(f);
        while let Some(e) = driver.decode(&mut r).map_err(EngineError::io("read log", p))? {
            if i + 1 == files.len() {
                pos = r.stream_position().map_err(EngineError::io("read log", p))?;
            }
            if !opts.wants(&e) {
                continue;
            }
            match opts.tail {
                Some(0) => {}
                Some(n) => {
                    if tail.len() == n {
                        tail.pop_front();
                    }
                    tail.push_back(e);
                }
                None => {
                    if !sink(e) {
                        return Ok(pos);
                    }
                }
            }
        }
    }
    for e in tail {
        if !sink(e) {
            break;
        }
    }
    Ok(pos)
}

/// Follows the current file from `pos`: new entries go to `sink` until
/// `running` says the container stopped (what it wrote last is still read)
/// or `sink` returns false. A rotation starts the new file from its beginning.
pub fn follow(
    driver: &dyn LogDriver,
    dir: &Path,
    id: &str,
    opts: &ReadOptions,
    mut pos: u64,
    running: &dyn Fn() -> bool,
    sink: &mut dyn FnMut(Entry) -> bool,
) -> Result<()> {
    let Some(path) = driver.file(dir, id) else {
        return Err(EngineError::LogsUnsupported(driver.name().into()));
    };
    let mut inode = fs::metadata(&path).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).ok();
    loop {
        let alive = running();
        if let Ok(f) = File::open(&path) {
            let ino = f.metadata().map(|m| std::os::unix::fs::MetadataExt::ino(&m)).ok();
            if ino != inode {
                inode = ino;
                pos = 0;
            }
            let mut r = BufReader::new(f);
            if r.seek(io::SeekFrom::Start(pos)).is_ok() {
                while let Some(e) = driver.decode(&mut r).map_err(EngineError::io("read log", &path))? {
                    pos = r.stream_position().map_err(EngineError::io("read log", &path))?;
                    if opts.wants(&e) && !sink(e) {
                        return Ok(());
                    }
                }
            }
        }
        if !alive {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one suite every file-keeping driver runs.
    fn driver_suite(name: &str) {
        let tmp = tempfile::tempdir().unwrap();
        let opts = LogOptions { driver: name.into(), max_size: 4096, max_file: 3, ..Default::default() };
        let d = opts.driver();
        assert_eq!(d.name(), name);
        let mut w = LogWriter::open(tmp.path(), "c1", opts.clone(), BTreeMap::new()).unwrap();
        w.append(Stream::Stdout, b"hel");
        w.append(Stream::Stdout, b"lo\nwor");
        w.append(Stream::Stderr, b"err\n");
        w.flush();
        let all = ReadOptions { stdout: true, stderr: true, ..Default::default() };
        let mut got = Vec::new();
        read(d, tmp.path(), "c1", &all, &mut |e| {
            got.push((e.stream, String::from_utf8(e.line).unwrap()));
            true
        })
        .unwrap();
        assert_eq!(
            got,
            vec![(Stream::Stdout, "hello\n".into()), (Stream::Stderr, "err\n".into()), (Stream::Stdout, "wor".into())]
        );
        // Stream filter and tail.
        let mut only_err = Vec::new();
        let o = ReadOptions { stderr: true, ..Default::default() };
        read(d, tmp.path(), "c1", &o, &mut |e| {
            only_err.push(e.line);
            true
        })
        .unwrap();
        assert_eq!(only_err, vec![b"err\n".to_vec()]);
        // Rotation keeps at most max_file files and reading spans them in order.
        for i in 0..400 {
            w.append(Stream::Stdout, format!("line {i:04}\n").as_bytes());
        }
        let path = d.file(tmp.path(), "c1").unwrap();
        assert!(rotated(&path, 1).exists() && rotated(&path, 2).exists() && !rotated(&path, 3).exists());
        let mut lines = Vec::new();
        let last = ReadOptions { tail: Some(5), ..all.clone() };
        read(d, tmp.path(), "c1", &last, &mut |e| {
            lines.push(String::from_utf8(e.line).unwrap());
            true
        })
        .unwrap();
        assert_eq!(lines, (395..400).map(|i| format!("line {i:04}\n")).collect::<Vec<_>>());
        let mut seen = Vec::new();
        read(d, tmp.path(), "c1", &all, &mut |e| {
            seen.push(e.line);
            true
        })
        .unwrap();
        let numbers: Vec<usize> = seen
            .iter()
            .filter_map(|l| std::str::from_utf8(l).ok()?.strip_prefix("line ")?.trim().parse().ok())
            .collect();
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "in order across rotated files");
        assert_eq!(numbers.last(), Some(&399));
        // Follow picks up what is appended, then stops once the container is not running.
        let pos = read(d, tmp.path(), "c1", &all, &mut |_| true).unwrap();
        w.append(Stream::Stderr, b"late\n");
        let mut followed = Vec::new();
        follow(d, tmp.path(), "c1", &all, pos, &|| false, &mut |e| {
            followed.push(e.line);
            true
        })
        .unwrap();
        assert_eq!(followed, vec![b"late\n".to_vec()]);
    }

    #[test]
    fn json_file_driver() {
        driver_suite("json-file");
    }

    #[test]
    fn local_driver() {
        driver_suite("local");
    }

    #[test]
    fn none_driver_keeps_nothing_and_refuses_reads() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = LogOptions::from_docker("none", &BTreeMap::new()).unwrap();
        let mut w = LogWriter::open(tmp.path(), "c1", opts.clone(), BTreeMap::new()).unwrap();
        w.append(Stream::Stdout, b"x\n");
        w.flush();
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
        let err = read(opts.driver(), tmp.path(), "c1", &ReadOptions::default(), &mut |_| true).unwrap_err();
        assert!(matches!(err, EngineError::LogsUnsupported(_)));
    }

    #[test]
    fn json_file_is_dockers_shape_with_attrs() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg: BTreeMap<String, String> = [("labels".to_string(), "app".to_string())].into();
        let opts = LogOptions::from_docker("json-file", &cfg).unwrap();
        let attrs = opts.attrs(&[("app".to_string(), "web".to_string())].into(), &[]);
        let mut w = LogWriter::open(tmp.path(), "c1", opts, attrs).unwrap();
        w.append(Stream::Stdout, b"hi\n");
        let text = fs::read_to_string(tmp.path().join("c1-json.log")).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["log"], "hi\n");
        assert_eq!(v["stream"], "stdout");
        assert_eq!(v["attrs"]["app"], "web");
        assert!(humantime::parse_rfc3339(v["time"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn log_options_are_honoured_or_refused() {
        let cfg = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let o = LogOptions::from_docker("json-file", &cfg(&[("max-size", "10m"), ("max-file", "3")])).unwrap();
        assert_eq!((o.max_size, o.max_file), (10 << 20, 3));
        assert_eq!(LogOptions::from_docker("", &cfg(&[])).unwrap(), LogOptions::default());
        assert_eq!(LogOptions::from_docker("local", &cfg(&[])).unwrap().driver, "local");
        let o = LogOptions::from_docker("json-file", &cfg(&[("env", "A,B"), ("compress", "false")])).unwrap();
        assert_eq!(o.attrs(&BTreeMap::new(), &["A=1".into(), "C=3".into()]), [("A".into(), "1".into())].into());
        for (d, c) in [
            ("syslog", vec![]),
            ("none", vec![("max-size", "1m")]),
            ("json-file", vec![("max-size", "lots")]),
            ("json-file", vec![("max-file", "0")]),
            ("json-file", vec![("compress", "true")]),
            ("json-file", vec![("tag", "x")]),
            ("local", vec![("labels", "a")]),
            ("json-file", vec![("bogus", "1")]),
        ] {
            assert!(LogOptions::from_docker(d, &cfg(&c)).is_err(), "{d} {c:?}");
        }
    }

    #[test]
    fn corrupt_local_record_is_an_error_not_an_allocation() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("container.log"), [0xff, 0xff, 0xff, 0xff, 1]).unwrap();
        let all = ReadOptions { stdout: true, stderr: true, ..Default::default() };
        assert!(read(&Local, tmp.path(), "c1", &all, &mut |_| true).is_err());
    }
}

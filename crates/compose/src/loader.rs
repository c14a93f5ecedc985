//! One compose file read: a bounded regular file, its YAML nodes, and its
//! values interpolated (values only, never keys, as the specification
//! says; before any merge, per file). Errors name the file, the line and
//! the path of the value (`services.web.ports[0]`).

use std::path::Path;

use crate::error::{ComposeError, Result};
use crate::interpolate::interpolate;
use crate::origin::file_id;
use crate::yaml::{self, Node, Value};

/// A compose file is text of a human's size.
const MAX_FILE: u64 = 16 << 20;

/// A file's interpolated nodes, and the variables it used unset (Compose
/// warns of each and substitutes "").
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The file's documents, in order (compose-go merges them as if each
    /// were a file of its own).
    pub documents: Vec<Node>,
    pub unset: Vec<String>,
}

impl Loaded {
    #[cfg(test)]
    fn first(&self) -> &Node {
        &self.documents[0]
    }
}

/// Reads and interpolates `path`.
pub fn load_file(path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Loaded> {
    let text = read_bounded(path)?;
    load_str(path, &text, lookup)
}

/// Interpolates `text`, read from `file`.
pub fn load_str(file: &Path, text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Loaded> {
    let mut documents = yaml::parse_documents(text, file_id(file)).map_err(|e| ComposeError::Yaml {
        file: file.to_path_buf(),
        line: e.pos.line,
        col: e.pos.col,
        message: e.message,
    })?;
    let mut unset = Vec::new();
    for root in &mut documents {
        let mut path = String::new();
        interpolate_node(file, root, &mut path, lookup, &mut unset)?;
    }
    Ok(Loaded { documents, unset })
}

/// A regular file of at most [`MAX_FILE`] bytes, UTF-8. Opened without
/// blocking, so that a FIFO in its place is refused rather than waited on.
pub fn read_bounded(path: &Path) -> Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| ComposeError::Io { path: path.to_path_buf(), source };
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file")));
    }
    let mut data = Vec::new();
    f.take(MAX_FILE + 1).read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 > MAX_FILE {
        return Err(io(std::io::Error::new(std::io::ErrorKind::InvalidData, "larger than 16 MiB")));
    }
    String::from_utf8(data).map_err(|_| io(std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")))
}

fn interpolate_node(
    file: &Path,
    node: &mut Node,
    path: &mut String,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<()> {
    let line = node.pos.line;
    match &mut node.value {
        Value::Str(s) if s.contains('$') => {
            let done = interpolate(s, lookup).map_err(|source| ComposeError::Interpolation {
                file: file.to_path_buf(),
                line,
                path: path.clone(),
                source,
            })?;
            for name in done.unset {
                if !unset.contains(&name) {
                    unset.push(name);
                }
            }
            *s = done.value;
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                interpolate_node(file, item, path, lookup, unset)?;
                path.truncate(len);
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&k.name);
                interpolate_node(file, v, path, lookup, unset)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InterpolationError;

    fn env(name: &str) -> Option<String> {
        match name {
            "TAG" => Some("1.2".into()),
            "PORT" => Some("8080".into()),
            _ => None,
        }
    }

    #[test]
    fn positions_name_their_file() {
        let a = load_str(Path::new("/x/a.yaml"), "k: 1\n", &env).unwrap();
        let b = load_str(Path::new("/x/b.yaml"), "\nk: 2\n", &env).unwrap();
        assert_eq!(a.first().get("k").unwrap().pos.at(), "/x/a.yaml:1");
        assert_eq!(b.first().get("k").unwrap().pos.at(), "/x/b.yaml:2");
        assert_eq!(file_id(Path::new("/x/a.yaml")), a.first().pos.file);
    }

    #[test]
    fn documents_of_one_file_merge_in_order() {
        let text = "services:\n  web: {image: \"a:${TAG}\", ports: ['80']}\n---\nservices:\n  web: {ports: ['81']}\n  db: {image: b}\n";
        let loaded = load_str(Path::new("/x/multi.yaml"), text, &env).unwrap();
        assert_eq!(loaded.documents.len(), 2);
        let root = crate::merge::merge_all(loaded.documents);
        let web = root.get("services").and_then(|s| s.get("web")).unwrap();
        assert_eq!(web.get("image").and_then(Node::as_str), Some("a:1.2"));
        assert_eq!(web.get("ports").map(Node::strings), Some(vec!["80".to_string(), "81".to_string()]));
        assert!(root.get("services").and_then(|s| s.get("db")).is_some());
    }

    #[test]
    fn values_are_interpolated_and_keys_are_not() {
        let text = "services:\n  web:\n    image: \"busybox:${TAG}\"\n    ports: [\"${PORT}:80\"]\n    labels:\n      $KEY: ${MISSING}\n    command: echo $$HOME\n";
        let got = load_str(Path::new("compose.yaml"), text, &env).unwrap();
        let web = got.first().get("services").and_then(|s| s.get("web")).unwrap();
        assert_eq!(web.get("image").and_then(Node::as_str), Some("busybox:1.2"));
        let Value::Seq(ports) = &web.get("ports").unwrap().value else { panic!() };
        assert_eq!(ports[0].as_str(), Some("8080:80"));
        assert_eq!(web.get("labels").and_then(|l| l.get("$KEY")).and_then(Node::as_str), Some(""));
        assert_eq!(web.get("command").and_then(Node::as_str), Some("echo $HOME"));
        assert_eq!(got.unset, ["MISSING"]);
    }

    #[test]
    fn errors_name_file_line_and_path() {
        let text =
            "services:\n  web:\n    image: busybox\n    environment:\n      - A=1\n      - B=${NEED:?set NEED}\n";
        match load_str(Path::new("dir/compose.yaml"), text, &env) {
            Err(e @ ComposeError::Interpolation { line: 6, .. }) => {
                let ComposeError::Interpolation { path, source, .. } = &e else { unreachable!() };
                assert_eq!(path, "services.web.environment[1]");
                assert!(matches!(source, InterpolationError::Required { name, .. } if name == "NEED"));
                assert_eq!(
                    e.to_string(),
                    "dir/compose.yaml:6: services.web.environment[1]: required variable NEED is missing a value: set NEED"
                );
            }
            other => panic!("{other:?}"),
        }
        match load_str(Path::new("c.yaml"), "services:\n  web: [\n", &env) {
            Err(ComposeError::Yaml { line, .. }) => assert!(line >= 2),
            other => panic!("{other:?}"),
        }
    }

    fn nix_mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path and a mode; mkfifo touches nothing else.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn files_are_regular_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load_file(dir.path(), &env), Err(ComposeError::Io { .. })), "a directory");
        let fifo = dir.path().join("fifo.yaml");
        nix_mkfifo(&fifo);
        assert!(matches!(load_file(&fifo, &env), Err(ComposeError::Io { .. })), "a FIFO, not waited on");
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; (MAX_FILE + 1) as usize]).unwrap();
        assert!(matches!(load_file(&big, &env), Err(ComposeError::Io { .. })));
        let bin = dir.path().join("bin.yaml");
        std::fs::write(&bin, [0xffu8, 0xfe]).unwrap();
        assert!(matches!(load_file(&bin, &env), Err(ComposeError::Io { .. })));
        let ok = dir.path().join("compose.yaml");
        std::fs::write(&ok, "name: x\n").unwrap();
        assert_eq!(load_file(&ok, &env).unwrap().documents[0].get("name").and_then(Node::as_str), Some("x"));
    }
}

//! The build context (the client's files): every read goes through the
//! confined resolver with the context directory as the root. Paths resolve
//! as if the context were `/` (`..` and symlinks cannot leave it),
//! directories are listed through a descriptor resolved inside it, their
//! entries reached one name at a time and never followed, regular files
//! opened only after `fstat` says they are regular files (so a FIFO cannot
//! block the builder, nor a device node feed it forever), symlinks stored as
//! symlinks, and anything else refused with an error naming its path.
//!
//! The daemon's context is the client's tar unpacked (`image::unpack`, which
//! recreates FIFOs and, as root, device nodes: a `.wh.` entry even becomes a
//! 0/0 character device); `wharf build` without a daemon reads the user's
//! directory itself, where sockets can be found too. Docker's builder gets
//! what the client tarred and copies it as is; Wharf copies regular files,
//! directories and symlinks, and refuses the rest.

use std::io::Read;
use std::path::{Path, PathBuf};

pub(crate) use wharf_engine::archive::confined::Kind;
use wharf_engine::archive::confined::{read_bounded, Node, Root};

use crate::error::{BuildError, Result};

/// Upper bound for a Dockerfile (Docker sets none; no real one comes near).
pub const DOCKERFILE_LIMIT: u64 = 16 << 20;

fn confined(e: impl Into<wharf_engine::EngineError>) -> BuildError {
    BuildError::Engine(e.into())
}

/// A context path resolved inside the context: `..` cannot climb out and
/// symlinks (the context is the client's) resolve as if the context were `/`.
/// (This names what a COPY source is; what is read is resolved by [`Context`].)
pub(crate) fn in_context(context: &Path, p: &str) -> Result<PathBuf> {
    let rel = wharf_image::unpack::clean_path(Path::new(p.trim_start_matches('/')))
        .ok_or_else(|| BuildError::Context(format!("{p}: outside the build context")))?;
    Ok(wharf_image::unpack::resolve_in_root(context, &rel)?)
}

/// Shell-style match with `*` and `?` (no path separators crossed).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(&pattern.chars().collect::<Vec<_>>(), &name.chars().collect::<Vec<_>>())
}

/// One COPY/ADD source: its path (resolved inside the context, for naming)
/// and the node it is, held by descriptor.
pub(crate) struct Source {
    pub path: PathBuf,
    /// Its path relative to the context, for messages.
    pub rel: PathBuf,
    pub node: Node,
}

/// Upper bound for `.dockerignore`.
const DOCKERIGNORE_LIMIT: u64 = 1 << 20;

/// The build context, held open as a confined root, with its
/// `.dockerignore`: what it excludes is not there for COPY/ADD (the
/// Dockerfile and `.dockerignore` themselves included, though the build
/// reads them), whoever sent the context.
pub(crate) struct Context {
    dir: PathBuf,
    root: Root,
    ignore: Vec<(bool, String)>,
}

/// Which context paths COPY/ADD do not see.
pub(crate) struct Excluded<'a>(&'a [(bool, String)]);

impl Excluded<'_> {
    /// True if `rel` (a file, or a directory with nothing re-included
    /// under it) is not to be copied.
    pub fn skips(&self, rel: &Path, is_dir: bool) -> bool {
        let r = rel.to_string_lossy();
        crate::dockerignore::ignored(self.0, &r) && !(is_dir && self.0.iter().any(|(negated, _)| *negated))
    }
}

impl Context {
    pub fn open(dir: &Path) -> Result<Context> {
        let root = Root::open(dir).map_err(confined)?;
        let text = root.read_string(Path::new(".dockerignore"), DOCKERIGNORE_LIMIT).map_err(confined)?;
        let ignore = text.as_deref().map(crate::dockerignore::parse).unwrap_or_default();
        Ok(Context { dir: dir.to_path_buf(), root, ignore })
    }

    pub fn excluded(&self) -> Excluded<'_> {
        Excluded(&self.ignore)
    }

    /// The Dockerfile at `name`: a regular file (a final symlink is followed
    /// inside the context), read up to [`DOCKERFILE_LIMIT`].
    pub fn dockerfile(&self, name: &str) -> Result<String> {
        let missing = || BuildError::NoDockerfile(name.to_string());
        let rel = in_context(&self.dir, name).map_err(|_| missing())?;
        let rel = rel.strip_prefix(&self.dir).unwrap_or(&rel);
        let node = self.root.node_following(rel).map_err(|_| missing())?.ok_or_else(missing)?;
        if node.kind() != Kind::Regular {
            return Err(BuildError::Context(format!(
                "the Dockerfile ({name}) must be a regular file, not {}",
                node.kind().describe()
            )));
        }
        let file = node.open().map_err(confined)?;
        let data = read_bounded(file, DOCKERFILE_LIMIT, Path::new(name)).map_err(confined)?;
        Ok(String::from_utf8_lossy(&data).into_owned())
    }

    /// The node at `path` (a path [`in_context`] resolved), not following
    /// it further. `None` if nothing is there.
    fn node(&self, path: &Path) -> Result<Option<Node>> {
        let rel = path.strip_prefix(&self.dir).unwrap_or(Path::new(""));
        self.root.node(rel).map_err(confined)
    }

    /// The sources a COPY/ADD source names: itself, or the entries its
    /// wildcards (in the last component) match, in name order.
    pub fn sources(&self, src: &str) -> Result<Vec<Source>> {
        let (parent, name) = match src.trim_end_matches('/').rsplit_once('/') {
            Some((d, n)) => (d, n),
            None => ("", src.trim_end_matches('/')),
        };
        let source = |path: PathBuf| -> Result<Option<Source>> {
            let rel = path.strip_prefix(&self.dir).unwrap_or(Path::new("")).to_path_buf();
            let node = self.node(&path)?;
            let is_dir = node.as_ref().is_some_and(|n| n.kind() == Kind::Directory);
            if !rel.as_os_str().is_empty() && self.excluded().skips(&rel, is_dir) {
                return Ok(None);
            }
            Ok(node.map(|node| Source { path, rel, node }))
        };
        if !name.contains(['*', '?']) {
            let not_found = || BuildError::Context(format!("COPY failed: file not found in build context: {src}"));
            return Ok(vec![source(in_context(&self.dir, src)?)?.ok_or_else(not_found)?]);
        }
        let dir = in_context(&self.dir, parent)?;
        let listing = match self.node(&dir)? {
            Some(n) if n.kind() == Kind::Directory => n.into_root().and_then(|r| r.list()).map_err(confined)?,
            _ => return Err(BuildError::Context(format!("{src}: no such directory in the build context"))),
        };
        let mut out = Vec::new();
        for entry in listing.iter().filter(|e| glob_match(name, &e.to_string_lossy())) {
            let rel = dir.strip_prefix(&self.dir).unwrap_or(Path::new("")).join(entry);
            out.extend(source(in_context(&self.dir, &rel.to_string_lossy())?)?);
        }
        if out.is_empty() {
            return Err(BuildError::Context(format!("COPY failed: no source files were specified ({src})")));
        }
        Ok(out)
    }
}

/// A local archive ADD extracts: the regular file's bytes (at most its `fstat` size), decompressed.
pub(crate) fn read_archive(src: &Source) -> Result<Vec<u8>> {
    let size = src.node.stat().st_size.max(0) as u64;
    let f = src.node.open().map_err(confined)?.take(size);
    let mut plain = Vec::new();
    wharf_image::unpack::decompress(f)?.read_to_end(&mut plain).map_err(|e| BuildError::Context(e.to_string()))?;
    Ok(plain)
}

/// How deep a copied tree may nest.
const MAX_DEPTH: usize = 256;

/// Appends `node` (file, link or tree; `rel` its context path, for
/// messages) to `b` as `name`, owned by `owner`. Directories are walked on
/// descriptors; FIFOs, sockets and devices are refused.
pub(crate) fn append_owned<W: std::io::Write>(
    b: &mut tar::Builder<W>,
    node: Node,
    rel: &Path,
    name: &Path,
    owner: (u64, u64),
    excluded: &Excluded<'_>,
) -> Result<()> {
    let io = |e: std::io::Error| BuildError::Context(format!("{}: {e}", rel.display()));
    // One stack frame per level: a bound keeps a hostile context from exhausting the stack.
    if rel.components().count() > MAX_DEPTH {
        return Err(BuildError::Context(format!("{}: nested more than {MAX_DEPTH} directories deep", rel.display())));
    }
    let st = *node.stat();
    let mut h = tar::Header::new_gnu();
    h.set_uid(owner.0);
    h.set_gid(owner.1);
    h.set_mode(st.st_mode & 0o7777);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    match node.kind() {
        Kind::Directory => {
            h.set_entry_type(tar::EntryType::Directory);
            if !name.as_os_str().is_empty() {
                b.append_data(&mut h, name, std::io::empty()).map_err(io)?;
            }
            let dir = node.into_root().map_err(confined)?;
            for e in dir.list().map_err(confined)? {
                // Gone since it was listed: nothing to copy.
                let Some(child) = dir.child(&e).map_err(confined)? else { continue };
                let child_rel = rel.join(&e);
                if excluded.skips(&child_rel, child.kind() == Kind::Directory) {
                    continue;
                }
                append_owned(b, child, &child_rel, &name.join(&e), owner, excluded)?;
            }
        }
        Kind::Symlink => {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = node.read_link().map_err(confined)?;
            b.append_link(&mut h, name, target).map_err(io)?;
        }
        Kind::Regular => {
            let size = st.st_size.max(0) as u64;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(size);
            // Exactly the size in the header, whatever happens to the file meanwhile.
            let data = node.open().map_err(confined)?.take(size).chain(std::io::repeat(0)).take(size);
            b.append_data(&mut h, name, data).map_err(io)?;
        }
        other => {
            return Err(BuildError::Context(format!(
            "COPY failed: {} in the build context is {}: only regular files, directories and symlinks can be copied",
            rel.display(),
            other.describe()
        )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Runs `f` on a thread; a hang (a FIFO opened, a device read forever) fails the test.
    fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("the operation blocked")
    }

    /// A context as the daemon gets it: the client's tar unpacked, FIFOs and devices included.
    fn unpacked(entries: &[(&str, tar::EntryType, &[u8])]) -> tempfile::TempDir {
        let mut data = Vec::new();
        let mut b = tar::Builder::new(&mut data);
        for (name, kind, body) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_size(body.len() as u64);
            if *kind == tar::EntryType::Char {
                h.set_device_major(1).unwrap();
                h.set_device_minor(5).unwrap(); // /dev/zero
            }
            b.append_data(&mut h, name, *body).unwrap();
        }
        b.finish().unwrap();
        drop(b);
        let dir = tempfile::tempdir().unwrap();
        wharf_image::unpack::unpack_layer(&data[..], dir.path()).unwrap();
        dir
    }

    fn copy(ctx: &Path, src: &str) -> Result<Vec<u8>> {
        let context = Context::open(ctx)?;
        let mut data = Vec::new();
        let mut b = tar::Builder::new(&mut data);
        for s in context.sources(src)? {
            append_owned(&mut b, s.node, &s.rel, Path::new("x"), (0, 0), &Excluded(&[]))?;
        }
        b.finish().map_err(|e| BuildError::Context(e.to_string()))?;
        drop(b);
        Ok(data)
    }

    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        use tar::EntryType::{Char, Directory, Fifo, Regular};
        let ctx = unpacked(&[
            ("d", Directory, b""),
            ("d/a", Regular, b"a\n"),
            ("d/pipe", Fifo, b""),
            ("e", Directory, b""),
            ("e/zero", Char, b""),
            ("Dockerfile", Fifo, b""),
            ("Dockerfile.zero", Char, b""),
            ("ok/Dockerfile", Regular, b"FROM scratch\n"),
        ]);
        let path = ctx.path().to_path_buf();
        let (p, q) = (path.clone(), path.clone());
        let err = bounded(move || copy(&p, "d").unwrap_err().to_string());
        assert!(err.contains("d/pipe") && err.contains("FIFO"), "{err}");
        let err = bounded(move || copy(&q, "e").unwrap_err().to_string());
        assert!(err.contains("e/zero") && err.contains("character device"), "{err}");
        let p = path.clone();
        let err = bounded(move || Context::open(&p).unwrap().dockerfile("Dockerfile").unwrap_err().to_string());
        assert!(err.contains("Dockerfile") && err.contains("FIFO"), "{err}");
        let p = path.clone();
        let err = bounded(move || Context::open(&p).unwrap().dockerfile("Dockerfile.zero").unwrap_err().to_string());
        assert!(err.contains("character device"), "{err}");
        assert_eq!(Context::open(&path).unwrap().dockerfile("ok/Dockerfile").unwrap(), "FROM scratch\n");
        // A Dockerfile is read with a bound.
        std::fs::File::create(path.join("big")).unwrap().set_len(DOCKERFILE_LIMIT + 1).unwrap();
        let err = Context::open(&path).unwrap().dockerfile("big").unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");
        assert!(Context::open(&path).unwrap().dockerfile("none").unwrap_err().to_string().contains("Cannot locate"));
    }

    #[test]
    fn symlinks_to_the_host_are_stored_not_followed() {
        let ctx = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host secret\n").unwrap();
        std::fs::create_dir(ctx.path().join("d")).unwrap();
        std::fs::write(ctx.path().join("d/a"), "a\n").unwrap();
        symlink(outside.path().join("secret"), ctx.path().join("d/leak")).unwrap();
        symlink(outside.path(), ctx.path().join("d/out")).unwrap();
        symlink(outside.path(), ctx.path().join("out")).unwrap();
        symlink(outside.path().join("secret"), ctx.path().join("leak")).unwrap();
        let p = ctx.path().to_path_buf();
        let data = bounded(move || copy(&p, "d").unwrap());
        let mut names = Vec::new();
        for e in tar::Archive::new(&data[..]).entries().unwrap() {
            let e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let link = e.link_name().unwrap().map(|l| l.display().to_string());
            names.push((name, e.header().entry_type(), link));
        }
        let secret = outside.path().join("secret").display().to_string();
        assert!(names.contains(&("x/leak".into(), tar::EntryType::Symlink, Some(secret))), "{names:?}");
        let out = outside.path().display().to_string();
        assert!(names.contains(&("x/out".into(), tar::EntryType::Symlink, Some(out))), "{names:?}");
        assert!(!names.iter().any(|(n, ..)| n.starts_with("x/out/")), "{names:?}");
        assert!(!data.windows(11).any(|w| w == b"host secret"), "the host file was read");
        // Through a symlinked directory pointing out, or a final symlink to a host
        // file: resolved inside the context, where nothing is.
        for src in ["out/secret", "leak", "d/out/secret", "d/leak"] {
            let err = copy(ctx.path(), src).unwrap_err().to_string();
            assert!(err.contains("not found"), "{src}: {err}");
        }
        // A glob through the symlinked directory lists the context's, not the host's.
        assert!(copy(ctx.path(), "out/*").is_err());
        // Dockerfile through a symlink out: not found.
        symlink(outside.path().join("secret"), ctx.path().join("Dockerfile")).unwrap();
        assert!(Context::open(ctx.path()).unwrap().dockerfile("Dockerfile").is_err());
        assert!(Context::open(ctx.path()).unwrap().dockerfile("out/secret").is_err());
    }
}

//! Confined reads of files inside a tree that someone else controls: a
//! container's root, an image's filesystem, a build context.
//!
//! Every such read goes through [`Root`]: the path is resolved *inside* the
//! root (`openat2` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`, or, on kernels
//! without `openat2`, a component-by-component walk on descriptors that
//! resolves symlinks as if the root were `/`), the last component is never
//! followed, only regular files are opened for reading (opened `O_PATH`,
//! checked with `fstat`, then re-opened through the descriptor, so a FIFO or a
//! device node is never opened at all), and reads are bounded.
//!
//! These calls block on the filesystem: async callers run them on a blocking
//! thread.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, FileStat, Mode, SFlag};

/// What a confined read or resolution can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ConfinedError {
    #[error("{context} {path}: {source}")]
    Io { context: &'static str, path: PathBuf, source: std::io::Error },
    /// A path inside an untrusted tree that had to be a regular file and is not.
    #[error("{0} is not a regular file")]
    NotRegularFile(PathBuf),
    #[error("{path} is larger than {limit} bytes")]
    FileTooLarge { path: PathBuf, limit: u64 },
    #[error("too many symlinks resolving {0}")]
    TooManySymlinks(PathBuf),
}

pub type Result<T, E = ConfinedError> = std::result::Result<T, E>;

impl ConfinedError {
    fn io(context: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ConfinedError {
        let path = path.into();
        move |source| ConfinedError::Io { context, path, source }
    }
}

/// At most this many symlinks are followed while resolving one path (as the kernel).
const MAX_SYMLINKS: usize = 40;

/// Upper bound for small configuration files read from a container (passwd, group, …).
pub const SMALL_FILE_LIMIT: u64 = 4 << 20;

/// A directory tree whose contents are untrusted, held open by descriptor.
#[derive(Debug)]
pub struct Root {
    dir: OwnedFd,
    path: PathBuf,
}

impl Root {
    /// Opens the root itself (a trusted path chosen by the caller).
    pub fn open(path: &Path) -> Result<Root> {
        let dir = nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| ConfinedError::Io { context: "open", path: path.to_path_buf(), source: e.into() })?;
        Ok(Root { dir, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An `O_PATH` descriptor of `rel` resolved inside the root; the last
    /// component is not followed (a symlink there is returned as itself).
    pub fn resolve(&self, rel: &Path) -> Result<OwnedFd> {
        resolve(&self.dir, rel).map_err(|e| self.err("resolve", rel, e))
    }

    /// Metadata of `rel` (not following a final symlink), `None` if it does not exist.
    pub fn stat(&self, rel: &Path) -> Result<Option<FileStat>> {
        match resolve(&self.dir, rel) {
            Ok(fd) => fstat(fd.as_fd()).map(Some).map_err(|e| self.err("stat", rel, e)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(self.err("resolve", rel, e)),
        }
    }

    /// Opens `rel` for reading if it is a regular file. `None` if it does not
    /// exist; an error naming the path if it is anything but a regular file
    /// (a symlink, FIFO, socket, device or directory).
    pub fn open_regular(&self, rel: &Path) -> Result<Option<(File, FileStat)>> {
        let fd = match resolve(&self.dir, rel) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(self.err("resolve", rel, e)),
        };
        let st = fstat(fd.as_fd()).map_err(|e| self.err("stat", rel, e))?;
        let node = Node { fd, stat: st, path: self.path.join(strip_root(rel)) };
        let file = node.open()?;
        let again = fstat(file.as_fd()).map_err(|e| self.err("stat", rel, e))?;
        Ok(Some((file, again)))
    }

    /// The node at `rel` (resolved inside the root, a final symlink not
    /// followed), held by an `O_PATH` descriptor. `None` if it does not exist.
    pub fn node(&self, rel: &Path) -> Result<Option<Node>> {
        let fd = match resolve(&self.dir, rel) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(self.err("resolve", rel, e)),
        };
        let stat = fstat(fd.as_fd()).map_err(|e| self.err("stat", rel, e))?;
        Ok(Some(Node { fd, stat, path: self.path.join(strip_root(rel)) }))
    }

    /// [`Root::node`], but a final symlink is followed too (still inside the
    /// root, as if it were `/`). `None` if it, or what it points to, does not exist.
    pub fn node_following(&self, rel: &Path) -> Result<Option<Node>> {
        let mut cur = strip_root(rel).to_path_buf();
        for _ in 0..=MAX_SYMLINKS {
            let Some(node) = self.node(&cur)? else { return Ok(None) };
            if node.kind() != Kind::Symlink {
                return Ok(Some(node));
            }
            let target = node.read_link()?;
            cur = if target.is_absolute() { target } else { cur.parent().unwrap_or(Path::new("")).join(target) };
        }
        Err(self.err("resolve", rel, Errno::ELOOP))
    }

    /// The entry `name` of the root directory itself (one component, never
    /// followed): a walk of a tree on descriptors goes through this.
    pub fn child(&self, name: &OsStr) -> Result<Option<Node>> {
        let single = Path::new(name).components().count() == 1
            && matches!(Path::new(name).components().next(), Some(Component::Normal(_)));
        if !single {
            return Err(self.err("resolve", Path::new(name), Errno::EINVAL));
        }
        let open = nix::fcntl::openat(
            self.dir.as_fd(),
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        );
        let fd = match open {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(self.err("resolve", Path::new(name), e)),
        };
        let stat = fstat(fd.as_fd()).map_err(|e| self.err("stat", Path::new(name), e))?;
        Ok(Some(Node { fd, stat, path: self.path.join(name) }))
    }

    /// The names in the root directory itself (without `.` and `..`), sorted.
    pub fn list(&self) -> Result<Vec<std::ffi::OsString>> {
        let err = |e| ConfinedError::Io { context: "list", path: self.path.clone(), source: std::io::Error::from(e) };
        let mut dir = nix::dir::Dir::openat(
            self.dir.as_fd(),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
            Mode::empty(),
        )
        .map_err(err)?;
        let mut names = Vec::new();
        for entry in dir.iter() {
            let entry = entry.map_err(err)?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsStr::from_bytes(name).to_os_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Reads the regular file `rel`, at most `limit` bytes (more is an error).
    /// `None` if it does not exist.
    pub fn read(&self, rel: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
        let Some((file, _)) = self.open_regular(rel)? else { return Ok(None) };
        read_bounded(file, limit, &self.path.join(strip_root(rel))).map(Some)
    }

    /// [`Root::read`] as UTF-8 (lossy: these are text files from someone else).
    pub fn read_string(&self, rel: &Path, limit: u64) -> Result<Option<String>> {
        Ok(self.read(rel, limit)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    fn err(&self, context: &'static str, rel: &Path, e: Errno) -> ConfinedError {
        ConfinedError::Io { context, path: self.path.join(strip_root(rel)), source: e.into() }
    }
}

/// What a node is, from its `fstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Regular,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

impl Kind {
    pub fn of(st: &FileStat) -> Kind {
        Kind::of_mode(st.st_mode)
    }

    /// The file type bits of a raw `st_mode`.
    pub fn of_mode(mode: u32) -> Kind {
        match mode & libc::S_IFMT {
            libc::S_IFREG => Kind::Regular,
            libc::S_IFDIR => Kind::Directory,
            libc::S_IFLNK => Kind::Symlink,
            libc::S_IFIFO => Kind::Fifo,
            libc::S_IFSOCK => Kind::Socket,
            libc::S_IFCHR => Kind::CharDevice,
            _ => Kind::BlockDevice,
        }
    }

    /// How messages name it ("a FIFO", "a socket", …).
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Regular => "a regular file",
            Kind::Directory => "a directory",
            Kind::Symlink => "a symlink",
            Kind::Fifo => "a FIFO",
            Kind::Socket => "a socket",
            Kind::CharDevice => "a character device",
            Kind::BlockDevice => "a block device",
        }
    }
}

/// One node of a [`Root`], held by an `O_PATH` descriptor (which opens
/// nothing: a FIFO is not waited on, a device not touched). Only regular
/// files are ever opened for reading ([`Node::open`]) and only directories
/// listed ([`Node::into_root`] then [`Root::list`]).
#[derive(Debug)]
pub struct Node {
    fd: OwnedFd,
    stat: FileStat,
    path: PathBuf,
}

impl Node {
    /// Its `fstat` (of the node itself: a symlink is not followed).
    pub fn stat(&self) -> &FileStat {
        &self.stat
    }

    pub fn kind(&self) -> Kind {
        Kind::of(&self.stat)
    }

    /// Its host path, for messages (it was resolved by descriptor, not by this path).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A symlink's target (`readlinkat` on the descriptor itself).
    pub fn read_link(&self) -> Result<PathBuf> {
        if self.kind() != Kind::Symlink {
            return Err(self.io("readlink", Errno::EINVAL));
        }
        let target = nix::fcntl::readlinkat(self.fd.as_fd(), "").map_err(|e| self.io("readlink", e))?;
        Ok(PathBuf::from(target))
    }

    /// Opens a regular file for reading: the very inode that was checked is
    /// re-opened through its descriptor (`O_NONBLOCK`, so nothing can make
    /// it wait); anything else is [`ConfinedError::NotRegularFile`].
    pub fn open(&self) -> Result<File> {
        if self.kind() != Kind::Regular {
            return Err(ConfinedError::NotRegularFile(self.path.clone()));
        }
        let proc_path = format!("/proc/self/fd/{}", self.fd.as_raw_fd());
        let file =
            nix::fcntl::open(proc_path.as_str(), OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK, Mode::empty())
                .map_err(|e| self.io("open", e))?;
        let again = fstat(file.as_fd()).map_err(|e| self.io("stat", e))?;
        if (again.st_dev, again.st_ino) != (self.stat.st_dev, self.stat.st_ino) {
            return Err(self.io("open", Errno::EXDEV));
        }
        Ok(File::from(file))
    }

    /// A directory as a [`Root`] of its own, to list it and reach its
    /// entries one name at a time ([`Root::child`]).
    pub fn into_root(self) -> Result<Root> {
        if self.kind() != Kind::Directory {
            return Err(self.io("open directory", Errno::ENOTDIR));
        }
        Ok(Root { dir: self.fd, path: self.path })
    }

    fn io(&self, context: &'static str, e: Errno) -> ConfinedError {
        ConfinedError::Io { context, path: self.path.clone(), source: e.into() }
    }
}

/// Reads all of `file`, failing once more than `limit` bytes arrive.
pub fn read_bounded(file: File, limit: u64, path: &Path) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut buf).map_err(ConfinedError::io("read", path))?;
    if buf.len() as u64 > limit {
        return Err(ConfinedError::FileTooLarge { path: path.to_path_buf(), limit });
    }
    Ok(buf)
}

fn strip_root(rel: &Path) -> &Path {
    rel.strip_prefix("/").unwrap_or(rel)
}

/// `O_PATH` descriptor of `rel` inside `root`, last component not followed.
fn resolve(root: &OwnedFd, rel: &Path) -> std::result::Result<OwnedFd, Errno> {
    let rel = strip_root(rel);
    let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    match nix::fcntl::openat2(root.as_fd(), rel, how) {
        // Old kernels (no openat2) and seccomp filters that refuse it: walk by hand.
        Err(Errno::ENOSYS) | Err(Errno::EPERM) => walk(root, rel),
        // openat2 refuses to resolve while a rename races it; a walk is as good.
        Err(Errno::EAGAIN) => walk(root, rel),
        other => other,
    }
}

/// The fallback resolver: one component at a time on `O_PATH` descriptors;
/// symlinks (except the last component) are read and resolved as if `root`
/// were `/`, `..` never climbs above it.
fn walk(root: &OwnedFd, rel: &Path) -> std::result::Result<OwnedFd, Errno> {
    let open_path = |dir: &OwnedFd, name: &OsStr| {
        nix::fcntl::openat(dir.as_fd(), name, OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
    };
    let dup_root = || open_path(root, OsStr::new("."));
    // Components still to resolve, in reverse (so symlink targets can be pushed).
    let mut todo: Vec<Vec<u8>> = components(rel).into_iter().rev().collect();
    // Descriptors of the directories from the root down to the current one.
    let mut stack: Vec<OwnedFd> = vec![dup_root()?];
    let mut links = 0;
    let mut last: Option<OwnedFd> = None;
    while let Some(name) = todo.pop() {
        if let Some(fd) = last.take() {
            stack.push(fd);
        }
        let cur = stack.last().expect("the root is never popped");
        if name == b".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let fd = open_path(cur, OsStr::from_bytes(&name))?;
        let st = fstat(fd.as_fd())?;
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFLNK && !todo.is_empty() {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(Errno::ELOOP);
            }
            let target = nix::fcntl::readlinkat(fd.as_fd(), "")?;
            let target = Path::new(&target);
            if target.is_absolute() {
                stack.truncate(1);
            }
            todo.extend(components(target).into_iter().rev());
            continue;
        }
        if !todo.is_empty() && kind != SFlag::S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        last = Some(fd);
    }
    match last {
        Some(fd) => Ok(fd),
        None => stack.pop().ok_or(Errno::ENOENT),
    }
}

fn components(p: &Path) -> Vec<Vec<u8>> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.as_bytes().to_vec()),
            Component::ParentDir => Some(b"..".to_vec()),
            _ => None,
        })
        .collect()
}

/// The host path of `path` resolved inside `root` the way a process whose
/// root is `root` would see it: every symlink (the last component's too) is
/// followed relative to `root`, and `..` never climbs above it. For callers
/// that need a path (a mount destination before `pivot_root`, an unpack
/// target in a tree being built, a build context entry); between this and
/// its use the tree must not change under an adversary's control.
pub fn join(root: &Path, path: &Path) -> Result<PathBuf> {
    let mut resolved = PathBuf::new(); // relative to root
    let mut pending: Vec<std::ffi::OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = root.join(&resolved).join(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    return Err(ConfinedError::TooManySymlinks(path.to_path_buf()));
                }
                let target = std::fs::read_link(&candidate).map_err(ConfinedError::io("readlink", &candidate))?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => pending.push(s.to_os_string()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => resolved.push(&part),
        }
    }
    Ok(root.join(resolved))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, tempfile::TempDir) {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        std::fs::write(outside.path().join("secret"), "host secret\n").unwrap();
        (root, outside)
    }

    fn both(root: &Root, rel: &str) -> (std::result::Result<OwnedFd, Errno>, std::result::Result<OwnedFd, Errno>) {
        (resolve(&root.dir, Path::new(rel)), walk(&root.dir, Path::new(rel)))
    }

    #[test]
    fn reads_regular_files() {
        let (dir, _o) = tree();
        let root = Root::open(dir.path()).unwrap();
        assert_eq!(root.read_string(Path::new("/etc/passwd"), 100).unwrap().unwrap(), "root:x:0:0::/root:/bin/sh\n");
        assert!(root.read(Path::new("etc/none"), 100).unwrap().is_none());
        assert!(matches!(root.read(Path::new("etc/passwd"), 4), Err(ConfinedError::FileTooLarge { limit: 4, .. })));
    }

    #[test]
    fn symlinks_stay_inside_and_last_component_is_not_followed() {
        let (dir, outside) = tree();
        let secret = outside.path().join("secret");
        symlink(&secret, dir.path().join("etc/shadow-link")).unwrap();
        symlink("/dev/zero", dir.path().join("etc/zero")).unwrap();
        // An intermediate symlink pointing out of the tree resolves inside it.
        symlink(outside.path(), dir.path().join("out")).unwrap();
        symlink("../../../../etc", dir.path().join("up")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        assert!(root.read(Path::new("etc/shadow-link"), 100).is_err(), "final symlink refused");
        assert!(root.read(Path::new("etc/zero"), 100).is_err(), "symlink to a device refused");
        // <root>/out -> /tmp/xyz resolves to <root>/tmp/xyz, which does not exist.
        assert!(root.read(Path::new("out/secret"), 100).unwrap().is_none());
        // `..` cannot climb out: up -> ../../../../etc is <root>/etc.
        assert!(root.read(Path::new("up/passwd"), 100).unwrap().is_some());
        assert!(root.read(Path::new("../../../../../etc/passwd"), 100).unwrap().is_some());
        for rel in ["out/secret", "etc/shadow-link/x"] {
            let (a, b) = both(&root, rel);
            assert!(a.is_err() && b.is_err(), "{rel}");
        }
        let (a, b) = both(&root, "up/passwd");
        let (a, b) = (fstat(a.unwrap().as_fd()).unwrap(), fstat(b.unwrap().as_fd()).unwrap());
        assert_eq!((a.st_dev, a.st_ino), (b.st_dev, b.st_ino), "walk agrees with openat2");
    }

    #[test]
    fn refuses_fifos_devices_and_directories_without_blocking() {
        let (dir, _o) = tree();
        nix::unistd::mkfifo(&dir.path().join("etc/group"), Mode::from_bits_truncate(0o644)).unwrap();
        let root = Root::open(dir.path()).unwrap();
        // Opening a FIFO for reading would block until a writer comes: it must not be opened.
        assert!(matches!(root.read(Path::new("etc/group"), 100), Err(ConfinedError::NotRegularFile(_))));
        assert!(matches!(root.read(Path::new("etc"), 100), Err(ConfinedError::NotRegularFile(_))));
        let devroot = Root::open(Path::new("/dev")).unwrap();
        assert!(matches!(devroot.read(Path::new("zero"), 100), Err(ConfinedError::NotRegularFile(_))));
    }

    #[test]
    fn nodes_children_and_listing() {
        let (dir, outside) = tree();
        nix::unistd::mkfifo(&dir.path().join("etc/fifo"), Mode::from_bits_truncate(0o644)).unwrap();
        symlink(outside.path().join("secret"), dir.path().join("etc/leak")).unwrap();
        symlink("passwd", dir.path().join("etc/pw")).unwrap();
        symlink("/etc", dir.path().join("abs")).unwrap();
        symlink(outside.path(), dir.path().join("out")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        let etc = root.node(Path::new("/abs")).unwrap().unwrap();
        assert_eq!(etc.kind(), Kind::Symlink);
        assert_eq!(etc.read_link().unwrap(), Path::new("/etc"));
        assert!(etc.into_root().is_err(), "a symlink is not a directory");
        let etc = root.node_following(Path::new("/abs")).unwrap().unwrap().into_root().unwrap();
        assert_eq!(etc.list().unwrap(), ["fifo", "leak", "passwd", "pw"]);
        let fifo = etc.child(OsStr::new("fifo")).unwrap().unwrap();
        assert_eq!(fifo.kind(), Kind::Fifo);
        assert!(matches!(fifo.open(), Err(ConfinedError::NotRegularFile(_))), "a FIFO is never opened");
        let leak = etc.child(OsStr::new("leak")).unwrap().unwrap();
        assert_eq!(leak.kind(), Kind::Symlink, "the last component is never followed");
        assert!(leak.open().is_err());
        assert!(etc.child(OsStr::new("../etc")).is_err() && etc.child(OsStr::new("none")).unwrap().is_none());
        let mut pw = String::new();
        etc.child(OsStr::new("passwd")).unwrap().unwrap().open().unwrap().read_to_string(&mut pw).unwrap();
        assert!(pw.starts_with("root:"));
        // Following a final symlink stays inside: leak -> <outside>/secret is <root>/<outside>/secret.
        assert!(root.node_following(Path::new("etc/leak")).unwrap().is_none());
        assert!(root.node_following(Path::new("out/secret")).unwrap().is_none());
        assert_eq!(root.node_following(Path::new("etc/pw")).unwrap().unwrap().kind(), Kind::Regular);
        symlink("loop", dir.path().join("loop")).unwrap();
        assert!(root.node_following(Path::new("loop")).is_err());
    }

    #[test]
    fn walk_loops_are_bounded() {
        let (dir, _o) = tree();
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        let (a, b) = both(&root, "a/x");
        assert_eq!(a.unwrap_err(), Errno::ELOOP);
        assert_eq!(b.unwrap_err(), Errno::ELOOP);
    }
}

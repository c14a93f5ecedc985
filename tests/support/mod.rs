//! Shared fixtures for the end-to-end tests: a busybox-static rootfs built on
//! the fly, bundles derived from `wharf runtime spec`, and a per-test runtime
//! root that is torn down (containers force-deleted) even when a test fails.

#![allow(dead_code)]

pub mod daemon;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

pub const WHARF: &str = env!("CARGO_BIN_EXE_wharf");

/// A busybox rootfs shared by every test (read-only use only).
pub fn rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        // Built once under target/ (not /tmp, so nothing is left behind), atomically.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("busybox-rootfs");
        if !dir.join("bin/busybox").exists() {
            let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            build_rootfs(&tmp);
            if std::fs::rename(&tmp, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&tmp); // another process won the race
            }
        }
        dir
    })
}

/// Lays out a minimal OS tree: /bin/busybox plus one symlink per applet.
pub fn build_rootfs(dir: &Path) {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static must be installed (apt-get install busybox-static)");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(busybox, bin.join("busybox")).unwrap();
    let list = Command::new(busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    for d in ["proc", "sys", "dev", "etc", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
        .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// One test's runtime root and bundles. Dropping it force-deletes every
/// container still listed and removes its directories.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub runtime: Vec<String>,
}

impl Env {
    pub fn new() -> Env {
        Env::with_runtime(&[WHARF, "runtime"])
    }

    pub fn with_runtime(cmd: &[&str]) -> Env {
        let dir = tempfile::Builder::new().prefix("wharf-test-").tempdir().unwrap();
        Env { dir, runtime: cmd.iter().map(|s| s.to_string()).collect() }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A bundle named `name` whose config is the default spec with `args`, then `patch` applied.
    pub fn bundle(&self, name: &str, args: &[&str], patch: impl FnOnce(&mut Value)) -> PathBuf {
        let bundle = self.dir.path().join(name);
        std::fs::create_dir_all(&bundle).unwrap();
        let out = Command::new(WHARF).args(["runtime", "spec", "--bundle"]).arg(&bundle).output().unwrap();
        assert!(out.status.success(), "spec: {}", String::from_utf8_lossy(&out.stderr));
        let path = bundle.join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        config["root"] = json!({"path": rootfs(), "readonly": false});
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        patch(&mut config);
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        bundle
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.runtime[0]);
        c.args(&self.runtime[1..]).arg("--root").arg(self.root());
        c.stdin(Stdio::null());
        c
    }

    pub fn rt(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs the runtime and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.rt(args);
        assert!(
            out.status.success(),
            "{:?} {args:?} failed ({}): {}{}",
            self.runtime,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `run` in the foreground; returns (exit code, stdout, stderr).
    pub fn run(&self, id: &str, bundle: &Path) -> (i32, String, String) {
        let out = self.cmd().args(["run", "--bundle"]).arg(bundle).arg(id).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    pub fn ids(&self) -> Vec<String> {
        let out = self.rt(&["list", "-q"]);
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.ids() {
            let _ = self.rt(&["delete", "--force", &id]);
        }
    }
}

/// Polls `f` for up to 5 s.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Every host path where a container's cgroup could live.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let p = entry.path().join(rel);
        if p.exists() {
            out.push(p);
        }
    }
    let unified = Path::new("/sys/fs/cgroup").join(rel);
    if unified.exists() {
        out.push(unified);
    }
    out
}

pub fn runc_available() -> bool {
    Command::new("runc").arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
}

impl Env {
    /// Runs a verb whose container may inherit stdio (create, run -d, exec -d):
    /// stdout/stderr go to files so no pipe is held open by the container.
    pub fn quiet(&self, args: &[&str]) -> (bool, String) {
        let err = self.dir.path().join(format!("stderr-{}", std::process::id()));
        let file = std::fs::File::create(&err).unwrap();
        let status = self.cmd().args(args).stdout(Stdio::null()).stderr(file).status().unwrap();
        (status.success(), std::fs::read_to_string(&err).unwrap_or_default())
    }

    pub fn quiet_ok(&self, args: &[&str]) {
        let (ok, err) = self.quiet(args);
        assert!(ok, "{:?} {args:?} failed: {err}", self.runtime);
    }
}

/// `<dir>/rootfs.tar`: the busybox rootfs as a tarball (made once per dir).
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let tar = dir.join("rootfs.tar");
    if !tar.exists() {
        let st = Command::new("tar").arg("-C").arg(rootfs()).arg("-cf").arg(&tar).arg(".").status().unwrap();
        assert!(st.success(), "tar the busybox rootfs");
    }
    tar
}

/// Asserts a command succeeded; returns its stdout.
pub fn stdout_of(out: Output, what: impl std::fmt::Debug) -> String {
    assert!(
        out.status.success(),
        "{what:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Debian's docker-registry on 127.0.0.1 with its own three-line config; killed on drop.
pub struct Registry {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start(htpasswd: Option<(&str, &str)>) -> Registry {
        Registry::start_in(None, htpasswd)
    }

    /// A registry on the loopback of network namespace `netns` (a daemon under
    /// test runs in one of its own).
    pub fn start_in(netns: Option<&str>, htpasswd: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::Builder::new().prefix("wharf-registry-").tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n",
            dir.path().join("data").display()
        );
        if let Some((user, pass)) = htpasswd {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .expect("htpasswd (apt-get install apache2-utils)");
            std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
            config.push_str(&format!(
                "auth: {{htpasswd: {{realm: test, path: {}}}}}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).arg("docker-registry");
                c
            }
            None => Command::new("docker-registry"),
        };
        let child = cmd
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let ns_path = netns.map(|ns| format!("/run/netns/{ns}"));
        // Probe from a thread that joined the namespace (setns affects only it).
        std::thread::spawn(move || {
            if let Some(p) = ns_path {
                let f = std::fs::File::open(p).unwrap();
                nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            }
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(std::time::Instant::now() < deadline, "registry did not start");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
        .join()
        .expect("registry did not start");
        Registry { child, port, _dir: dir }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Named build contexts (`--build-context`), the same case with or without
/// a daemon (`wharf` runs the CLI either way; `busybox:local` is imported):
/// an image context as the base, a directory's files (its own
/// `.dockerignore` applied) for `COPY --from`, a directory as a stage's
/// root filesystem; then the refusals (a remote context, a stage named as
/// a context), with nothing tagged.
pub fn named_contexts_case(dir: &Path, wharf: &dyn Fn(&[&str]) -> Output) {
    let (ctx, src, tree) = (dir.join("nctx"), dir.join("nsrc"), dir.join("ntree"));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(src.join("f.txt"), "named\n").unwrap();
    std::fs::write(src.join("skip.log"), "x").unwrap();
    std::fs::write(src.join(".dockerignore"), "*.log\n").unwrap();
    std::fs::write(tree.join("etc/marker"), "rootfs\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM tree AS t\nFROM base\nCOPY --from=src . /src/\nCOPY --from=t /etc/marker /marker\n\
         RUN test ! -e /src/skip.log && cat /src/f.txt /marker > /both\n",
    )
    .unwrap();
    let (c, s, t) = (ctx.display().to_string(), src.display().to_string(), tree.display().to_string());
    let contexts = ["--build-context", "base=docker-image://busybox:local", "--build-context"];
    let mut args: Vec<String> = ["build", "-q", "-t", "named:1"].iter().map(|s| s.to_string()).collect();
    args.extend(contexts.iter().map(|s| s.to_string()));
    args.extend([format!("src={s}"), "--build-context".into(), format!("tree={t}"), c.clone()]);
    let out = wharf(&args.iter().map(String::as_str).collect::<Vec<_>>());
    stdout_of(out, "build with named contexts");
    let out = wharf(&["run", "--rm", "named:1", "cat", "/both"]);
    assert_eq!(stdout_of(out, "run the built image"), "named\nrootfs\n");
    // Refused, naming what: a remote context; a stage that has a context's name.
    let out = wharf(&["build", "-t", "named:2", "--build-context", "x=https://example.invalid/r.git", &c]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && err.contains("\"x\"") && err.contains("docker-image://REF"), "{err}");
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox:local AS src\n").unwrap();
    let out = wharf(&["build", "-t", "named:2", "--build-context", &format!("src={s}"), &c]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && err.contains("stage src has the name of a named build context"), "{err}");
    assert!(!wharf(&["image", "inspect", "named:2"]).status.success(), "nothing tagged");
}

/// A static file server on 127.0.0.1 (GET only; what git's dumb HTTP
/// protocol and a tarball download need), stopped on drop.
pub struct StaticServer {
    pub port: u16,
    netns: Option<PathBuf>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StaticServer {
    /// Serves `root` on the loopback of network namespace `netns` (a
    /// `/run/netns` path; the test's own when None).
    pub fn serve(root: &Path, netns: Option<&Path>) -> StaticServer {
        use std::io::{BufRead, Write};
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (root, flag, ns) = (root.to_path_buf(), stop.clone(), netns.map(Path::to_path_buf));
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            enter(ns.as_deref());
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            for conn in listener.incoming() {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let mut line = String::new();
                let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // The headers up to the blank line.
                let mut h = String::new();
                while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
                    h.clear();
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_string();
                let file = root.join(path.trim_start_matches('/'));
                let reply = match (path.contains(".."), std::fs::read(&file)) {
                    (false, Ok(body)) => {
                        let mut r =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                                .into_bytes();
                        r.extend(body);
                        r
                    }
                    _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                };
                let _ = conn.write_all(&reply);
            }
        });
        let port = rx.recv().expect("the server thread binds");
        StaticServer { port, netns: netns.map(Path::to_path_buf), stop, thread: Some(thread) }
    }
}

/// Moves this thread into network namespace `netns` (none: stays).
fn enter(netns: Option<&Path>) {
    if let Some(ns) = netns {
        let f = std::fs::File::open(ns).unwrap();
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept up, from the server's namespace.
        let (port, ns) = (self.port, self.netns.clone());
        let _ = std::thread::spawn(move || {
            enter(ns.as_deref());
            let _ = std::net::TcpStream::connect(("127.0.0.1", port));
        })
        .join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Remote build contexts, the same case with or without a daemon: a git
/// repository over (dumb) HTTP with `#tag:subdir`, a tarball URL, a
/// Dockerfile URL; a missing URL refused with nothing tagged.
/// What remote contexts are fetched from, in `dir/served`: `repo.git` (a
/// bare repository for git's dumb HTTP protocol: `sub/` holds a Dockerfile
/// copying `hello.txt`, "from git v1" at tag v1, "from git main" on main),
/// `ctx.tar.gz` (a context) and `Dockerfile.txt` (a Dockerfile alone).
pub fn remote_fixtures(dir: &Path) -> PathBuf {
    let git = |cwd: &Path, args: &[&str]| {
        let out = Command::new("git").arg("-C").arg(cwd).args(args).output().expect("git is installed");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let (work, served) = (dir.join("rwork"), dir.join("served"));
    std::fs::create_dir_all(work.join("sub")).unwrap();
    std::fs::create_dir_all(&served).unwrap();
    std::fs::write(work.join("sub/Dockerfile"), "FROM busybox:local\nCOPY hello.txt /hello.txt\n").unwrap();
    std::fs::write(work.join("sub/hello.txt"), "from git v1\n").unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "."]);
    git(&work, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "v1"]);
    git(&work, &["tag", "v1"]);
    std::fs::write(work.join("sub/hello.txt"), "from git main\n").unwrap();
    git(&work, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "v2"]);
    let bare = served.join("repo.git");
    let out = Command::new("git").args(["clone", "-q", "--bare"]).arg(&work).arg(&bare).output().unwrap();
    assert!(out.status.success());
    git(&bare, &["update-server-info"]);
    // A tarball context and a Dockerfile alone.
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(served.join("ctx.tar.gz")).unwrap(),
        Default::default(),
    ));
    for (name, data) in [("Dockerfile", "FROM busybox:local\nCOPY t.txt /t.txt\n"), ("t.txt", "from tar\n")] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
    std::fs::write(served.join("Dockerfile.txt"), "FROM busybox:local\nRUN echo alone > /alone\n").unwrap();
    served
}

/// `netns`: where the builder runs (its URLs name that loopback).
pub fn remote_contexts_case(dir: &Path, netns: Option<&Path>, wharf: &dyn Fn(&[&str]) -> Output) {
    let server = StaticServer::serve(&remote_fixtures(dir), netns);
    let url = |p: &str| format!("http://127.0.0.1:{}/{p}", server.port);
    let run_cat = |image: &str, file: &str| stdout_of(wharf(&["run", "--rm", image, "cat", file]), ("cat", file));
    stdout_of(wharf(&["build", "-q", "-t", "remote:v1", &url("repo.git#v1:sub")]), "build from git v1");
    assert_eq!(run_cat("remote:v1", "/hello.txt"), "from git v1\n");
    stdout_of(wharf(&["build", "-q", "-t", "remote:main", &url("repo.git#main:sub")]), "build from git main");
    assert_eq!(run_cat("remote:main", "/hello.txt"), "from git main\n");
    stdout_of(wharf(&["build", "-q", "-t", "remote:tar", &url("ctx.tar.gz")]), "build from a tarball");
    assert_eq!(run_cat("remote:tar", "/t.txt"), "from tar\n");
    stdout_of(wharf(&["build", "-q", "-t", "remote:df", &url("Dockerfile.txt")]), "build from a Dockerfile URL");
    assert_eq!(run_cat("remote:df", "/alone"), "alone\n");
    for bad in [url("gone.tar.gz"), url("repo.git#nope:sub"), url("repo.git#v1:../..")] {
        let out = wharf(&["build", "-t", "remote:bad", &bad]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success() && err.contains("remote context"), "{bad}: {err}");
    }
    assert!(!wharf(&["image", "inspect", "remote:bad"]).status.success(), "nothing tagged");
}

//! cgroup management: v1 (and hybrid hosts, which run their controllers on v1)
//! and the v2 unified hierarchy. We write the control files directly: a
//! container needs a handful of writes, and doing them ourselves keeps
//! `create` fast and dependency-free (see ARCHITECTURE.md).
//!
//! The resource → file translation is pure ([`v1::writes`], [`v2::writes`]) so it
//! is unit-tested without a kernel; [`Cgroup`] takes its hierarchy roots as data,
//! so the whole create/apply/destroy path also runs against a fake cgroupfs tree.

pub mod devices;
pub mod v1;
pub mod v2;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::error::{Result, RuntimeError};

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Which cgroup layout the host runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// One mount per controller group (pure v1 and hybrid hosts).
    V1(Vec<V1Mount>),
    /// The unified hierarchy mounted at `root`.
    V2 { root: PathBuf },
}

/// One v1 hierarchy: the controllers it carries (`cpu`, `name=systemd`, …) and where it is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    pub subsystems: Vec<String>,
    pub mountpoint: PathBuf,
}

impl V1Mount {
    pub fn has(&self, subsystem: &str) -> bool {
        self.subsystems.iter().any(|s| s == subsystem)
    }
}

impl Hierarchy {
    /// Looks at `/sys/fs/cgroup`: cgroup2 there means v2; anything else is v1
    /// (a hybrid host's `unified` mount carries no controllers and is ignored).
    pub fn detect() -> Result<Self> {
        let root = Path::new("/sys/fs/cgroup");
        let fs = nix::sys::statfs::statfs(root).map_err(RuntimeError::sys("statfs /sys/fs/cgroup"))?;
        if fs.filesystem_type().0 as i64 == CGROUP2_SUPER_MAGIC {
            return Ok(Hierarchy::V2 { root: root.to_path_buf() });
        }
        let mountinfo =
            fs::read_to_string("/proc/self/mountinfo").map_err(RuntimeError::io("read", "/proc/self/mountinfo"))?;
        Ok(Hierarchy::V1(parse_v1_mounts(&mountinfo)))
    }

    pub fn is_v2(&self) -> bool {
        matches!(self, Hierarchy::V2 { .. })
    }

    /// Whether any hierarchy carrying a real controller is visible: a v1 host
    /// whose only mounts are named ones (`name=systemd`), or none at all (a
    /// process under `ip netns exec`, which remounts /sys), has none.
    pub fn has_controllers(&self) -> bool {
        match self {
            Hierarchy::V1(mounts) => mounts.iter().any(|m| m.subsystems.iter().any(|s| !s.starts_with("name="))),
            Hierarchy::V2 { root } => root.join("cgroup.controllers").is_file(),
        }
    }
}

/// Controllers a container's limits and device policy rely on, on v1 hosts.
pub const ESSENTIAL_V1: [&str; 6] = ["devices", "memory", "cpu", "pids", "cpuset", "freezer"];
/// The same on v2 hosts (devices are an eBPF program there and freezing is
/// built into every cgroup).
pub const ESSENTIAL_V2: [&str; 4] = ["memory", "cpu", "pids", "cpuset"];

/// Which essential controllers the host lacks: on v1 those not mounted, on v2
/// those missing from the root's `cgroup.controllers`. Empty when all are there.
pub fn missing_controllers(hierarchy: &Hierarchy) -> Vec<&'static str> {
    match hierarchy {
        Hierarchy::V1(mounts) => ESSENTIAL_V1.into_iter().filter(|c| !mounts.iter().any(|m| m.has(c))).collect(),
        Hierarchy::V2 { root } => {
            let available = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
            ESSENTIAL_V2.into_iter().filter(|c| !available.split_whitespace().any(|a| a == *c)).collect()
        }
    }
}

/// Extracts the cgroup v1 mounts from `/proc/self/mountinfo` text.
pub fn parse_v1_mounts(mountinfo: &str) -> Vec<V1Mount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut rf = right.split(' ');
        if rf.next() != Some("cgroup") {
            continue;
        }
        let super_opts = rf.nth(1).unwrap_or("");
        let Some(mountpoint) = left.split(' ').nth(4) else {
            continue;
        };
        let subsystems: Vec<String> = super_opts
            .split(',')
            .filter(|o| {
                !matches!(*o, "rw" | "ro" | "xattr" | "noprefix" | "clone_children") && !o.starts_with("release_agent=")
            })
            .map(str::to_string)
            .collect();
        if !subsystems.is_empty() && !out.iter().any(|m: &V1Mount| m.mountpoint == Path::new(mountpoint)) {
            out.push(V1Mount { subsystems, mountpoint: PathBuf::from(unescape_mountinfo(mountpoint)) });
        }
    }
    out
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// Turns a spec's `cgroupsPath` into a path relative to each hierarchy root
/// (cgroupfs layout; the systemd driver's `slice:prefix:name` is refused
/// where it is asked for, in the CLI).
pub fn resolve_path(cgroups_path: Option<&Path>, id: &str) -> Result<PathBuf> {
    let raw = cgroups_path.map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let raw = if raw.is_empty() { format!("wharf/{id}") } else { raw };
    let mut path = PathBuf::new();
    for comp in Path::new(&raw).components() {
        match comp {
            std::path::Component::Normal(c) => path.push(c),
            std::path::Component::RootDir | std::path::Component::CurDir => {}
            _ => return Err(RuntimeError::InvalidSpec(format!("cgroupsPath {raw:?} must not contain '..'"))),
        }
    }
    if path.as_os_str().is_empty() {
        return Err(RuntimeError::InvalidSpec(format!("cgroupsPath {raw:?} names the root cgroup")));
    }
    Ok(path)
}

/// Usage counters of a cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupStats {
    pub cpu_usage_ns: u64,
    pub memory_usage: u64,
    /// None: unlimited.
    pub memory_limit: Option<u64>,
    pub pids: u64,
}

/// A container's cgroup across every hierarchy of the host.
#[derive(Debug, Clone)]
pub struct Cgroup {
    hierarchy: Hierarchy,
    path: PathBuf,
}

impl Cgroup {
    pub fn new(hierarchy: Hierarchy, path: PathBuf) -> Self {
        Cgroup { hierarchy, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// The container's directory in each hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        match &self.hierarchy {
            Hierarchy::V1(mounts) => mounts.iter().map(|m| m.mountpoint.join(&self.path)).collect(),
            Hierarchy::V2 { root } => vec![root.join(&self.path)],
        }
    }

    /// The directory whose `cgroup.procs` lists the container's processes.
    fn procs_dir(&self) -> PathBuf {
        match &self.hierarchy {
            Hierarchy::V1(mounts) => {
                let m = ["pids", "freezer", "memory", "cpu"]
                    .iter()
                    .find_map(|s| mounts.iter().find(|m| m.has(s)))
                    .or(mounts.first());
                m.map(|m| m.mountpoint.join(&self.path)).unwrap_or_default()
            }
            Hierarchy::V2 { root } => root.join(&self.path),
        }
    }

    /// Creates the cgroup directories and applies `resources`. On failure the
    /// directories this call made are removed again.
    pub fn create(&self, resources: Option<&LinuxResources>) -> Result<()> {
        if !self.hierarchy.has_controllers() {
            return Err(RuntimeError::NoCgroupHierarchy);
        }
        let made = match &self.hierarchy {
            Hierarchy::V1(mounts) => v1::create(mounts, &self.path),
            Hierarchy::V2 { root } => v2::create(root, &self.path),
        };
        let made = made?;
        if let Err(e) = self.apply(resources) {
            for dir in made.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Writes the limits of `resources` (used at create and by `update`).
    pub fn apply(&self, resources: Option<&LinuxResources>) -> Result<()> {
        let Some(res) = resources else { return Ok(()) };
        match &self.hierarchy {
            Hierarchy::V1(mounts) => v1::apply(mounts, &self.path, res),
            Hierarchy::V2 { root } => v2::apply(root, &self.path, res),
        }
    }

    /// Moves `pid` into the cgroup in every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for dir in self.dirs() {
            write_file(&dir.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    /// Processes currently in the cgroup.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let file = self.procs_dir().join("cgroup.procs");
        match fs::read_to_string(&file) {
            Ok(s) => Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(RuntimeError::Io { context: "read", path: file, source: e }),
        }
    }

    /// Freezes (`true`) or thaws the cgroup and waits until the kernel reports it done.
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        match &self.hierarchy {
            Hierarchy::V1(mounts) => v1::freeze(mounts, &self.path, frozen),
            Hierarchy::V2 { root } => v2::freeze(&root.join(&self.path), frozen),
        }
    }

    pub fn is_frozen(&self) -> bool {
        match &self.hierarchy {
            Hierarchy::V1(mounts) => v1::is_frozen(mounts, &self.path),
            Hierarchy::V2 { root } => v2::is_frozen(&root.join(&self.path)),
        }
    }

    /// Current usage, read from the control files (what `docker stats` shows).
    pub fn stats(&self) -> CgroupStats {
        let read = |p: PathBuf| fs::read_to_string(p).ok().map(|s| s.trim().to_string());
        let num = |p: PathBuf| read(p).and_then(|s| s.parse::<u64>().ok());
        match &self.hierarchy {
            Hierarchy::V1(mounts) => {
                let dir = |sub: &str| {
                    mounts.iter().find(|m| m.has(sub)).map(|m| m.mountpoint.join(&self.path)).unwrap_or_default()
                };
                CgroupStats {
                    cpu_usage_ns: num(dir("cpuacct").join("cpuacct.usage")).unwrap_or(0),
                    memory_usage: num(dir("memory").join("memory.usage_in_bytes")).unwrap_or(0),
                    memory_limit: num(dir("memory").join("memory.limit_in_bytes")).filter(|l| *l < (1 << 62)),
                    pids: num(dir("pids").join("pids.current")).unwrap_or(0),
                }
            }
            Hierarchy::V2 { root } => {
                let dir = root.join(&self.path);
                let usage_usec = read(dir.join("cpu.stat"))
                    .and_then(|s| {
                        s.lines().find_map(|l| l.strip_prefix("usage_usec ").and_then(|v| v.trim().parse::<u64>().ok()))
                    })
                    .unwrap_or(0);
                CgroupStats {
                    cpu_usage_ns: usage_usec * 1000,
                    memory_usage: num(dir.join("memory.current")).unwrap_or(0),
                    memory_limit: num(dir.join("memory.max")),
                    pids: num(dir.join("pids.current")).unwrap_or(0),
                }
            }
        }
    }

    /// Kills whatever still runs in the cgroup and removes its directories.
    pub fn destroy(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = self.pids()?;
            if pids.is_empty() {
                break;
            }
            if self.is_frozen() {
                let _ = self.freeze(false);
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            if Instant::now() > deadline {
                return Err(RuntimeError::Cgroup(format!("processes left in {} after SIGKILL", self.path.display())));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        for dir in self.dirs() {
            remove_dir_retry(&dir)?;
            // Parents we may have made (`wharf/`) go too once empty; a parent still
            // holding other cgroups refuses with EBUSY and stays. Slices belong to systemd.
            let mut parent = dir.parent();
            for _ in 1..self.path.components().count() {
                let Some(p) = parent.filter(|p| p.extension().is_none_or(|e| e != "slice")) else { break };
                if fs::remove_dir(p).is_err() {
                    break;
                }
                parent = p.parent();
            }
        }
        Ok(())
    }
}

fn remove_dir_retry(dir: &Path) -> Result<()> {
    let mut delay = Duration::from_micros(500);
    for _ in 0..12 {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(e) => return Err(RuntimeError::Io { context: "remove cgroup", path: dir.to_path_buf(), source: e }),
        }
    }
    Err(RuntimeError::Cgroup(format!("{} stays busy", dir.display())))
}

/// Writes a control file in one write(2), without truncating (cgroupfs
/// semantics). `create` only matters on a fake tree: cgroupfs files exist.
pub(crate) fn write_file(path: &Path, value: &str) -> Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(RuntimeError::io("open", path))?;
    f.write_all(value.as_bytes())
        .map_err(|e| RuntimeError::Cgroup(format!("write {value:?} to {}: {e}", path.display())))
}

/// Creates `rel` under `root` one level at a time; returns the directories
/// it made (outermost first). A concurrent destroy may remove an empty parent
/// between two levels: then it starts over.
pub(crate) fn mkdir_levels(root: &Path, rel: &Path) -> Result<Vec<PathBuf>> {
    let mut attempts = 0;
    'retry: loop {
        let mut made = Vec::new();
        let mut cur = root.to_path_buf();
        for comp in rel.components() {
            cur.push(comp);
            match fs::create_dir(&cur) {
                Ok(()) => made.push(cur.clone()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == ErrorKind::NotFound && attempts < 5 => {
                    attempts += 1;
                    continue 'retry;
                }
                Err(e) => {
                    for d in made.iter().rev() {
                        let _ = fs::remove_dir(d);
                    }
                    return Err(RuntimeError::Io { context: "create cgroup", path: cur, source: e });
                }
            }
        }
        return Ok(made);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hybrid_mountinfo() {
        let text = "\
25 24 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let mounts = parse_v1_mounts(text);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].subsystems, vec!["name=systemd"]);
        assert_eq!(mounts[1].subsystems, vec!["cpu", "cpuacct"]);
        assert!(mounts[1].has("cpuacct"));
        assert_eq!(mounts[2].mountpoint, PathBuf::from("/sys/fs/cgroup/memory"));
    }

    use oci_spec::runtime::{
        LinuxDeviceCgroupBuilder, LinuxInterfacePriorityBuilder, LinuxMemoryBuilder, LinuxNetworkBuilder,
        LinuxResourcesBuilder,
    };

    /// A fake v1 tree with one directory per controller in `subsystems`.
    fn fake_v1(tmp: &Path, subsystems: &[&str]) -> Hierarchy {
        let mounts = subsystems
            .iter()
            .map(|sub| {
                let mp = tmp.join(sub);
                fs::create_dir_all(&mp).unwrap();
                V1Mount { subsystems: vec![sub.to_string()], mountpoint: mp }
            })
            .collect();
        Hierarchy::V1(mounts)
    }

    fn deny_all() -> LinuxResources {
        let rule = LinuxDeviceCgroupBuilder::default().allow(false).access("rwm").build().unwrap();
        LinuxResourcesBuilder::default().devices(vec![rule]).build().unwrap()
    }

    fn leftovers(tmp: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in fs::read_dir(tmp).unwrap().flatten() {
            out.extend(fs::read_dir(entry.path()).unwrap().flatten().map(|e| e.path()));
        }
        out
    }

    #[test]
    fn v1_device_rules_need_the_devices_controller() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = Cgroup::new(fake_v1(tmp.path(), &["memory", "pids", "freezer"]), PathBuf::from("wharf/c1"));
        let err = cg.create(Some(&deny_all())).unwrap_err();
        assert!(
            matches!(err, RuntimeError::ControllerMissing { controller: "devices", .. }),
            "device rules must not be skipped: {err}"
        );
        assert!(err.to_string().contains("devices"), "{err}");
        assert!(leftovers(tmp.path()).is_empty(), "create must remove what it made: {:?}", leftovers(tmp.path()));
        // No rules at all, or an empty list, asks for no policy: fine without the controller.
        cg.create(None).unwrap();
        let empty = LinuxResourcesBuilder::default().devices(vec![]).build().unwrap();
        cg.apply(Some(&empty)).unwrap();
        // With the controller, the policy is written: deny all first, then the runtime's allows.
        let tmp = tempfile::tempdir().unwrap();
        let cg = Cgroup::new(fake_v1(tmp.path(), &["devices", "memory"]), PathBuf::from("wharf/c1"));
        cg.create(Some(&deny_all())).unwrap();
        let dir = tmp.path().join("devices/wharf/c1");
        assert_eq!(fs::read_to_string(dir.join("devices.deny")).unwrap(), "a *:* rwm");
        // The fake file keeps the last write; on cgroupfs every line is its own rule.
        assert_eq!(fs::read_to_string(dir.join("devices.allow")).unwrap(), "c 136:* rwm");
    }

    #[test]
    fn v1_network_resources_need_net_cls_and_net_prio() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = Cgroup::new(fake_v1(tmp.path(), &["memory", "net_cls"]), PathBuf::from("wharf/c1"));
        let class = LinuxResourcesBuilder::default()
            .network(LinuxNetworkBuilder::default().class_id(0x10001u32).build().unwrap())
            .build()
            .unwrap();
        cg.create(Some(&class)).unwrap();
        assert_eq!(fs::read_to_string(tmp.path().join("net_cls/wharf/c1/net_cls.classid")).unwrap(), "65537");
        let tmp = tempfile::tempdir().unwrap();
        let cg = Cgroup::new(fake_v1(tmp.path(), &["memory", "net_cls"]), PathBuf::from("wharf/c1"));
        let prio = LinuxInterfacePriorityBuilder::default().name("eth0").priority(5u32).build().unwrap();
        let prios = LinuxResourcesBuilder::default()
            .network(LinuxNetworkBuilder::default().priorities(vec![prio]).build().unwrap())
            .build()
            .unwrap();
        let err = cg.create(Some(&prios)).unwrap_err();
        assert!(matches!(err, RuntimeError::ControllerMissing { controller: "net_prio", .. }), "{err}");
        assert!(leftovers(tmp.path()).is_empty(), "{:?}", leftovers(tmp.path()));
        let tmp = tempfile::tempdir().unwrap();
        let cg = Cgroup::new(fake_v1(tmp.path(), &["memory"]), PathBuf::from("wharf/c1"));
        let err = cg.create(Some(&class)).unwrap_err();
        assert!(matches!(err, RuntimeError::ControllerMissing { controller: "net_cls", .. }), "{err}");
        assert!(err.to_string().contains("net_cls"), "{err}");
    }

    #[test]
    fn no_visible_hierarchy_fails_create() {
        let tmp = tempfile::tempdir().unwrap();
        for hierarchy in [Hierarchy::V1(Vec::new()), fake_v1(tmp.path(), &["name=systemd"])] {
            let cg = Cgroup::new(hierarchy, PathBuf::from("wharf/c1"));
            assert!(matches!(cg.create(None), Err(RuntimeError::NoCgroupHierarchy)));
            let mem = LinuxResourcesBuilder::default()
                .memory(LinuxMemoryBuilder::default().limit(1 << 20).build().unwrap())
                .build()
                .unwrap();
            assert!(matches!(cg.create(Some(&mem)), Err(RuntimeError::NoCgroupHierarchy)));
        }
        assert!(leftovers(tmp.path()).is_empty());
        // A v2 root that is not a cgroup2 mount (no cgroup.controllers) is no hierarchy either.
        let cg = Cgroup::new(Hierarchy::V2 { root: tmp.path().join("none") }, PathBuf::from("wharf/c1"));
        let err = cg.create(None).unwrap_err();
        assert!(err.to_string().contains("no cgroup hierarchy"), "{err}");
    }

    #[test]
    fn v2_network_resources_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        fs::write(tmp.path().join("cgroup.subtree_control"), "").unwrap();
        let cg = Cgroup::new(Hierarchy::V2 { root: tmp.path().to_path_buf() }, PathBuf::from("wharf/c1"));
        let class = LinuxResourcesBuilder::default()
            .network(LinuxNetworkBuilder::default().class_id(7u32).build().unwrap())
            .build()
            .unwrap();
        let err = cg.create(Some(&class)).unwrap_err();
        assert!(matches!(err, RuntimeError::ControllerMissing { controller: "net_cls", .. }), "{err}");
        assert!(!tmp.path().join("wharf").exists(), "create must remove what it made");
    }

    #[test]
    fn reports_missing_controllers() {
        let tmp = tempfile::tempdir().unwrap();
        let all = fake_v1(tmp.path(), &["devices", "memory", "cpu", "pids", "cpuset", "freezer"]);
        assert!(missing_controllers(&all).is_empty());
        let some = fake_v1(tmp.path(), &["memory", "cpu", "name=systemd"]);
        assert_eq!(missing_controllers(&some), ["devices", "pids", "cpuset", "freezer"]);
        assert_eq!(missing_controllers(&Hierarchy::V1(Vec::new())), ESSENTIAL_V1);
        // cpu,cpuacct on one mount counts for cpu.
        let joint = Hierarchy::V1(parse_v1_mounts(
            "28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
        ));
        assert!(!missing_controllers(&joint).contains(&"cpu"));
        fs::write(tmp.path().join("cgroup.controllers"), "cpu io memory\n").unwrap();
        let v2 = Hierarchy::V2 { root: tmp.path().to_path_buf() };
        assert_eq!(missing_controllers(&v2), ["pids", "cpuset"]);
        assert_eq!(missing_controllers(&Hierarchy::V2 { root: tmp.path().join("none") }), ESSENTIAL_V2);
    }

    #[test]
    fn resolves_paths() {
        assert_eq!(resolve_path(None, "c1").unwrap(), PathBuf::from("wharf/c1"));
        assert_eq!(resolve_path(Some(Path::new("/docker/abc")), "x").unwrap(), PathBuf::from("docker/abc"));
        assert!(resolve_path(Some(Path::new("/a/../../etc")), "x").is_err());
        assert!(resolve_path(Some(Path::new("/")), "x").is_err());
    }
}

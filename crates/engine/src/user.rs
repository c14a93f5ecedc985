//! Resolving a container `User` (`name`, `uid`, `name:group`, `uid:gid`)
//! against the image's /etc/passwd and /etc/group, as Docker does.

use std::path::Path;

use wharf_runtime::confined::{Root, SMALL_FILE_LIMIT};

use crate::error::{EngineError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// The file at `rel` inside the container root, read through the confined
/// resolver: resolved inside the root, a regular file only, bounded. Absent
/// means empty (images without /etc/passwd work with numeric users).
fn read(root: &Root, rel: &str) -> Result<String> {
    use wharf_common::confined::ConfinedError as C;
    // Name the file as the container sees it, not where it lives on the host.
    // A symlink is followed inside the root, as Docker's FollowSymlinkInScope
    // (images do link /etc/passwd); what it reaches must be a regular file.
    let text = root.node_following(Path::new(rel)).and_then(|node| match node {
        None => Ok(None),
        Some(n) => {
            let file = n.open()?;
            let data = wharf_runtime::confined::read_bounded(file, SMALL_FILE_LIMIT, Path::new(rel))?;
            Ok(Some(String::from_utf8_lossy(&data).into_owned()))
        }
    });
    let reason = match text {
        Ok(text) => return Ok(text.unwrap_or_default()),
        Err(C::NotRegularFile(_)) => "is not a regular file".to_string(),
        Err(C::FileTooLarge { limit, .. }) => format!("is larger than {limit} bytes"),
        Err(C::Io { source, .. }) => source.to_string(),
        Err(e) => return Err(e.into()),
    };
    Err(EngineError::Invalid { what: "user".into(), reason: format!("unable to read /{rel}: it {reason}") })
}

/// Resolves `spec` (empty means root) inside the filesystem at `root`. The
/// files are the container's: this blocks on the filesystem (async callers
/// use a blocking thread) and refuses anything but bounded regular files.
pub fn resolve(root: &Path, spec: &str) -> Result<Resolved> {
    let root = Root::open(root)?;
    let passwd = read(&root, "etc/passwd")?;
    let group = read(&root, "etc/group")?;
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        // Lines whose ids do not parse are skipped (never read as uid 0).
        .find(|f| {
            f.len() >= 7 && f[2].parse::<u32>().is_ok() && f[3].parse::<u32>().is_ok() && (f[0] == user || f[2] == user)
        });
    let (uid, mut gid, name, home) = match (&entry, user.parse::<u32>()) {
        (Some(f), _) => (f[2].parse().unwrap_or(0), f[3].parse().unwrap_or(0), f[0].to_string(), f[5].to_string()),
        (None, Ok(uid)) => (uid, uid, String::new(), "/".to_string()),
        (None, Err(_)) => return Err(EngineError::NoSuchUser(user.to_string())),
    };
    if let Some(g) = grp {
        gid = match group
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 3 && f[2].parse::<u32>().is_ok() && (f[0] == g || f[2] == g))
        {
            Some(f) => f[2].parse().unwrap_or(0),
            None => g.parse().map_err(|_| EngineError::NoSuchGroup(g.to_string()))?,
        };
    }
    // Supplementary groups from /etc/group membership (only for named users).
    let additional_gids = if name.is_empty() {
        Vec::new()
    } else {
        group
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse().ok())
            .filter(|g| *g != gid)
            .collect()
    };
    Ok(Resolved { uid, gid, additional_gids, home })
}

/// `--group-add`'s groups as ids: numbers as they are, names looked up in
/// the container's `/etc/group` (read confined, as `resolve`).
pub fn group_ids(root: &Path, groups: &[String]) -> Result<Vec<u32>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let file = read(&Root::open(root)?, "etc/group")?;
    groups
        .iter()
        .map(|g| match g.parse::<u32>() {
            Ok(id) => Ok(id),
            Err(_) => file
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g.as_str())
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| EngineError::NoSuchGroup(g.clone())),
        })
        .collect()
}

/// Whether resolving `spec` needs the image's files (a user or group given by name).
pub fn names_needed(spec: &str) -> bool {
    let (u, g) = spec.split_once(':').unwrap_or((spec, ""));
    (!u.is_empty() && u.parse::<u32>().is_err()) || (!g.is_empty() && g.parse::<u32>().is_err())
}

impl crate::Engine {
    /// Resolves `spec` in the image's own filesystem (a read-only view of its
    /// layers, mounted for the lookup), so `create` refuses an unknown user
    /// as Docker does instead of failing at start.
    /// `top`: the image's unpacked top layer (None: an image without layers).
    pub(crate) fn check_image_user(&self, top: Option<&wharf_image::Digest>, spec: &str) -> Result<()> {
        use wharf_image::snapshot::Snapshotter;
        if !names_needed(spec) {
            return Ok(());
        }
        let Some(top) = top else {
            return resolve(Path::new("/nonexistent-empty-image"), spec).map(|_| ());
        };
        let specs = self.images.snapshots.view(top)?;
        let tmp = self.root().join("tmp");
        std::fs::create_dir_all(&tmp).map_err(EngineError::io("create", &tmp))?;
        let dir = tempfile_dir(&tmp)?;
        let result = self.mount_rootfs(&specs, &dir).and_then(|_| {
            let r = resolve(&dir, spec).map(|_| ());
            self.host().unmount(&dir);
            r
        });
        let _ = std::fs::remove_dir(&dir);
        result
    }
}

/// A fresh empty directory under `parent`.
fn tempfile_dir(parent: &Path) -> Result<std::path::PathBuf> {
    let id = wharf_common::ids::new_id();
    let dir = parent.join(format!("user-{}", &id[..16]));
    std::fs::create_dir(&dir).map_err(EngineError::io("create", &dir))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_docker() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("etc")).unwrap();
        std::fs::write(
            tmp.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(tmp.path().join("etc/group"), "root:x:0:\napp:x:1000:\nwheel:x:10:app\n").unwrap();
        let r = resolve(tmp.path(), "").unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        let r = resolve(tmp.path(), "app").unwrap();
        assert_eq!((r.uid, r.gid, r.additional_gids.clone()), (1000, 1000, vec![10]));
        let r = resolve(tmp.path(), "1000:wheel").unwrap();
        assert_eq!((r.uid, r.gid), (1000, 10));
        let r = resolve(tmp.path(), "4242:4343").unwrap();
        assert_eq!((r.uid, r.gid), (4242, 4343));
        assert!(matches!(resolve(tmp.path(), "nobody"), Err(EngineError::NoSuchUser(_))));
        assert!(matches!(resolve(tmp.path(), "app:nogroup"), Err(EngineError::NoSuchGroup(_))));
    }

    #[test]
    fn names_need_the_image() {
        assert!(!names_needed("") && !names_needed("0") && !names_needed("1000:1000"));
        assert!(names_needed("app") && names_needed("1000:wheel") && names_needed("app:0"));
    }

    #[test]
    fn hostile_passwd_files_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("etc")).unwrap();
        // A link to a host file resolves inside the root (it would leak /etc/shadow on the host side).
        std::fs::write(tmp.path().join("etc/shadow"), "app:x:77:77::/in-root:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("/etc/shadow", tmp.path().join("etc/passwd")).unwrap();
        assert_eq!(resolve(tmp.path(), "app").unwrap().uid, 77, "the container's own file, not the host's");
        assert!(resolve(tmp.path(), "root").is_err() || resolve(tmp.path(), "root").unwrap().home == "/");
        std::fs::remove_file(tmp.path().join("etc/shadow")).unwrap();
        std::fs::remove_file(tmp.path().join("etc/passwd")).unwrap();
        // A FIFO would block the reader for good.
        nix::unistd::mkfifo(&tmp.path().join("etc/passwd"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        assert!(resolve(tmp.path(), "root").is_err());
        std::fs::remove_file(tmp.path().join("etc/passwd")).unwrap();
        // A link to /dev/zero resolves inside the root: the container's /dev/zero, never the host's.
        std::os::unix::fs::symlink("/dev/zero", tmp.path().join("etc/passwd")).unwrap();
        assert!(matches!(resolve(tmp.path(), "someone"), Err(EngineError::NoSuchUser(_))));
        std::fs::remove_file(tmp.path().join("etc/passwd")).unwrap();
        // A device node there is refused without being opened.
        nix::sys::stat::mknod(
            &tmp.path().join("etc/passwd"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o644),
            nix::sys::stat::makedev(1, 5),
        )
        .unwrap();
        assert!(resolve(tmp.path(), "root").is_err());
        // /etc through a symlink that points out of the root resolves inside it.
        std::fs::remove_dir_all(tmp.path().join("etc")).unwrap();
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("passwd"), "root:x:4242:4242::/host:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(host.path(), tmp.path().join("etc")).unwrap();
        let r = resolve(tmp.path(), "").unwrap();
        assert_eq!(
            (r.uid, r.gid, r.home.as_str()),
            (0, 0, "/"),
            "no passwd inside: numeric defaults, never the host's"
        );
    }
}

//! Resolving a container `User` (`name`, `uid`, `name:group`, `uid:gid`)
//! against the image's /etc/passwd and /etc/group, as Docker does.

use std::path::Path;

use crate::error::{EngineError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

fn read(root: &Path, file: &str) -> String {
    std::fs::read_to_string(root.join(file)).unwrap_or_default()
}

/// Resolves `spec` (empty means root) inside the filesystem at `root`.
pub fn resolve(root: &Path, spec: &str) -> Result<Resolved> {
    let passwd = read(root, "etc/passwd");
    let group = read(root, "etc/group");
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && (f[0] == user || f[2] == user));
    let (uid, mut gid, name, home) = match (&entry, user.parse::<u32>()) {
        (Some(f), _) => (f[2].parse().unwrap_or(0), f[3].parse().unwrap_or(0), f[0].to_string(), f[5].to_string()),
        (None, Ok(uid)) => (uid, uid, String::new(), "/".to_string()),
        (None, Err(_)) => return Err(EngineError::NoSuchUser(user.to_string())),
    };
    if let Some(g) = grp {
        gid = match group
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 3 && (f[0] == g || f[2] == g))
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
}

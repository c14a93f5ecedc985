//! Named local volumes (`<data-root>/volumes/<name>/_data`) and the mounts a
//! container asks for: bind mounts, named or anonymous volumes, tmpfs.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::Engine;

pub use crate::options::MountRequest;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: PathBuf,
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    pub scope: String,
    /// Created for one container and removed with it (`rm -v`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
}

/// Docker's rule for volume names (two characters at least).
fn valid_name(n: &str) -> bool {
    wharf_common::names::valid(n, 2)
}

impl Engine {
    fn volumes_dir(&self) -> PathBuf {
        self.root().join("volumes")
    }

    pub fn volume(&self, name: &str) -> Result<Volume> {
        let path = self.volumes_dir().join(name).join("volume.json");
        let data = fs::read(&path).map_err(|_| EngineError::NoSuchVolume(name.to_string()))?;
        serde_json::from_slice(&data).map_err(|e| EngineError::Other(format!("{}: {e}", path.display())))
    }

    /// Creates a volume (an existing one with the same name is returned as is).
    pub fn create_volume(&self, name: Option<&str>, labels: BTreeMap<String, String>) -> Result<Volume> {
        let anonymous = name.is_none_or(str::is_empty);
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) if !valid_name(n) => {
                return Err(EngineError::Invalid {
                    what: "volume name".into(),
                    reason: format!("{n:?} includes invalid characters, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
                })
            }
            Some(n) => n.to_string(),
            None => wharf_common::ids::new_id(),
        };
        if let Ok(v) = self.volume(&name) {
            return Ok(v);
        }
        let dir = self.volumes_dir().join(&name);
        fs::create_dir_all(dir.join("_data")).map_err(EngineError::io("create", &dir))?;
        let v = Volume {
            name: name.clone(),
            driver: "local".into(),
            mountpoint: dir.join("_data"),
            created_at: wharf_common::time::now(),
            labels,
            scope: "local".into(),
            anonymous,
        };
        let data = serde_json::to_vec_pretty(&v).map_err(|e| EngineError::Other(e.to_string()))?;
        fs::write(dir.join("volume.json"), data).map_err(EngineError::io("write", dir.join("volume.json")))?;
        self.volume_event("create", &v.name);
        Ok(v)
    }

    pub fn list_volumes(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        if let Ok(rd) = fs::read_dir(self.volumes_dir()) {
            for e in rd.flatten() {
                if let Ok(v) = self.volume(&e.file_name().to_string_lossy()) {
                    out.push(v);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Containers (ids) whose mounts name the volume.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|c| c.opts.mounts.iter().any(|m| m.typ == "volume" && m.source == name))
            .map(|c| c.id)
            .collect())
    }

    pub fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        self.volume(name)?;
        let users = self.volume_users(name)?;
        if !users.is_empty() && !force {
            return Err(EngineError::Conflict(format!("remove {name}: volume is in use - [{}]", users.join(", "))));
        }
        let dir = self.volumes_dir().join(name);
        fs::remove_dir_all(&dir).map_err(EngineError::io("remove", &dir))?;
        self.volume_event("destroy", name);
        Ok(())
    }

    fn volume_event(&self, action: &str, name: &str) {
        let attrs = [("driver".to_string(), "local".to_string())].into_iter().collect();
        self.emit(&crate::events::Event::new("volume", action, name, attrs));
    }

    /// Removes unused volumes; returns their names.
    pub fn prune_volumes(&self) -> Result<Vec<String>> {
        self.prune_volumes_where(&|_| true)
    }

    /// Removes the unused volumes `pick` chooses; their names.
    pub fn prune_volumes_where(&self, pick: &dyn Fn(&Volume) -> bool) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for v in self.list_volumes()? {
            if pick(&v) && self.volume_users(&v.name)?.is_empty() {
                self.remove_volume(&v.name, false)?;
                out.push(v.name);
            }
        }
        Ok(out)
    }

    /// Gives anonymous volume mounts a volume of their own and makes sure named
    /// ones exist; bind sources must exist.
    pub fn resolve_mounts(&self, mounts: &mut [MountRequest]) -> Result<()> {
        for m in mounts.iter_mut() {
            match m.typ.as_str() {
                "volume" => {
                    let v = self.create_volume(Some(m.source.as_str()).filter(|s| !s.is_empty()), BTreeMap::new())?;
                    m.source = v.name;
                }
                "bind" => {
                    if !PathBuf::from(&m.source).exists() {
                        return Err(EngineError::Invalid {
                            what: "mount".into(),
                            reason: format!("bind source path does not exist: {}", m.source),
                        });
                    }
                }
                "tmpfs" => {}
                other => {
                    return Err(EngineError::Invalid {
                        what: "mount".into(),
                        reason: format!("mount type {other:?} is not supported"),
                    })
                }
            }
        }
        Ok(())
    }
}

/// Bytes of the regular files under `dir`, symlinks not followed (a volume's
/// size for `system df`). Blocking: it walks the tree.
pub fn disk_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// A tmpfs's mount options as the runtime gets them: Docker's defaults
/// (`noexec,nosuid,nodev`, mode 1777) with the client's `--tmpfs` options
/// (`size=64m,mode=755,exec,uid=1000`…) over them. Anything else is refused:
/// the options go into a mount call.
pub fn tmpfs_options(given: &str) -> Result<Vec<String>> {
    let bad =
        |o: &str, why: &str| EngineError::Invalid { what: "tmpfs option".into(), reason: format!("{o:?}: {why}") };
    let mut flags: Vec<(&str, &str)> = vec![("exec", "noexec"), ("suid", "nosuid"), ("dev", "nodev")];
    let mut data: Vec<(String, String)> = vec![("mode".into(), "1777".into())];
    let mut out_flags: Vec<String> = Vec::new();
    for o in given.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match o.split_once('=') {
            Some((k, v)) => {
                let ok = match k {
                    "size" => {
                        let digits = v.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G', '%']);
                        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                    }
                    "mode" => !v.is_empty() && v.len() <= 4 && v.bytes().all(|b| (b'0'..=b'7').contains(&b)),
                    "uid" | "gid" | "nr_inodes" | "nr_blocks" => !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()),
                    _ => return Err(bad(o, "unknown option")),
                };
                if !ok {
                    return Err(bad(o, "invalid value"));
                }
                data.retain(|(dk, _)| dk != k);
                data.push((k.to_string(), v.to_string()));
            }
            None => match o {
                "exec" | "noexec" | "suid" | "nosuid" | "dev" | "nodev" => {
                    let (on, off) = match o.trim_start_matches("no") {
                        "exec" => ("exec", "noexec"),
                        "suid" => ("suid", "nosuid"),
                        _ => ("dev", "nodev"),
                    };
                    flags.retain(|(a, _)| *a != on);
                    flags.push((on, if o.starts_with("no") { off } else { on }));
                }
                "ro" | "rw" | "atime" | "noatime" | "relatime" | "norelatime" | "strictatime" | "diratime"
                | "nodiratime" => out_flags.push(o.to_string()),
                _ => return Err(bad(o, "unknown option")),
            },
        }
    }
    let mut out: Vec<String> = flags.into_iter().map(|(_, v)| v.to_string()).collect();
    out.extend(out_flags);
    out.extend(data.into_iter().map(|(k, v)| format!("{k}={v}")));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_options_are_dockers() {
        assert_eq!(tmpfs_options("").unwrap(), ["noexec", "nosuid", "nodev", "mode=1777"]);
        let o = tmpfs_options("size=64m,mode=755,exec,uid=1000").unwrap();
        assert_eq!(o, ["nosuid", "nodev", "exec", "size=64m", "mode=755", "uid=1000"]);
        for bad in ["size=lots", "mode=999", "bind", "x=1", "uid=-1", "size=1m,propagation=shared"] {
            assert!(tmpfs_options(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_v_flags() {
        let m = MountRequest::parse_bind("/host:/data:ro").unwrap();
        assert_eq!(
            (m.typ.as_str(), m.source.as_str(), m.target.as_str(), m.read_only),
            ("bind", "/host", "/data", true)
        );
        let m = MountRequest::parse_bind("cache:/var/cache").unwrap();
        assert_eq!((m.typ.as_str(), m.source.as_str()), ("volume", "cache"));
        let m = MountRequest::parse_bind("/anon").unwrap();
        assert_eq!((m.typ.as_str(), m.source.as_str()), ("volume", ""));
        assert!(MountRequest::parse_bind("relative").is_err());
        assert!(MountRequest::parse_bind("/a:/b:bogus").is_err());
    }
}

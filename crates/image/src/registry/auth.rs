//! Registry authentication: credentials kept like Docker's `config.json`
//! (`auths.<host>.auth` = base64 of `user:password`), and the
//! `WWW-Authenticate` challenges (Basic, Bearer token) of the distribution spec.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{ImageError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    auth: String,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

/// The credential store: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    path: PathBuf,
}

/// Docker Hub's key in config.json.
const HUB_KEY: &str = "https://index.docker.io/v1/";

fn key_for(registry: &str) -> String {
    if registry == crate::reference::DEFAULT_REGISTRY
        || registry == "index.docker.io"
        || registry == "registry-1.docker.io"
    {
        HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

impl CredentialStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CredentialStore { path: path.into() }
    }

    pub fn default_location() -> Self {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
            .unwrap_or_else(|| PathBuf::from("/root/.docker"));
        CredentialStore::new(dir.join("config.json"))
    }

    /// A setting of the client config file other than credentials
    /// (`detachKeys`, …); `None` if the file or the key is absent.
    pub fn setting(&self, key: &str) -> Option<serde_json::Value> {
        self.read().ok()?.other.get(key).cloned()
    }

    fn read(&self) -> Result<ConfigFile> {
        match std::fs::read(&self.path) {
            Ok(d) => serde_json::from_slice(&d).map_err(|e| ImageError::invalid(self.path.display().to_string(), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(e) => Err(ImageError::Io { context: "read", path: self.path.clone(), source: e }),
        }
    }

    fn write(&self, cfg: &ConfigFile) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(ImageError::io("create", dir))?;
        }
        let tmp = self.path.with_extension("tmp");
        let data = serde_json::to_vec_pretty(cfg).map_err(|e| ImageError::Other(e.to_string()))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(ImageError::io("create", &tmp))?;
        std::io::Write::write_all(&mut f, &data).map_err(ImageError::io("write", &tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(ImageError::io("rename", &self.path))
    }

    pub fn get(&self, registry: &str) -> Result<Option<Credentials>> {
        let cfg = self.read()?;
        let Some(entry) = cfg.auths.get(&key_for(registry)).or_else(|| cfg.auths.get(&format!("https://{registry}")))
        else {
            return Ok(None);
        };
        if entry.auth.is_empty() {
            return Ok(None);
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(entry.auth.trim())
            .map_err(|e| ImageError::invalid(format!("credentials for {registry}"), e))?;
        let raw = String::from_utf8_lossy(&raw);
        let (u, p) = raw
            .split_once(':')
            .ok_or_else(|| ImageError::invalid(format!("credentials for {registry}"), "not user:password"))?;
        Ok(Some(Credentials { username: u.into(), password: p.into() }))
    }

    pub fn set(&self, registry: &str, creds: &Credentials) -> Result<()> {
        let mut cfg = self.read()?;
        let raw = format!("{}:{}", creds.username, creds.password);
        cfg.auths.entry(key_for(registry)).or_default().auth = base64::engine::general_purpose::STANDARD.encode(raw);
        self.write(&cfg)
    }

    /// Returns whether credentials were stored.
    pub fn remove(&self, registry: &str) -> Result<bool> {
        let mut cfg = self.read()?;
        let had = cfg.auths.remove(&key_for(registry)).is_some();
        if had {
            self.write(&cfg)?;
        }
        Ok(had)
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            let mut params = BTreeMap::new();
            // key="value" pairs; values may contain commas (scopes).
            let mut rest = rest.trim();
            while !rest.is_empty() {
                let (key, after) = rest.split_once('=')?;
                let after = after.trim_start();
                let (value, remainder) = if let Some(stripped) = after.strip_prefix('"') {
                    let end = stripped.find('"')?;
                    (&stripped[..end], &stripped[end + 1..])
                } else {
                    after.split_once(',').map_or((after, ""), |(v, r)| (v, r))
                };
                params.insert(key.trim().trim_start_matches(',').trim().to_ascii_lowercase(), value.to_string());
                rest = remainder.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
            }
            Some(Challenge::Bearer {
                realm: params.remove("realm")?,
                service: params.remove("service"),
                scope: params.remove("scope"),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(parse_challenge("Basic realm=\"Registry\""), Some(Challenge::Basic));
        let c = parse_challenge(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#).unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into())
            }
        );
        assert!(parse_challenge("Negotiate x").is_none());
    }

    #[test]
    fn stores_credentials_like_docker() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{},"credsStore":"none-here","psFormat":"x"}"#).unwrap();
        let store = CredentialStore::new(&path);
        let c = Credentials { username: "u".into(), password: "p:w".into() };
        store.set("localhost:5000", &c).unwrap();
        store.set("docker.io", &c).unwrap();
        assert_eq!(store.get("localhost:5000").unwrap(), Some(c.clone()));
        assert_eq!(store.get("index.docker.io").unwrap(), Some(c));
        let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(raw["auths"]["localhost:5000"]["auth"], "dTpwOnc=");
        assert_eq!(raw["psFormat"], "x", "other settings survive");
        assert!(store.remove("localhost:5000").unwrap());
        assert!(!store.remove("localhost:5000").unwrap());
        assert_eq!(store.get("localhost:5000").unwrap(), None);
    }
}

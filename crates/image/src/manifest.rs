//! Image documents — manifests, indexes and configs — in both the OCI and
//! the Docker schema2 flavours. Parsing is lenient (unknown fields are kept
//! in `extra`), and content is always stored as the original bytes, since the
//! digest covers those bytes, not our re-serialisation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{ImageError, Result};

pub mod media {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_LAYER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    pub fn is_index(m: &str) -> bool {
        m == OCI_INDEX || m == DOCKER_LIST
    }

    pub fn is_manifest(m: &str) -> bool {
        m == OCI_MANIFEST || m == DOCKER_MANIFEST
    }

    pub fn is_layer(m: &str) -> bool {
        m.starts_with("application/vnd.oci.image.layer.") || m.starts_with("application/vnd.docker.image.rootfs.")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this binary runs on, as OCI names it.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform { architecture: architecture.into(), os: "linux".into(), os_version: None, variant: None }
    }

    /// `os/arch[/variant]`, e.g. `linux/arm64/v8`.
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts[..] {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.into(),
                architecture: arch.into(),
                os_version: None,
                variant: parts.get(2).map(|v| v.to_string()),
            }),
            _ => Err(ImageError::invalid("platform", format!("{s:?} is not os/arch[/variant]"))),
        }
    }

    fn matches(&self, candidate: &Platform) -> bool {
        let variant_ok = match (&self.variant, &candidate.variant) {
            (Some(want), Some(have)) => want == have,
            (Some(want), None) => want == "v8" && self.architecture == "arm64",
            (None, _) => true,
        };
        self.os == candidate.os && self.architecture == candidate.architecture && variant_ok
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Descriptor { media_type: media_type.into(), digest, size, platform: None, annotations: None, urls: None }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Index {
    /// The manifest for `want`, as Docker picks it.
    pub fn select(&self, want: &Platform) -> Option<&Descriptor> {
        self.manifests
            .iter()
            .filter(|d| media::is_manifest(&d.media_type))
            .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
    }
}

/// The runtime defaults an image carries (Docker's field names).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl RunConfig {
    /// Applies Dockerfile-style `--change` instructions (`docker import -c`,
    /// `docker commit -c`): CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL,
    /// EXPOSE, VOLUME, STOPSIGNAL.
    pub fn apply_changes(&mut self, changes: &[String]) -> Result<()> {
        for c in changes.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
            let (instr, rest) = c
                .split_once(char::is_whitespace)
                .map(|(a, b)| (a.to_ascii_uppercase(), b.trim()))
                .unwrap_or((c.to_ascii_uppercase(), ""));
            let list = |s: &str| -> Vec<String> {
                serde_json::from_str::<Vec<String>>(s)
                    .unwrap_or_else(|_| vec!["/bin/sh".into(), "-c".into(), s.to_string()])
            };
            let bad = |reason: &str| ImageError::Invalid { what: format!("change {c:?}"), reason: reason.into() };
            match instr.as_str() {
                "CMD" => self.cmd = Some(list(rest)),
                "ENTRYPOINT" => self.entrypoint = Some(list(rest)),
                "ENV" => {
                    let kv = if rest.contains('=') { rest.to_string() } else { rest.replacen(' ', "=", 1) };
                    let key = kv.split('=').next().unwrap_or_default().to_string();
                    if key.is_empty() {
                        return Err(bad("ENV needs a name"));
                    }
                    let env = self.env.get_or_insert_with(Vec::new);
                    env.retain(|e| e.split('=').next() != Some(key.as_str()));
                    env.push(kv);
                }
                "WORKDIR" => self.working_dir = Some(rest.to_string()),
                "USER" => self.user = Some(rest.to_string()),
                "LABEL" => {
                    let (k, v) = rest.split_once('=').ok_or_else(|| bad("LABEL needs key=value"))?;
                    self.labels
                        .get_or_insert_with(Default::default)
                        .insert(k.trim().into(), v.trim().trim_matches('"').into());
                }
                "EXPOSE" => {
                    for p in rest.split_whitespace() {
                        let p = if p.contains('/') { p.to_string() } else { format!("{p}/tcp") };
                        self.exposed_ports.get_or_insert_with(Default::default).insert(p, serde_json::json!({}));
                    }
                }
                "VOLUME" => {
                    let paths = serde_json::from_str::<Vec<String>>(rest)
                        .unwrap_or_else(|_| rest.split_whitespace().map(str::to_string).collect());
                    for p in paths {
                        self.volumes.get_or_insert_with(Default::default).insert(p, serde_json::json!({}));
                    }
                }
                "STOPSIGNAL" => self.stop_signal = Some(rest.to_string()),
                other => return Err(bad(&format!("unsupported instruction {other:?}"))),
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub typ: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

pub fn parse<T: serde::de::DeserializeOwned>(what: &str, data: &[u8]) -> Result<T> {
    serde_json::from_slice(data).map_err(|e| ImageError::invalid(what, e))
}

/// The media type of a manifest-ish document: its `mediaType` field, or a
/// guess from its shape (OCI allows omitting it).
pub fn sniff_media_type(data: &[u8]) -> Result<String> {
    let v: serde_json::Value = parse("manifest", data)?;
    if let Some(m) = v.get("mediaType").and_then(|m| m.as_str()) {
        return Ok(m.to_string());
    }
    if v.get("manifests").is_some() {
        Ok(media::OCI_INDEX.into())
    } else if v.get("config").is_some() && v.get("layers").is_some() {
        Ok(media::OCI_MANIFEST.into())
    } else if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
        Err(ImageError::UnsupportedMediaType("schema1 manifests are deprecated and not supported".into()))
    } else {
        Err(ImageError::invalid("manifest", "neither an image manifest nor an index"))
    }
}

/// containerd's ChainID: chain(0) = diffid(0); chain(n) = sha256(chain(n-1) + " " + diffid(n)).
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::sha256(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let b: Digest = format!("sha256:{}", "b".repeat(64)).parse().unwrap();
        let chain = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chain[0], a);
        assert_eq!(chain[1], Digest::sha256(format!("{a} {b}").as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn selects_platform_from_index() {
        let d = |arch: &str, variant: Option<&str>| Descriptor {
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                os_version: None,
                variant: variant.map(Into::into),
            }),
            ..Descriptor::new(media::OCI_MANIFEST, Digest::sha256(arch.as_bytes()), 1)
        };
        let idx = Index {
            schema_version: 2,
            media_type: None,
            manifests: vec![d("arm", Some("v7")), d("amd64", None), d("arm64", Some("v8"))],
            annotations: None,
        };
        assert_eq!(idx.select(&Platform::parse("linux/amd64").unwrap()).unwrap().digest, Digest::sha256(b"amd64"));
        assert_eq!(idx.select(&Platform::parse("linux/arm64").unwrap()).unwrap().digest, Digest::sha256(b"arm64"));
        assert_eq!(idx.select(&Platform::parse("linux/arm/v7").unwrap()).unwrap().digest, Digest::sha256(b"arm"));
        assert!(idx.select(&Platform::parse("linux/s390x").unwrap()).is_none());
        assert!(Platform::parse("linux").is_err());
    }

    #[test]
    fn parses_docker_config_and_keeps_extra_fields() {
        let raw = br#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Hostname":"x"},"rootfs":{"type":"layers","diff_ids":[]},"docker_version":"20.10"}"#;
        let c: ImageConfig = parse("config", raw).unwrap();
        assert_eq!(c.config.as_ref().unwrap().cmd.as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(c.config.as_ref().unwrap().extra["Hostname"], "x");
        assert_eq!(c.extra["docker_version"], "20.10");
        assert_eq!(sniff_media_type(br#"{"schemaVersion":2,"config":{},"layers":[]}"#).unwrap(), media::OCI_MANIFEST);
        assert!(sniff_media_type(br#"{"schemaVersion":1}"#).is_err());
    }
}

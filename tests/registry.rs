//! Pull/push against registries on loopback: Debian's docker-registry
//! (anonymous and htpasswd Basic auth) and a tiny in-test registry that
//! demands Bearer tokens from its own token endpoint.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

struct Wharf {
    dir: tempfile::TempDir,
}

impl Wharf {
    fn new() -> Wharf {
        Wharf { dir: tempfile::Builder::new().prefix("wharf-reg-client-").tempdir().unwrap() }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(support::WHARF);
        c.arg("--data-root").arg(self.dir.path().join("data")).args(args);
        c.env("DOCKER_CONFIG", self.dir.path().join("docker-config"));
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        support::stdout_of(self.run(args), args)
    }

    fn import_busybox(&self, name: &str) -> String {
        let tar = support::busybox_tar(self.dir.path());
        self.ok(&["import", tar.to_str().unwrap(), name]).trim().to_string()
    }

    fn digest_of(&self, name: &str) -> String {
        let v: Value = serde_json::from_str(&self.ok(&["image", "inspect", name])).unwrap();
        v[0]["RepoDigests"][0].as_str().unwrap().split_once('@').unwrap().1.to_string()
    }
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").args(["--insecure-policy"]).args(args).output().unwrap();
    assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn push_pull_round_trip_with_skopeo_oracle() {
    let reg = support::Registry::start(None);
    let a = Wharf::new();
    let id = a.import_busybox("busybox:local");
    let name = format!("{}/team/bb:v1", reg.host());
    a.ok(&["tag", "busybox:local", &name]);
    let out = a.ok(&["push", &name]);
    assert!(out.contains("Pushed"), "{out}");
    let digest = a.digest_of(&name);
    // The registry (via skopeo) agrees on the manifest digest.
    let info: Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &format!("docker://{name}")])).unwrap();
    assert_eq!(info["Digest"], digest.as_str());
    // Pushing again skips every blob; another repository mounts them.
    assert!(a.ok(&["push", &name]).contains("Layer already exists"));
    let other = format!("{}/other/bb:v1", reg.host());
    a.ok(&["tag", "busybox:local", &other]);
    let out = a.ok(&["push", &other]);
    assert!(out.contains("Mounted from team/bb"), "{out}");
    // A fresh store pulls it back: same ID, same digest.
    let b = Wharf::new();
    let out = b.ok(&["pull", &name]);
    assert!(out.contains(&format!("Digest: {digest}")) && out.contains("Downloaded newer image"), "{out}");
    let v: Value = serde_json::from_str(&b.ok(&["image", "inspect", &name])).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    assert!(b.ok(&["pull", &name]).contains("Image is up to date"));
    // By digest too.
    b.ok(&["pull", &format!("{}/team/bb@{digest}", reg.host())]);
    // What skopeo pushes (compressed, its own manifest), wharf pulls with skopeo's digest.
    let layout = a.dir.path().join("layout");
    a.ok(&["save", "--format", "oci-dir", "-o", layout.to_str().unwrap(), "busybox:local"]);
    let sk = format!("{}/skopeo/bb:v2", reg.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-compress-format",
        "gzip",
        &format!("oci:{}", layout.display()),
        &format!("docker://{sk}"),
    ]);
    let sk_digest: Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &format!("docker://{sk}")])).unwrap();
    b.ok(&["pull", &sk]);
    assert_eq!(b.digest_of(&sk), sk_digest["Digest"].as_str().unwrap());
    assert_eq!(serde_json::from_str::<Value>(&b.ok(&["image", "inspect", &sk])).unwrap()[0]["Id"], id.as_str());
}

#[test]
fn registry_errors_are_clear() {
    let reg = support::Registry::start(None);
    let a = Wharf::new();
    let out = a.run(&["pull", &format!("{}/nosuch/image:1", reg.host())]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not found") && err.contains(&reg.host()), "{err}");
    assert!(a.ok(&["images", "-q"]).trim().is_empty());
    // Nothing listens on this port: a connection error, not a hang.
    let out = a.run(&["pull", &format!("127.0.0.1:{}/x:1", support::free_port())]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Connection refused")
            || String::from_utf8_lossy(&out.stderr).contains("connect"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = a.run(&["push", &format!("{}/x:1", reg.host())]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such image"));
}

#[test]
fn chunked_uploads() {
    let reg = support::Registry::start(None);
    let a = Wharf::new();
    a.import_busybox("busybox:local");
    let name = format!("{}/chunked:1", reg.host());
    a.ok(&["tag", "busybox:local", &name]);
    let out = a.cmd(&["push", &name]).env("WHARF_UPLOAD_CHUNK_SIZE", "300000").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let b = Wharf::new();
    b.ok(&["pull", &name]);
    assert_eq!(b.digest_of(&name), a.digest_of(&name));
}

#[test]
fn basic_auth_login_logout() {
    let reg = support::Registry::start(Some(("alice", "s3cret")));
    let a = Wharf::new();
    a.import_busybox("busybox:local");
    let name = format!("{}/private:1", reg.host());
    a.ok(&["tag", "busybox:local", &name]);
    let out = a.run(&["push", &name]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthorized"), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = a.run(&["login", "-u", "alice", "-p", "wrong", &reg.host()]);
    assert!(!bad.status.success(), "wrong password must fail");
    assert!(!a.dir.path().join("docker-config/config.json").exists(), "nothing stored for a failed login");
    let mut login = a
        .cmd(&["login", "-u", "alice", "--password-stdin", &reg.host()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    login.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = login.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Login Succeeded"));
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(a.dir.path().join("docker-config/config.json")).unwrap()).unwrap();
    assert_eq!(cfg["auths"][reg.host()]["auth"], "YWxpY2U6czNjcmV0");
    a.ok(&["push", &name]);
    a.ok(&["rmi", &name]);
    a.ok(&["pull", &name]);
    assert!(a.ok(&["logout", &reg.host()]).contains("Removing login credentials"));
    a.ok(&["rmi", &name]);
    assert!(!a.run(&["pull", &name]).status.success(), "logged out: pull is refused");
}

/// A registry that only serves with a Bearer token from its own token
/// endpoint (which checks Basic credentials), serving one OCI layout.
struct TokenRegistry {
    port: u16,
}

fn serve_token_registry(layout: PathBuf) -> TokenRegistry {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let layout = layout.clone();
            std::thread::spawn(move || handle(conn, &layout, port));
        }
    });
    TokenRegistry { port }
}

fn handle(mut conn: TcpStream, layout: &Path, port: u16) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut auth = String::new();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h.trim().is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            match k.to_ascii_lowercase().as_str() {
                "authorization" => auth = v.trim().to_string(),
                "content-length" => length = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let (status, headers, data): (u16, Vec<(String, String)>, Vec<u8>) = if target.starts_with("/token") {
            // alice:s3cret
            if auth == "Basic YWxpY2U6czNjcmV0" {
                (200, vec![("Content-Type".into(), "application/json".into())], br#"{"token":"t0k3n"}"#.to_vec())
            } else {
                (401, vec![], b"{}".to_vec())
            }
        } else if auth != "Bearer t0k3n" {
            let challenge =
                format!("Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test\",scope=\"repository:x:pull\"");
            (
                401,
                vec![("WWW-Authenticate".into(), challenge)],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}"#.to_vec(),
            )
        } else if target == "/v2/" {
            (200, vec![], b"{}".to_vec())
        } else if let Some((_, rest)) = target.split_once("/manifests/") {
            let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
            let desc = &index["manifests"][0];
            let digest = desc["digest"].as_str().unwrap();
            if rest == "v1" || rest == digest {
                let data = std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap();
                (
                    200,
                    vec![
                        ("Content-Type".into(), desc["mediaType"].as_str().unwrap().into()),
                        ("Docker-Content-Digest".into(), digest.into()),
                    ],
                    data,
                )
            } else {
                (404, vec![], b"{}".to_vec())
            }
        } else if let Some((_, digest)) = target.split_once("/blobs/") {
            match std::fs::read(layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))) {
                Ok(d) => (200, vec![], d),
                Err(_) => (404, vec![], b"{}".to_vec()),
            }
        } else {
            (404, vec![], b"{}".to_vec())
        };
        let _ = method;
        let mut resp = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", data.len());
        for (k, v) in headers {
            resp.push_str(&format!("{k}: {v}\r\n"));
        }
        resp.push_str("\r\n");
        if conn.write_all(resp.as_bytes()).and_then(|_| conn.write_all(&data)).is_err() {
            return;
        }
    }
}

#[test]
fn bearer_token_auth() {
    let a = Wharf::new();
    a.import_busybox("busybox:local");
    let layout = a.dir.path().join("layout");
    a.ok(&["save", "--format", "oci-dir", "-o", layout.to_str().unwrap(), "busybox:local"]);
    let reg = serve_token_registry(layout);
    let name = format!("127.0.0.1:{}/x:v1", reg.port);
    let out = a.run(&["pull", &name]);
    assert!(!out.status.success(), "no credentials: the token endpoint refuses");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthorized"), "{}", String::from_utf8_lossy(&out.stderr));
    let mut login = a
        .cmd(&["login", "-u", "alice", "--password-stdin", &format!("127.0.0.1:{}", reg.port)])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    login.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    assert!(login.wait().unwrap().success());
    let b = Wharf::new();
    std::fs::create_dir_all(b.dir.path().join("docker-config")).unwrap();
    std::fs::copy(a.dir.path().join("docker-config/config.json"), b.dir.path().join("docker-config/config.json"))
        .unwrap();
    let out = b.ok(&["pull", &name]);
    assert!(out.contains("Downloaded newer image"), "{out}");
}

/// Writes `data` as a blob of an OCI layout; returns its descriptor.
fn put_blob(layout: &Path, media_type: &str, data: &[u8]) -> Value {
    use sha2::Digest;
    let hex = format!("{:x}", sha2::Sha256::digest(data));
    std::fs::write(layout.join("blobs/sha256").join(&hex), data).unwrap();
    serde_json::json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": data.len()})
}

#[test]
fn multi_platform_index_and_platform_flag() {
    let reg = support::Registry::start(None);
    let a = Wharf::new();
    a.import_busybox("busybox:local");
    let layout = a.dir.path().join("multi");
    a.ok(&["save", "--format", "oci-dir", "-o", layout.to_str().unwrap(), "busybox:local"]);
    // Turn the single image into an index: the same layer as linux/amd64 and linux/arm64/v8.
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mdesc = &index["manifests"][0];
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&mdesc["digest"].as_str().unwrap()[7..])).unwrap(),
    )
    .unwrap();
    let config: Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&manifest["config"]["digest"].as_str().unwrap()[7..])).unwrap(),
    )
    .unwrap();
    let mut arm_config = config.clone();
    arm_config["architecture"] = "arm64".into();
    arm_config["variant"] = "v8".into();
    let arm_cfg =
        put_blob(&layout, "application/vnd.oci.image.config.v1+json", &serde_json::to_vec(&arm_config).unwrap());
    let mut arm_manifest = manifest.clone();
    arm_manifest["config"] = arm_cfg;
    let arm =
        put_blob(&layout, "application/vnd.oci.image.manifest.v1+json", &serde_json::to_vec(&arm_manifest).unwrap());
    let mut amd = mdesc.clone();
    amd.as_object_mut().unwrap().remove("annotations");
    amd["platform"] = serde_json::json!({"architecture": "amd64", "os": "linux"});
    let mut arm = arm;
    arm["platform"] = serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"});
    let idx = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [amd, arm]});
    let idx_desc = put_blob(&layout, "application/vnd.oci.image.index.v1+json", &serde_json::to_vec(&idx).unwrap());
    let mut top = idx_desc.clone();
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "multi"});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [top]})).unwrap(),
    )
    .unwrap();
    let name = format!("{}/multi:1", reg.host());
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", layout.display()),
        &format!("docker://{name}"),
    ]);

    let arch = |w: &Wharf| -> String {
        let v: Value = serde_json::from_str(&w.ok(&["image", "inspect", &name])).unwrap();
        v[0]["Architecture"].as_str().unwrap().to_string()
    };
    let host = Wharf::new();
    host.ok(&["pull", &name]);
    assert_eq!(arch(&host), "amd64");
    assert_eq!(host.digest_of(&name), idx_desc["digest"].as_str().unwrap(), "the name points at the index");
    let arm64 = Wharf::new();
    arm64.ok(&["pull", "--platform", "linux/arm64", &name]);
    assert_eq!(arch(&arm64), "arm64");
    let none = Wharf::new();
    let out = none.run(&["pull", "--platform", "linux/s390x", &name]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no manifest for platform linux/s390x"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Only arm64 is local: pushing pushes that platform's manifest under the tag.
    let back = format!("{}/multi-back:1", reg.host());
    arm64.ok(&["tag", &name, &back]);
    let out = arm64.run(&["push", &back]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let raw: Value =
        serde_json::from_str(&skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{back}")]))
            .unwrap();
    assert_eq!(raw["config"]["digest"], arm_manifest["config"]["digest"]);
    // With every platform local (loaded from the layout), the whole index goes up, digest kept.
    let all = Wharf::new();
    all.ok(&["load", "-i", layout.to_str().unwrap()]);
    let full = format!("{}/multi-full:1", reg.host());
    all.ok(&["tag", "multi", &full]);
    all.ok(&["push", &full]);
    let info: Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &format!("docker://{full}")])).unwrap();
    assert_eq!(info["Digest"], idx_desc["digest"]);
}

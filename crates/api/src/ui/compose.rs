//! `/ui/compose`: Compose projects from the dashboard. The daemon has no
//! Compose of its own; it runs the `wharf` binary's (`wharf -H <its own
//! socket> compose -p P --project-directory D -f F… up -d | down |
//! restart`), so a project goes through the same client, and the same API
//! checks, as from a shell. Output streams back as JSON lines (`{"stream"}`
//! then `{"exit"}`). The projects brought up here are remembered
//! (`<data-root>/ui/compose.json`) so that one taken down can come up again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::body::Body;
use crate::error::ApiError;
use crate::State;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub name: String,
    pub files: Vec<String>,
    pub workdir: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerbBody {
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    workdir: String,
}

fn record_path(state: &State) -> PathBuf {
    state.engine.root().join("ui").join("compose.json")
}

fn read_projects(path: &Path) -> Result<Vec<Project>, ApiError> {
    match std::fs::read(path) {
        Ok(data) => serde_json::from_slice(&data).map_err(|e| ApiError::internal(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ApiError::internal(format!("{}: {e}", path.display()))),
    }
}

/// One read-modify-write of the record at a time.
static RECORD: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn remember(path: &Path, p: &Project) -> Result<(), ApiError> {
    let _one = RECORD.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = read_projects(path)?;
    all.retain(|x| x.name != p.name);
    all.push(p.clone());
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let dir = path.parent().expect("under the data root");
    std::fs::create_dir_all(dir).map_err(|e| ApiError::internal(e.to_string()))?;
    let tmp = dir.join(".compose.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&all).map_err(|e| ApiError::internal(e.to_string()))?)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))
}

/// Compose's rule for project names.
fn valid_project(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The command line for `verb` (the binary's arguments after its path).
fn command_line(socket: &Path, p: &Project, verb: &str) -> Result<Vec<String>, ApiError> {
    let extra: &[&str] = match verb {
        "up" => &["up", "-d"],
        "down" => &["down"],
        "restart" => &["restart"],
        other => return Err(ApiError::not_found(format!("no compose verb {other:?} here (up, down, restart)"))),
    };
    if !valid_project(&p.name) {
        return Err(ApiError::bad_request(format!("invalid project name {:?}", p.name)));
    }
    if verb == "up" && p.files.is_empty() {
        return Err(ApiError::bad_request(format!("project {}: no compose file is known; give one", p.name)));
    }
    if p.files.iter().any(String::is_empty) {
        return Err(ApiError::bad_request("an empty compose file name"));
    }
    if let Some(f) = p.files.iter().chain(std::iter::once(&p.workdir)).find(|f| !f.is_empty() && !f.starts_with('/')) {
        return Err(ApiError::bad_request(format!("{f}: an absolute path is expected")));
    }
    let mut args =
        vec!["-H".to_string(), format!("unix://{}", socket.display()), "compose".into(), "-p".into(), p.name.clone()];
    if !p.workdir.is_empty() {
        args.extend(["--project-directory".into(), p.workdir.clone()]);
    }
    for f in &p.files {
        args.extend(["-f".into(), f.clone()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    Ok(args)
}

pub async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_string();
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method(), seg.as_slice()) {
        (&Method::GET, ["ui", "compose"]) => {
            let st = state.clone();
            let list = crate::routes::blocking(move || read_projects(&record_path(&st))).await?;
            crate::routes::json(StatusCode::OK, &list)
        }
        (&Method::POST, ["ui", "compose", project, verb]) => {
            let (project, verb) = (project.to_string(), verb.to_string());
            let body: VerbBody = {
                let data = crate::routes::read_body(req).await?;
                if data.iter().all(u8::is_ascii_whitespace) {
                    VerbBody::default()
                } else {
                    serde_json::from_slice(&data)
                        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
                }
            };
            let p = Project { name: project, files: body.files, workdir: body.workdir };
            let args = command_line(&state.config.socket, &p, &verb)?;
            run(state, p, verb, args)
        }
        _ => Err(ApiError::not_found(format!("page not found: {path}"))),
    }
}

fn run(state: Arc<State>, p: Project, verb: String, args: Vec<String>) -> Result<Response<Body>, ApiError> {
    let mut child = tokio::process::Command::new(&state.config.monitor_exe)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ApiError::internal(format!("run compose: {e}")))?;
    let (tx, body) = crate::body::channel();
    let (out, err) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    // Both streams' lines, as they come; the channel closes when both end.
    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<String>(64);
    let readers: [Box<dyn tokio::io::AsyncRead + Unpin + Send>; 2] = [Box::new(out), Box::new(err)];
    for r in readers {
        let lines_tx = lines_tx.clone();
        tokio::spawn(async move {
            // Bounded lines, any bytes (a lossy decode never stops the pipe: the child would die on EPIPE).
            let mut r = BufReader::new(r);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match (&mut r).take(64 << 10).read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let l = String::from_utf8_lossy(&buf).trim_end_matches('\n').to_string();
                        if lines_tx.send(l).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    drop(lines_tx);
    tokio::spawn(async move {
        let send = |v: serde_json::Value| {
            let tx = tx.clone();
            async move { tx.send(format!("{v}\n").into()).await.is_ok() }
        };
        while let Some(l) = lines.recv().await {
            let _ = send(serde_json::json!({ "stream": format!("{l}\n") })).await;
        }
        let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1);
        if code == 0 && verb == "up" {
            let path = record_path(&state);
            if let Err(e) = tokio::task::spawn_blocking(move || remember(&path, &p)).await.unwrap_or(Ok(())) {
                let _ =
                    send(serde_json::json!({ "stream": format!("could not remember the project: {}\n", e.message) }))
                        .await;
            }
        }
        let _ = send(serde_json::json!({ "exit": code })).await;
    });
    let mut r = Response::new(body);
    r.headers_mut().insert("Content-Type", HeaderValue::from_static("application/json"));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_and_refusals() {
        let p =
            Project { name: "shop".into(), files: vec!["/srv/shop/compose.yaml".into()], workdir: "/srv/shop".into() };
        let args = command_line(Path::new("/run/w.sock"), &p, "up").unwrap();
        assert_eq!(
            args.join(" "),
            "-H unix:///run/w.sock compose -p shop --project-directory /srv/shop -f /srv/shop/compose.yaml up -d"
        );
        assert!(command_line(Path::new("/s"), &p, "rm").is_err());
        let bad = |f: fn(&mut Project)| {
            let mut q = p.clone();
            f(&mut q);
            command_line(Path::new("/s"), &q, "up").is_err()
        };
        assert!(bad(|q| q.name = "Shop".into()) && bad(|q| q.name = "-x".into()) && bad(|q| q.name = "a b".into()));
        assert!(bad(|q| q.files = vec!["rel.yaml".into()]) && bad(|q| q.files.clear()));
        assert!(bad(|q| q.workdir = "rel".into()) && bad(|q| q.files = vec![String::new()]));
        let down = Project { files: Vec::new(), workdir: String::new(), ..p };
        assert!(command_line(Path::new("/s"), &down, "down").is_ok(), "down needs no file");
    }
}

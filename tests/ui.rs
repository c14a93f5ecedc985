//! The web dashboard (`wharf daemon --ui`, issue 14): in headless Chromium
//! (Debian's, driven by playwright-core: `tests/ui/dashboard.mjs`) against
//! a real daemon, its registry and browser in the daemon's network
//! namespace; and the checks that keep it from being open by accident.
//! Screenshots of every view go to `target/ui-screenshots/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::daemon::Daemon;

const PORT: u16 = 18480;
const TOKEN: &str = "s3cret-token-for-the-ui";

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/ui")
}

/// `curl` in the daemon's namespace: (status, headers and body).
fn curl(d: &Daemon, args: &[&str]) -> (u16, String) {
    let mut all = vec!["curl", "-s", "-i", "-o", "-", "--max-time", "10"];
    all.extend_from_slice(args);
    let out = d.in_netns(&all);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

#[test]
fn the_dashboard_in_a_browser() {
    let chromium = Path::new("/usr/bin/chromium");
    assert!(chromium.exists(), "Debian's chromium is needed (scripts/deps.sh test installs it)");
    assert!(ui_dir().join("node_modules/playwright-core").is_dir(), "npm ci in tests/ui (scripts/test.sh runs it)");
    // With a token (loopback allows one): every request of the page carries it.
    let d = Daemon::start_with_args(&["--ui", &format!("127.0.0.1:{PORT}"), "--ui-token", TOKEN]);
    d.import_busybox();
    let registry = support::Registry::start_in(Some(&d.netns), None);
    let image = format!("{}/ui/busybox:1", registry.host());
    d.ok(&["tag", "busybox:local", &image]);
    d.ok(&["push", &image]);
    d.ok(&["rmi", &image]);
    let project = d.dir.path().join("uiproj");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("compose.yaml"),
        "services:\n  web:\n    image: busybox:local\n    command: sleep 1000\n    stop_signal: SIGKILL\n  \
         worker:\n    image: busybox:local\n    command: sleep 1000\n    stop_signal: SIGKILL\n",
    )
    .unwrap();
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out: Output = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", d.netns))
        .arg("node")
        .arg(ui_dir().join("dashboard.mjs"))
        .env("WHARF_UI", url(PORT, ""))
        .env("WHARF_UI_TOKEN", TOKEN)
        .env("SHOTS", &shots)
        .env("REGISTRY", registry.host())
        .env("COMPOSE_FILE", project.join("compose.yaml"))
        .env("CHROMIUM", chromium)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Whatever happened, the project goes (the browser may have stopped half-way).
    let _ =
        d.wharf(&["compose", "-p", "uiproj", "-f", project.join("compose.yaml").to_str().unwrap(), "down", "-t", "0"]);
    assert!(out.status.success() && text.contains("PASS"), "{text}");
    for view in ["containers", "container-logs", "container-terminal", "container-stats", "images", "compose", "system"]
    {
        assert!(shots.join(format!("{view}.png")).is_file(), "screenshot {view}");
    }
}

#[test]
fn the_dashboard_is_never_open_by_accident() {
    // Off loopback without a token: the daemon does not start.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(support::WHARF)
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .args(["daemon", "--ui", "0.0.0.0:18481", "-H"])
        .arg(format!("unix://{}", dir.path().join("s.sock").display()))
        .arg("--exec-root")
        .arg(dir.path().join("exec"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("needs --ui-token"), "{err}");

    let d = Daemon::start_with_args(&["--ui", &format!("127.0.0.1:{PORT}")]);
    let api = "/api/containers/json?all=1";
    let ui = "X-Wharf-UI: 1";
    // The page, with its CSP; another host name (DNS rebinding) is refused.
    let (status, page) = curl(&d, &[&url(PORT, "/")]);
    assert!(
        status == 200 && page.to_lowercase().contains("content-security-policy") && page.contains("<main"),
        "{page}"
    );
    assert_eq!(curl(&d, &["-H", "Host: evil.example:18480", &url(PORT, "/")]).0, 421);
    // /api: only with the dashboard's header, and a same-origin Origin if any.
    assert_eq!(curl(&d, &[&url(PORT, api)]).0, 403);
    assert_eq!(curl(&d, &["-H", ui, "-H", "Origin: http://evil.example", &url(PORT, api)]).0, 403);
    let (status, body) = curl(&d, &["-H", ui, "-H", &format!("Origin: http://127.0.0.1:{PORT}"), &url(PORT, api)]);
    assert_eq!(status, 200, "{body}");
    // The API's own checks answer through it, as through the socket.
    let refused = r#"{"Image":"busybox:local","HostConfig":{"CpuRealtimePeriod":1000}}"#;
    let (status, body) = curl(
        &d,
        &["-H", ui, "-H", "Content-Type: application/json", "-d", refused, &url(PORT, "/api/containers/create")],
    );
    let (sock_status, sock_body) = d.http("POST", "/containers/create", refused);
    let message = |b: &str| b.rsplit("\r\n\r\n").next().unwrap_or(b).trim().to_string();
    assert_eq!((status, message(&body)), (sock_status, message(&sock_body)), "{body}");
    assert_eq!(status, 400);
    // WebSockets: a same-origin Origin, always.
    let ws = [
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        "-H",
        "Sec-WebSocket-Version: 13",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ];
    let mut evil = ws.to_vec();
    evil.extend(["-H", "Origin: http://evil.example"]);
    let target = url(PORT, "/ws/exec/abc");
    evil.push(&target);
    assert_eq!(curl(&d, &evil).0, 403);
    let mut none = ws.to_vec();
    none.push(&target);
    assert_eq!(curl(&d, &none).0, 403, "no Origin");
    drop(d);

    // Behind a token, on every address: nothing but the page (public code) without it, and never a cookie.
    let port = PORT + 2;
    let d = Daemon::start_with_args(&["--ui", &format!("0.0.0.0:{port}"), "--ui-token", TOKEN]);
    let (status, page) = curl(&d, &[&url(port, "/")]);
    assert!(status == 200 && !page.to_lowercase().contains("set-cookie"), "{page}");
    assert_eq!(curl(&d, &["-H", ui, &url(port, api)]).0, 401);
    assert_eq!(curl(&d, &["-H", ui, "-H", "Authorization: Bearer wrong-token-0123456", &url(port, api)]).0, 401);
    assert_eq!(curl(&d, &["-H", ui, "-H", &format!("Cookie: wharf_ui={TOKEN}"), &url(port, api)]).0, 401, "no cookies");
    let bearer = format!("Authorization: Bearer {TOKEN}");
    assert_eq!(curl(&d, &["-H", ui, "-H", &bearer, &url(port, api)]).0, 200);
    // A terminal: a ticket from the token's holder, good once; none, or a made-up one, is refused.
    let origin = format!("Origin: http://127.0.0.1:{port}");
    let target = url(port, "/ws/exec/abc");
    let mut bare = ws.to_vec();
    bare.extend(["-H", &origin, &target]);
    assert_eq!(curl(&d, &bare).0, 401, "no ticket");
    assert_eq!(curl(&d, &["-X", "POST", "-H", ui, &url(port, "/ui/ticket")]).0, 401, "a ticket needs the token");
    let (status, body) = curl(&d, &["-X", "POST", "-H", ui, "-H", &bearer, &url(port, "/ui/ticket")]);
    assert_eq!(status, 200, "{body}");
    let ticket =
        body.rsplit("\r\n\r\n").next().and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok()).unwrap()
            ["ticket"]
            .as_str()
            .unwrap()
            .to_string();
    let with = url(port, &format!("/ws/exec/abc?ticket={ticket}"));
    let mut good = ws.to_vec();
    good.extend(["-H", &origin, &with]);
    // The ticket lets it through to the API, which knows no such exec.
    assert_eq!(curl(&d, &good).0, 404);
    assert_eq!(curl(&d, &good).0, 401, "a ticket is good once");
}

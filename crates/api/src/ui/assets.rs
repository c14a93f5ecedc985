//! The dashboard's files, embedded at build time from `ui/` (the crate's).

use hyper::header::HeaderValue;
use hyper::{Method, Response};

use crate::body::{full, Body};

macro_rules! files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../ui/", $path)) as &[u8])),*]
    };
}

/// (path under `/assets/`, content); `index.html` is `/`.
const FILES: &[(&str, &[u8])] = files![
    "index.html",
    "theme.js",
    "style.css",
    "app.js",
    "api.js",
    "charts.js",
    "views/ansi.js",
    "views/compose.js",
    "views/container.js",
    "views/containers.js",
    "views/events.js",
    "views/images.js",
    "views/networks.js",
    "views/system.js",
    "views/volumes.js",
    "vendor/xterm.js",
    "vendor/addon-fit.js",
    "vendor/xterm.css",
];

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `GET /` and `GET /assets/…`; None for anything else.
pub fn serve(method: &Method, path: &str) -> Option<Response<Body>> {
    let name = match path {
        "/" | "/index.html" => Some("index.html"),
        p => p.strip_prefix("/assets/"),
    };
    let found = name.and_then(|n| FILES.iter().find(|(p, _)| *p == n));
    let (p, data) = found.filter(|_| matches!(*method, Method::GET | Method::HEAD))?;
    let mut r = Response::new(if method == Method::HEAD { crate::body::empty() } else { full(data.to_vec()) });
    let h = r.headers_mut();
    h.insert("Content-Type", HeaderValue::from_static(content_type(p)));
    // The binary is the version: a new daemon serves new files at once.
    h.insert("Cache-Control", HeaderValue::from_static("no-cache"));
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        // What app.js and the views import must be served, or the page breaks.
        for (path, data) in FILES.iter().filter(|(p, _)| p.ends_with(".js") && !p.starts_with("vendor/")) {
            let text = std::str::from_utf8(data).unwrap();
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let spec = line.rsplit_once(" from \"").map(|(_, s)| s.trim_end_matches("\";")).unwrap();
                let mut parts: Vec<&str> = if dir.is_empty() { Vec::new() } else { dir.split('/').collect() };
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let target = parts.join("/");
                assert!(FILES.iter().any(|(p, _)| *p == target), "{path} imports {spec}: {target} is not embedded");
            }
        }
        assert!(serve(&Method::GET, "/nope").is_none());
        assert!(serve(&Method::POST, "/").is_none());
        assert!(serve(&Method::GET, "/assets/../Cargo.toml").is_none());
        assert_eq!(serve(&Method::GET, "/").map(|r| r.status()), Some(StatusCode::OK));
    }
}

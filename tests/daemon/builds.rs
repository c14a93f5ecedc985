//! Builds through `POST /build` as a client other than Wharf's sends them
//! (issue 11): Docker's stream (aux ID, "Successfully built/tagged", red
//! stderr, "Using cache" for every cached step, error codes and statuses),
//! `.dockerignore` applied by the daemon, ONBUILD triggers.

use super::support::daemon::Daemon;

fn daemon() -> Daemon {
    let d = Daemon::start();
    d.import_busybox();
    d
}

/// `POST /build` with a context holding `dockerfile` as `Dockerfile`: the
/// HTTP status and the stream's JSON messages (curl de-chunks).
pub(super) fn build(d: &Daemon, dockerfile: &str, query: &str) -> (u16, Vec<serde_json::Value>, String) {
    build_files(d, &[("Dockerfile", dockerfile)], query)
}

/// `POST /build` of a context holding `files`, as a client other than Wharf's sends it.
pub(super) fn build_files(d: &Daemon, files: &[(&str, &str)], query: &str) -> (u16, Vec<serde_json::Value>, String) {
    let ctx = d.dir.path().join("ctx.tar");
    let mut t = tar::Builder::new(std::fs::File::create(&ctx).unwrap());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, name, data.as_bytes()).unwrap();
    }
    t.finish().unwrap();
    drop(t);
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(d.sock())
        .args(["-X", "POST", "-H", "Content-Type: application/x-tar", "--data-binary"])
        .arg(format!("@{}", ctx.display()))
        .arg(format!("http://docker/build?{query}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    let msgs = body.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    (code.parse().unwrap(), msgs, body.to_string())
}

#[test]
fn build_streams_as_docker() {
    let d = daemon();
    let (status, msgs, raw) = build(&d, "FROM busybox:local\nRUN echo out; echo err >&2\n", "t=fid:1");
    assert_eq!(status, 200, "{raw}");
    let at = |pred: &dyn Fn(&serde_json::Value) -> bool| msgs.iter().position(pred).unwrap_or_else(|| panic!("{raw}"));
    let aux = at(&|m| m["aux"]["ID"].is_string());
    let built = at(&|m| m["stream"].as_str().is_some_and(|s| s.starts_with("Successfully built")));
    let tagged = at(&|m| m["stream"] == "Successfully tagged fid:1\n");
    assert!(aux < built && built < tagged, "{raw}");
    assert!(msgs.iter().any(|m| m["stream"] == "\u{1b}[91merr\n\u{1b}[0m"), "stderr wrapped as Docker's: {raw}");
    // A failing step: the stream carries the error with the command's code.
    let (status, msgs, raw) = build(&d, "FROM busybox:local\nRUN exit 3\n", "");
    assert_eq!(status, 200);
    let last = msgs.last().unwrap();
    assert_eq!(last["errorDetail"]["code"], 3, "{raw}");
    assert!(last["error"].as_str().unwrap().contains("returned a non-zero code: 3"));
    // Failing before any output: an HTTP error status, Docker's JSON message.
    let (status, _, raw) = build(&d, "FROBNICATE x\n", "");
    assert_eq!(status, 400, "{raw}");
    assert!(raw.contains("\"message\"") && raw.contains("FROBNICATE"), "{raw}");
    let (status, _, raw) = build(&d, "FROM busybox:local\n", "dockerfile=Nope");
    assert!(status >= 400, "{status}: {raw}");
}

/// The daemon applies `.dockerignore` to a context sent whole (the docker
/// CLI's does too, other clients not): ignored files are not there for
/// COPY, the Dockerfile and `.dockerignore` are used but not copied.
#[test]
fn the_daemon_applies_dockerignore() {
    let d = daemon();
    let dockerfile = "FROM busybox:local\nCOPY . /ctx\nCMD [\"sh\", \"-c\", \"cd /ctx && find . -type f | sort\"]\n";
    let files = [
        ("Dockerfile", dockerfile),
        (".dockerignore", "secret\n*.log\n!keep.log\nDockerfile\n.dockerignore\nsub/skip\n"),
        ("secret", "s"),
        ("a.log", "l"),
        ("keep.log", "k"),
        ("app.txt", "a"),
        ("sub/skip", "x"),
        ("sub/take", "y"),
    ];
    let (status, _, raw) = build_files(&d, &files, "t=ign:1");
    assert_eq!(status, 200, "{raw}");
    let listing = d.ok(&["run", "--rm", "ign:1"]);
    assert_eq!(listing.lines().collect::<Vec<_>>(), ["./app.txt", "./keep.log", "./sub/take"], "{raw}");
    let (_, msgs, raw) = build_files(
        &d,
        &[("Dockerfile", "FROM busybox:local\nCOPY secret /s\n"), (".dockerignore", "secret\n"), ("secret", "s")],
        "",
    );
    let last = msgs.last().unwrap();
    assert!(last["error"].as_str().is_some_and(|e| e.contains("secret")), "{raw}");
}

/// ONBUILD triggers: recorded in the image's config, run by the build FROM
/// it (as Docker's), not inherited further.
#[test]
fn onbuild_triggers_run_in_the_child_build() {
    let d = daemon();
    let base = "FROM busybox:local\nONBUILD COPY msg /msg\nONBUILD RUN echo triggered >> /msg\n";
    let (status, _, raw) = build_files(&d, &[("Dockerfile", base)], "t=base:1");
    assert_eq!(status, 200, "{raw}");
    let v: serde_json::Value = serde_json::from_str(&d.http("GET", "/images/base:1/json", "").1).unwrap();
    assert_eq!(v["Config"]["OnBuild"], serde_json::json!(["COPY msg /msg", "RUN echo triggered >> /msg"]));
    let (status, _, raw) =
        build_files(&d, &[("Dockerfile", "FROM base:1\nCMD [\"cat\", \"/msg\"]\n"), ("msg", "hello\n")], "t=child:1");
    assert_eq!(status, 200, "{raw}");
    assert!(raw.contains("Executing 2 build triggers"), "{raw}");
    assert_eq!(d.ok(&["run", "--rm", "child:1"]), "hello\ntriggered\n");
    let v: serde_json::Value = serde_json::from_str(&d.http("GET", "/images/child:1/json", "").1).unwrap();
    assert_eq!(v["Config"]["OnBuild"], serde_json::Value::Null, "not inherited: {}", v["Config"]);
    let (status, _, raw) = build_files(&d, &[("Dockerfile", "FROM busybox:local\nONBUILD FROM x\n")], "");
    assert!(status >= 400 || raw.contains("isn't allowed"), "{raw}");
}

/// Every step of a rebuilt Dockerfile reports "Using cache" and an image ID,
/// metadata steps too, as Docker's classic builder does.
#[test]
fn every_cached_step_says_using_cache() {
    let d = daemon();
    let file = "FROM busybox:local\nENV A=1\nRUN echo x > /x\nLABEL l=1\nWORKDIR /w\nCMD [\"sh\"]\n";
    let (_, _, first) = build(&d, file, "t=cached:1");
    assert!(first.contains("Removing intermediate container"), "{first}");
    let (status, msgs, raw) = build(&d, file, "t=cached:1");
    assert_eq!(status, 200, "{raw}");
    let text: String = msgs.iter().filter_map(|m| m["stream"].as_str()).collect();
    assert_eq!(text.matches(" ---> Using cache\n").count(), 5, "{text}");
    assert_eq!(
        text.matches("\n ---> ").count() - text.matches(" ---> Using cache").count(),
        6,
        "an ID per step: {text}"
    );
}

/// `--build-context` through the daemon (Wharf's extension of `POST /build`).
#[test]
fn named_contexts_through_the_daemon() {
    let d = daemon();
    super::support::named_contexts_case(d.dir.path(), &|args| d.wharf(args));
}

/// Remote contexts (`remote=`): the daemon fetches a git repository or a URL.
#[test]
fn remote_contexts_through_the_daemon() {
    let d = daemon();
    let netns = std::path::PathBuf::from(format!("/run/netns/{}", d.netns));
    super::support::remote_contexts_case(d.dir.path(), Some(&netns), &|args| d.wharf(args));
}

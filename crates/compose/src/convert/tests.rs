//! Services into create bodies: each honoured key's field, the labels,
//! and refusals naming the key and its file:line.

use super::*;
use crate::yaml::parse;

fn body(svc: &str) -> Result<J> {
    let model =
        parse(&format!("services:\n  web:\n{svc}volumes: {{data: {{}}, ext: {{name: shared, external: true}}}}\n"))
            .unwrap();
    let mut model = model;
    crate::merge::normalize(&mut model);
    let lookup = |n: &str| (n == "FROM_PROJECT").then(|| "p".to_string());
    let files = ["/app/compose.yaml".to_string()];
    let volumes = volume_names("shop", &model);
    let cx = Cx { project: "shop", lookup: &lookup, files: &files, directory: "/app", volumes: &volumes };
    let svc = model.get("services").and_then(|s| s.get("web")).unwrap().clone();
    create_body(&cx, "web", &svc, 1)
}

#[test]
fn honoured_keys_reach_their_fields() {
    let b = body(concat!(
        "    image: busybox\n",
        "    command: sh -c 'echo hi'\n",
        "    entrypoint: [/init]\n",
        "    environment: [A=1, FROM_PROJECT, NOT_SET]\n",
        "    working_dir: /w\n    user: '1000:1000'\n    hostname: h\n",
        "    labels: {team: x}\n",
        "    ports: ['8080:80', '127.0.0.1:9000-9001:90-91/udp', {target: 53, published: '5353', protocol: udp}]\n",
        "    expose: ['7000']\n",
        "    volumes: ['/host:/in:ro', 'data:/data', '/anon', 'ext:/ext', {type: tmpfs, target: /t, tmpfs: {size: 1m}}]\n",
        "    restart: on-failure:3\n",
        "    healthcheck: {test: 'true', interval: 1s, retries: 2}\n",
        "    stop_grace_period: 1m\n    stop_signal: SIGINT\n",
        "    mem_limit: 64m\n    cpus: 0.5\n    pids_limit: 100\n",
        "    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 64}\n",
        "    extra_hosts: ['db:10.0.0.2']\n    cap_add: [NET_ADMIN]\n    init: true\n",
        "    logging: {driver: json-file, options: {max-size: 1m}}\n",
        "    deploy: {replicas: 2, resources: {reservations: {memory: 32m}}}\n",
        "    depends_on: {db: {condition: service_healthy}}\n",
        "    x-note: ignored by design\n",
    ))
    .unwrap();
    assert_eq!(b["Image"], "busybox");
    assert_eq!(b["Cmd"], json!(["sh", "-c", "echo hi"]));
    assert_eq!(b["Entrypoint"], json!(["/init"]));
    assert_eq!(b["Env"], json!(["A=1", "FROM_PROJECT=p"]));
    assert_eq!(
        (b["WorkingDir"].clone(), b["User"].clone(), b["Hostname"].clone()),
        (json!("/w"), json!("1000:1000"), json!("h"))
    );
    let l = &b["Labels"];
    assert_eq!(l["team"], "x");
    assert_eq!(l["com.docker.compose.project"], "shop");
    assert_eq!(l["com.docker.compose.service"], "web");
    assert_eq!(l["com.docker.compose.container-number"], "1");
    assert_eq!(l["com.docker.compose.depends_on"], "db:service_healthy:false");
    assert_eq!(l["com.docker.compose.project.config_files"], "/app/compose.yaml");
    assert_eq!(l["com.docker.compose.config-hash"].as_str().unwrap().len(), 64);
    let h = &b["HostConfig"];
    assert_eq!(h["PortBindings"]["80/tcp"], json!([{"HostIp": "", "HostPort": "8080"}]));
    assert_eq!(h["PortBindings"]["91/udp"], json!([{"HostIp": "127.0.0.1", "HostPort": "9001"}]));
    assert_eq!(h["PortBindings"]["53/udp"], json!([{"HostIp": "", "HostPort": "5353"}]));
    assert!(b["ExposedPorts"].get("7000/tcp").is_some() && b["ExposedPorts"].get("90/udp").is_some());
    assert_eq!(h["Binds"], json!(["/host:/in:ro"]));
    let m = h["Mounts"].as_array().unwrap();
    assert_eq!(m[0]["Source"], "shop_data");
    assert_eq!(m[1], json!({"Type": "volume", "Target": "/anon"}));
    assert_eq!(m[2]["Source"], "shared");
    assert_eq!(m[3]["TmpfsOptions"]["SizeBytes"], 1 << 20);
    assert_eq!(h["RestartPolicy"], json!({"Name": "on-failure", "MaximumRetryCount": 3}));
    assert_eq!(b["Healthcheck"], json!({"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000i64, "Retries": 2}));
    assert_eq!((b["StopTimeout"].clone(), b["StopSignal"].clone()), (json!(60), json!("SIGINT")));
    assert_eq!(
        (h["Memory"].clone(), h["NanoCpus"].clone(), h["PidsLimit"].clone()),
        (json!(64 << 20), json!(500_000_000), json!(100))
    );
    assert_eq!(
        h["Ulimits"],
        json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}, {"Name": "nproc", "Soft": 64, "Hard": 64}])
    );
    assert_eq!(
        (h["ExtraHosts"].clone(), h["CapAdd"].clone(), h["Init"].clone()),
        (json!(["db:10.0.0.2"]), json!(["NET_ADMIN"]), json!(true))
    );
    assert_eq!(h["LogConfig"], json!({"Type": "json-file", "Config": {"max-size": "1m"}}));
    assert_eq!(h["MemoryReservation"], json!(32 << 20));
}

#[test]
fn env_files_come_before_environment() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("web.env");
    std::fs::write(&f, "A=from-file\nB=file\n").unwrap();
    let g = d.path().join("later.env");
    std::fs::write(&g, "B=later\n").unwrap();
    let b = body(&format!(
        "    image: x\n    environment: {{A: env}}\n    env_file: ['{}', {{path: /nonexistent.env, required: false}}, '{}']\n",
        f.display(),
        g.display()
    ))
    .unwrap();
    assert_eq!(b["Env"], json!(["B=later", "A=env"]), "a later env_file wins; environment wins over all");
    assert!(body("    image: x\n    env_file: [/nonexistent.env]\n").is_err(), "a required env_file must exist");
}

#[test]
fn unsupported_keys_are_refused_naming_key_and_place() {
    let cases = [
        ("    image: x\n    blkio_config: {weight: 300}\n", "services.web.blkio_config"),
        ("    image: x\n    deploy: {placement: {constraints: [a]}}\n", "services.web.deploy.placement"),
        ("    image: x\n    volumes: ['undeclared:/u']\n", "services.web.volumes[0]"),
        ("    image: x\n    volumes: ['/a:/b:z']\n", "services.web.volumes[0]"),
        ("    image: x\n    ports: ['80/icmp']\n", "services.web.ports[0]"),
        ("    image: x\n    restart: sometimes\n", "services.web.restart"),
        ("    image: x\n    healthcheck: {test: 'true', interval: soon}\n", "services.web.healthcheck.interval"),
    ];
    for (svc, path) in cases {
        match body(svc) {
            Err(ComposeError::Unsupported { path: p, at, .. }) => {
                assert_eq!(p, path, "{svc}");
                assert!(at.starts_with("line "), "{at}");
            }
            other => panic!("{svc}: {other:?}"),
        }
    }
}

#[test]
fn booleans_and_integers_written_as_strings() {
    let b = body(
        "    image: x\n    privileged: 'true'\n    tty: 'false'\n    pids_limit: '50'\n    ulimits: {nofile: '10'}\n",
    )
    .unwrap();
    assert_eq!((b["HostConfig"]["Privileged"].clone(), b["Tty"].clone()), (json!(true), json!(false)));
    assert_eq!(b["HostConfig"]["PidsLimit"], 50);
    assert_eq!(b["HostConfig"]["Ulimits"][0]["Soft"], 10);
    assert!(matches!(body("    image: x\n    init: 'maybe'\n"), Err(ComposeError::Unsupported { .. })));
}

#[test]
fn names_and_hashes() {
    let svc = parse("image: x\nrestart: always\n").unwrap();
    assert_eq!(container_name("shop", "web", &svc, 2), "shop-web-2");
    let named = parse("image: x\ncontainer_name: custom\n").unwrap();
    assert_eq!(container_name("shop", "web", &named, 1), "custom");
    // What does not change the container does not change the hash.
    let scaled = parse("image: x\nrestart: always\nscale: 3\ndepends_on: {db: {}}\n").unwrap();
    assert_eq!(config_hash(&svc), config_hash(&scaled));
    let changed = parse("image: y\nrestart: always\n").unwrap();
    assert_ne!(config_hash(&svc), config_hash(&changed));
}

//! Container commands as a client of the Docker Engine API (`wharf daemon`
//! or any compatible daemon): ps, create/start/run, logs, exec, stop, kill,
//! rm, inspect, cp, stats, events, and the rest of the everyday set.

mod common;
mod ps;
pub use ps::*;
mod run;
pub use run::*;
mod verbs;
pub use verbs::*;
mod files;
pub use files::*;
mod stats;
pub use stats::*;
mod objects;
pub use objects::*;
mod images;
pub use images::*;
mod build;
pub use build::*;

#[cfg(test)]
mod tests {
    use super::common::*;
    use super::*;

    #[test]
    fn create_bodies_follow_the_flags() {
        let f = ContainerFlags {
            name: Some("web".into()),
            env: vec!["A=1".into()],
            publish: vec!["127.0.0.1:8080:80".into()],
            restart: Some("on-failure:3".into()),
            memory: Some("64m".into()),
            health_cmd: Some("true".into()),
            health_interval: Some("2s".into()),
            ..Default::default()
        };
        let b = create_body(&f, "busybox", &["sh".into()]).unwrap();
        assert_eq!(b["Cmd"], json!(["sh"]));
        assert_eq!(b["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(b["HostConfig"]["RestartPolicy"], json!({"Name": "on-failure", "MaximumRetryCount": 3}));
        assert_eq!(b["HostConfig"]["Memory"], 64 << 20);
        assert_eq!(b["Healthcheck"]["Interval"], 2_000_000_000i64);
        assert!(b.get("Entrypoint").is_none());
        let bad = ContainerFlags { rm: true, restart: Some("always".into()), ..Default::default() };
        assert!(create_body(&bad, "busybox", &[]).is_err());
        assert!(create_body(&ContainerFlags { publish: vec!["x".into()], ..Default::default() }, "b", &[]).is_err());
    }

    #[test]
    fn filters_and_paths() {
        assert_eq!(filters_query(&[]).unwrap(), "");
        assert!(filters_query(&["label=a=b".into(), "status=running".into()]).unwrap().contains("%22label%22"));
        assert!(filters_query(&["bogus".into()]).is_err());
        assert_eq!(split_container_path("web:/etc/x"), Some(("web", "/etc/x")));
        assert_eq!(split_container_path("/host/path"), None);
        assert_eq!(split_container_path("./rel:x"), None);
    }
}

//! The contract every [`Backend`] keeps, as one suite run by the fake (unit
//! tests) and by the Engine API backend against `wharf daemon` (end to
//! end): resources found by the project's label, containers through their
//! lifecycle, their states, volume mounts, injected files, and errors for
//! what is not there.

use serde_json::json;

use super::{Backend, Injected};

/// Runs the suite as project `project`, with `image` present and able to
/// run `sleep`. Leaves nothing behind when it passes.
pub fn run(b: &dyn Backend, project: &str, image: &str) {
    let label = json!({"com.docker.compose.project": project});
    let net = format!("{project}_net");
    let vol = format!("{project}_vol");
    assert!(!b.network_exists(&net).unwrap() && !b.volume_exists(&vol).unwrap());
    b.create_network(&json!({"Name": net, "Labels": label, "Driver": "bridge"})).unwrap();
    b.create_volume(&json!({"Name": vol, "Labels": label, "Driver": "local"})).unwrap();
    assert!(b.network_exists(&net).unwrap() && b.volume_exists(&vol).unwrap());
    assert_eq!(b.networks(project).unwrap(), std::slice::from_ref(&net));
    assert_eq!(b.volumes(project).unwrap(), std::slice::from_ref(&vol));
    assert!(b.networks("another-project").unwrap().is_empty());
    assert!(b.image_exists(image).unwrap());
    assert!(!b.image_exists("no-such-image:never").unwrap());
    assert!(b.image_id(image).unwrap().is_some_and(|id| id.starts_with("sha256:")));
    assert_eq!(b.image_id("no-such-image:never").unwrap(), None);

    let name = format!("{project}-svc-1");
    let body = json!({
        "Image": image, "Cmd": ["sleep", "1000"], "StopSignal": "SIGKILL",
        "Labels": {"com.docker.compose.project": project, "com.docker.compose.service": "svc",
                   "com.docker.compose.container-number": "1"},
        "HostConfig": {"NetworkMode": net, "Mounts": [
            {"Type": "volume", "Source": vol, "Target": "/named"},
            {"Type": "volume", "Target": "/anon"}]},
    });
    let id = b.create(&name, &body).unwrap();
    assert!(b.create(&name, &body).is_err(), "a name is taken once");
    let other = b.create(&format!("{name}-tmp"), &body).unwrap();
    assert!(b.rename(&other, &name).is_err(), "a rename to a taken name fails");
    b.rename(&id, &format!("{name}-old")).unwrap();
    b.rename(&other, &name).unwrap();
    b.remove(&id, true).unwrap();
    let id = other;
    let list = b.containers(project).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].id.as_str(), list[0].name.as_str(), list[0].service()),
        (id.as_str(), name.as_str(), Some("svc"))
    );
    assert_eq!((list[0].number(), list[0].state.as_str()), (1, "created"));
    let mut mounts = b.volume_mounts(&id).unwrap();
    mounts.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(mounts.len(), 2);
    assert_eq!((mounts[0].1.as_str(), mounts[1].0.as_str(), mounts[1].1.as_str()), ("/anon", vol.as_str(), "/named"));
    b.inject(
        &id,
        &Injected { path: "/run/secrets/s".into(), content: b"secret".to_vec(), uid: 0, gid: 0, mode: 0o400 },
    )
    .unwrap();

    b.start(&id).unwrap();
    let st = b.state(&id).unwrap();
    assert!(st.running && st.exit_code.is_none() && st.health.is_none(), "{st:?}");
    assert_eq!(b.containers(project).unwrap()[0].state, "running");
    b.pause(&id).unwrap();
    assert_eq!(b.containers(project).unwrap()[0].state, "paused");
    b.unpause(&id).unwrap();
    assert_eq!(b.containers(project).unwrap()[0].state, "running");
    b.restart(&id, Some(0)).unwrap();
    assert!(b.state(&id).unwrap().running);
    b.kill(&id, Some("SIGKILL")).unwrap();
    let st = b.state(&id).unwrap();
    assert!(!st.running && st.exit_code.is_some(), "{st:?}");
    b.stop(&id, None).unwrap();
    b.start(&id).unwrap();
    b.stop(&id, Some(0)).unwrap();
    assert!(!b.state(&id).unwrap().running);

    b.remove(&id, true).unwrap();
    assert!(b.containers(project).unwrap().is_empty());
    assert!(b.state(&id).is_err(), "a removed container has no state");
    assert!(b.start(&id).is_err());
    b.remove_network(&net).unwrap();
    b.remove_volume(&vol).unwrap();
    assert!(!b.network_exists(&net).unwrap() && !b.volume_exists(&vol).unwrap());
    assert!(b.remove_network(&net).is_err(), "removing what is not there fails");
}

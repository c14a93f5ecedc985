//! What Wharf does with each field of Docker's create body: the fields it
//! honours, the ones that carry no meaning on create (output fields,
//! client-side ones), and — for every other field of the v1.41 API — a 400
//! naming the field unless it holds its default (clients send every field,
//! mostly empty). Nothing a client sets is accepted and silently ignored;
//! names the API does not have are ignored, as dockerd ignores them.

use serde_json::Value;

use crate::error::ApiError;

/// `Config` keys honoured (or inert on create: attach flags are the client's).
const CONFIG: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "Labels",
    "Healthcheck",
    "StopSignal",
    "StopTimeout",
    "ExposedPorts",
    "MacAddress",
    "HostConfig",
    "NetworkingConfig",
    // Windows-only; meaningless on Linux.
    "ArgsEscaped",
];

/// `HostConfig` keys honoured.
const HOST_CONFIG: &[&str] = &[
    "AutoRemove",
    "Memory",
    "NanoCpus",
    "CpuQuota",
    "CpuPeriod",
    "PidsLimit",
    "Privileged",
    "CapAdd",
    "CapDrop",
    "ReadonlyRootfs",
    "NetworkMode",
    "Binds",
    "Ulimits",
    "Mounts",
    "Tmpfs",
    "RestartPolicy",
    "Init",
    "CpusetCpus",
    "CpusetMems",
    "PortBindings",
    "PublishAllPorts",
    "LogConfig",
    "ExtraHosts",
    "Dns",
    "DnsSearch",
    "DnsOptions",
    "CpuShares",
    "ShmSize",
    "SecurityOpt",
    "Sysctls",
    "Runtime",
    "PidMode",
    "IpcMode",
    "UTSMode",
    "CgroupnsMode",
    "GroupAdd",
    "MemorySwap",
    "MemoryReservation",
    "MemorySwappiness",
    "OomKillDisable",
    "OomScoreAdj",
    "BlkioWeight",
    "ConsoleSize",
    "Devices",
    "DeviceCgroupRules",
    // The CLI's own (it writes the file); Linux has one isolation.
    "ContainerIDFile",
    "Isolation",
];

/// `NetworkingConfig.EndpointsConfig.*` keys honoured, and the output fields
/// a client may echo back (Docker ignores them on create).
const ENDPOINT: &[&str] = &[
    "Aliases",
    "IPAMConfig",
    "MacAddress",
    "NetworkID",
    "EndpointID",
    "Gateway",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "DNSNames",
];

/// The v1.41 API's `Resources` (also the body of `POST /containers/{id}/update`).
const DOCKER_RESOURCES: &[&str] = &[
    "CpuShares",
    "Memory",
    "CgroupParent",
    "BlkioWeight",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpusetCpus",
    "CpusetMems",
    "Devices",
    "DeviceCgroupRules",
    "DeviceRequests",
    "KernelMemory",
    "KernelMemoryTCP",
    "MemoryReservation",
    "MemorySwap",
    "MemorySwappiness",
    "NanoCpus",
    "OomKillDisable",
    "Init",
    "PidsLimit",
    "Ulimits",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
];

/// The rest of the v1.41 API's `HostConfig`.
const DOCKER_HOST_CONFIG: &[&str] = &[
    "Binds",
    "ContainerIDFile",
    "LogConfig",
    "NetworkMode",
    "PortBindings",
    "RestartPolicy",
    "AutoRemove",
    "VolumeDriver",
    "VolumesFrom",
    "Mounts",
    "CapAdd",
    "CapDrop",
    "CgroupnsMode",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "GroupAdd",
    "IpcMode",
    "Cgroup",
    "Links",
    "OomScoreAdj",
    "PidMode",
    "Privileged",
    "PublishAllPorts",
    "ReadonlyRootfs",
    "SecurityOpt",
    "StorageOpt",
    "Tmpfs",
    "UTSMode",
    "UsernsMode",
    "ShmSize",
    "Sysctls",
    "Runtime",
    "ConsoleSize",
    "Isolation",
    "MaskedPaths",
    "ReadonlyPaths",
];

/// The v1.41 API's `ContainerConfig`.
const DOCKER_CONFIG: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "MacAddress",
    "OnBuild",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Shell",
];

/// The v1.41 API's `EndpointSettings`.
const DOCKER_ENDPOINT: &[&str] = &[
    "IPAMConfig",
    "Links",
    "Aliases",
    "NetworkID",
    "EndpointID",
    "Gateway",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "MacAddress",
    "DriverOpts",
];

/// A value a client sends for a field it did not set.
fn is_default(key: &str, v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Number(n) => n.as_f64() == Some(0.0) || (key == "MemorySwappiness" && n.as_i64() == Some(-1)),
        Value::String(s) => s.is_empty() || (key == "Isolation" && s == "default"),
        Value::Array(a) => a.iter().all(|x| is_default(key, x)),
        Value::Object(o) => o.iter().all(|(k, x)| is_default(k, x)),
        Value::Bool(true) => false,
    }
}

fn refuse(path: &str) -> ApiError {
    ApiError::bad_request(format!("{path} is not supported by Wharf"))
}

/// Refuses a field of the API (`known`) that Wharf does not honour and the
/// client set; a name the API does not have is ignored, as dockerd does.
fn check(obj: &Value, honoured: &[&str], known: &[&[&str]], prefix: &str) -> Result<(), ApiError> {
    for (k, v) in obj.as_object().into_iter().flatten() {
        let k = k.as_str();
        let in_api = known.iter().any(|list| list.contains(&k));
        if in_api && !honoured.contains(&k) && !is_default(k, v) {
            return Err(refuse(&format!("{prefix}{k}")));
        }
    }
    Ok(())
}

/// Refuses a create body that sets a field Wharf does not honour.
pub fn check_create(body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the container config must be a JSON object"));
    }
    check(body, CONFIG, &[DOCKER_CONFIG], "")?;
    let host = &body["HostConfig"];
    check(host, HOST_CONFIG, &[DOCKER_RESOURCES, DOCKER_HOST_CONFIG], "HostConfig.")?;
    if let Some(iso) = host["Isolation"].as_str().filter(|i| !i.is_empty() && *i != "default") {
        return Err(ApiError::bad_request(format!("HostConfig.Isolation {iso:?} is not supported on Linux")));
    }
    for (net, ep) in body["NetworkingConfig"]["EndpointsConfig"].as_object().into_iter().flatten() {
        check(ep, ENDPOINT, &[DOCKER_ENDPOINT], &format!("NetworkingConfig.EndpointsConfig.{net}."))?;
    }
    Ok(())
}

/// `POST /containers/{id}/update` keys honoured (live, through the cgroup).
const UPDATE: &[&str] = &[
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "NanoCpus",
    "CpuShares",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "BlkioWeight",
    "RestartPolicy",
];

/// Refuses an update body that sets a field Wharf does not update.
pub fn check_update(body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the update config must be a JSON object"));
    }
    check(body, UPDATE, &[DOCKER_RESOURCES, &["RestartPolicy"]], "")
}

/// Refuses a `POST /networks/{id}/connect|disconnect` body that sets what
/// Wharf does not do: endpoint settings beyond aliases, a forced disconnect.
pub fn check_connect(body: &Value) -> Result<(), ApiError> {
    check(&body["EndpointConfig"], &["Aliases"], &[DOCKER_ENDPOINT], "EndpointConfig.")?;
    if body["Force"].as_bool() == Some(true) {
        return Err(refuse("Force"));
    }
    Ok(())
}

/// `POST /build` parameters honoured by the classic builder.
const BUILD: &[&str] =
    &["t", "buildargs", "labels", "dockerfile", "target", "q", "nocache", "remote", wharf_build::named::QUERY];

/// Refuses a build that asks for what the builder does not do; the values
/// the docker CLI sends for options left unset pass (`rm=1` and `forcerm`
/// are what the builder always does: it keeps no intermediate containers).
pub fn check_build(pairs: &[(String, String)]) -> Result<(), ApiError> {
    for (k, v) in pairs {
        let inert = match (k.as_str(), v.as_str()) {
            (k, _) if BUILD.contains(&k) => true,
            ("rm", v) => matches!(v, "1" | "true" | ""),
            ("version", v) => matches!(v, "1" | ""),
            ("networkmode", v) => matches!(v, "default" | "none" | ""),
            ("forcerm", _) => true,
            (_, "" | "0" | "false" | "[]" | "{}" | "null") => true,
            _ => false,
        };
        if !inert {
            return Err(ApiError::bad_request(format!("build option {k}={v} is not supported by Wharf")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_pass_and_set_fields_are_named() {
        // What docker CLI 28 sends for a plain `docker run`.
        let plain = json!({"Hostname": "", "Domainname": "", "Env": null, "Cmd": ["true"], "Image": "busybox",
            "Volumes": {}, "OnBuild": null, "Labels": {}, "MacAddress": "",
            "HostConfig": {"Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
                "NetworkMode": "default", "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0],
                "Links": null, "Cgroup": "", "UsernsMode": "", "CgroupParent": "", "BlkioWeightDevice": [],
                "Devices": [], "DeviceCgroupRules": null, "DeviceRequests": null, "MemorySwappiness": -1,
                "CpuRealtimePeriod": 0, "MaskedPaths": null, "Isolation": ""},
            "NetworkingConfig": {"EndpointsConfig": {"default": {"IPAMConfig": null, "Links": null,
                "MacAddress": "", "DriverOpts": null, "GwPriority": 0, "IPAddress": ""}}}});
        check_create(&plain).unwrap();
        let set = |path: &[&str], v: Value| {
            let mut b = plain.clone();
            let mut cur = &mut b;
            for p in &path[..path.len() - 1] {
                cur = &mut cur[*p];
            }
            cur[path[path.len() - 1]] = v;
            check_create(&b).err().map(|e| e.message)
        };
        assert_eq!(
            set(&["HostConfig", "CgroupParent"], json!("x")).unwrap(),
            "HostConfig.CgroupParent is not supported by Wharf"
        );
        assert!(set(&["HostConfig", "VolumesFrom"], json!(["other"])).unwrap().contains("VolumesFrom"));
        assert!(set(&["HostConfig", "Links"], json!(["a:b"])).unwrap().contains("Links"));
        assert!(set(&["HostConfig", "SomethingNew"], json!(1)).is_none(), "names the API lacks are ignored");
        assert!(set(&["HostConfig", "StorageOpt"], json!({"size": "1G"})).unwrap().contains("StorageOpt"));
        assert!(set(&["Shell"], json!(["/bin/bash"])).unwrap().contains("Shell"));
        assert!(set(&["MacAddress"], json!("02:42:ac:11:00:02")).is_none());
        assert!(set(&["OnBuild"], json!(["RUN x"])).unwrap().contains("OnBuild"));
        assert!(set(&["HostConfig", "Isolation"], json!("hyperv")).unwrap().contains("Isolation"));
        let ep = set(&["NetworkingConfig", "EndpointsConfig", "default", "Links"], json!(["a:b"]));
        assert_eq!(ep.unwrap(), "NetworkingConfig.EndpointsConfig.default.Links is not supported by Wharf");
        let ip =
            set(&["NetworkingConfig", "EndpointsConfig", "default", "IPAMConfig"], json!({"IPv4Address": "10.0.0.9"}));
        assert!(ip.is_none());
        // Honoured fields pass with values.
        assert!(set(&["HostConfig", "PidMode"], json!("host")).is_none());
        assert!(set(&["HostConfig", "MemorySwappiness"], json!(10)).is_none());
        assert!(check_create(&json!([1])).is_err());
    }

    #[test]
    fn build_options() {
        let pairs = |q: &str| -> Vec<(String, String)> {
            q.split('&').map(|kv| kv.split_once('=').unwrap_or((kv, ""))).map(|(k, v)| (k.into(), v.into())).collect()
        };
        // What `DOCKER_BUILDKIT=0 docker build -t x .` sends.
        let cli = "buildargs={}&cachefrom=[]&cgroupparent=&cpuperiod=0&cpuquota=0&cpusetcpus=&cpusetmems=&cpushares=0&dockerfile=Dockerfile&labels={}&memory=0&memswap=0&networkmode=default&rm=1&shmsize=0&t=x&target=&ulimits=null&version=1";
        check_build(&pairs(cli)).unwrap();
        for bad in [
            "extrahosts=h:1.2.3.4",
            "networkmode=host",
            "memory=1000000",
            "rm=0",
            "pull=1",
            "platform=linux/arm64",
            "squash=1",
        ] {
            let e = check_build(&pairs(bad)).unwrap_err();
            assert!(e.message.contains(bad.split('=').next().unwrap()), "{bad}: {}", e.message);
        }
    }
}

use super::*;

fn write_context(dir: &Path, name: &str, host: &str) {
    let digest = crate::fsutil::hex(&sha2::Sha256::digest(name.as_bytes()));
    let meta = dir.join("contexts/meta").join(digest);
    std::fs::create_dir_all(&meta).unwrap();
    let json = serde_json::json!({
        "Name": name,
        "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
    });
    std::fs::write(meta.join("meta.json"), json.to_string()).unwrap();
}

fn hosts(env: &DiscoveryEnv) -> Vec<(String, Origin)> {
    candidates(env)
        .unwrap()
        .into_iter()
        .map(|e| (e.host, e.origin))
        .collect()
}

#[test]
fn contexts_are_found_where_the_docker_cli_writes_them() {
    // `docker context create podman ...` writes contexts/meta/<sha256("podman")>/meta.json.
    let dir = tempfile::tempdir().unwrap();
    let meta = dir
        .path()
        .join("contexts/meta/2f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"podman","Metadata":{},"Endpoints":{"docker":{"Host":"unix:///p.sock","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
    let endpoint = context_endpoint(dir.path(), "podman").unwrap();
    assert_eq!(endpoint.host, "unix:///p.sock");
    assert_eq!(endpoint.transport(), Some(Transport::Unix));
}

#[test]
fn docker_host_wins_over_every_context() {
    let dir = tempfile::tempdir().unwrap();
    write_context(dir.path(), "remote", "tcp://10.0.0.1:2375");
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"currentContext": "remote"}"#,
    )
    .unwrap();
    let env = DiscoveryEnv {
        docker_host: Some("unix:///tmp/engine.sock".into()),
        docker_context: Some("remote".into()),
        docker_config: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    assert_eq!(
        hosts(&env),
        [("unix:///tmp/engine.sock".to_string(), Origin::DockerHost)]
    );
}

#[test]
fn docker_context_wins_over_the_current_context() {
    let dir = tempfile::tempdir().unwrap();
    write_context(dir.path(), "remote", "tcp://10.0.0.1:2375");
    write_context(
        dir.path(),
        "podman",
        "unix:///run/user/1000/podman/podman.sock",
    );
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"auths": {}, "currentContext": "remote"}"#,
    )
    .unwrap();
    let mut env = DiscoveryEnv {
        docker_context: Some("podman".into()),
        docker_config: Some(dir.path().to_path_buf()),
        xdg_runtime_dir: Some("/run/user/1000".into()),
        ..Default::default()
    };
    assert_eq!(
        hosts(&env),
        [(
            "unix:///run/user/1000/podman/podman.sock".to_string(),
            Origin::Context("podman".into())
        )]
    );
    // Without DOCKER_CONTEXT, the config's current context.
    env.docker_context = None;
    assert_eq!(
        hosts(&env),
        [(
            "tcp://10.0.0.1:2375".to_string(),
            Origin::Context("remote".into())
        )]
    );
}

#[test]
fn the_config_is_found_under_home_without_docker_config() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".docker");
    write_context(&dir, "colima", "unix:///home/u/.colima/docker.sock");
    std::fs::write(dir.join("config.json"), r#"{"currentContext": "colima"}"#).unwrap();
    let env = DiscoveryEnv {
        home: Some(home.path().to_path_buf()),
        ..Default::default()
    };
    assert_eq!(
        hosts(&env),
        [(
            "unix:///home/u/.colima/docker.sock".to_string(),
            Origin::Context("colima".into())
        )]
    );
}

#[test]
fn no_configuration_means_the_default_socket_then_podman() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = DiscoveryEnv {
        docker_config: Some(dir.path().to_path_buf()),
        xdg_runtime_dir: Some("/run/user/1000".into()),
        ..Default::default()
    };
    let expected = vec![
        (DEFAULT_SOCKET.to_string(), Origin::DefaultSocket),
        (PODMAN_ROOTFUL_SOCKET.to_string(), Origin::PodmanRootful),
        (
            "unix:///run/user/1000/podman/podman.sock".to_string(),
            Origin::PodmanRootless,
        ),
    ];
    assert_eq!(hosts(&env), expected);
    // The context named `default` is the same thing, whoever names it.
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"currentContext": "default"}"#,
    )
    .unwrap();
    assert_eq!(hosts(&env), expected);
    env.docker_context = Some("default".into());
    assert_eq!(hosts(&env), expected);
    // A config that is not JSON is ignored, as the Docker CLI does (with a warning).
    env.docker_context = None;
    std::fs::write(dir.path().join("config.json"), "{not json").unwrap();
    assert_eq!(hosts(&env), expected);
    // No XDG_RUNTIME_DIR: no rootless socket to guess.
    env.xdg_runtime_dir = None;
    assert_eq!(hosts(&env), expected[..2].to_vec());
    assert!(expected.iter().all(|(_, o)| !o.is_explicit()));
}

#[test]
fn a_named_context_that_does_not_exist_is_an_error_not_a_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let env = DiscoveryEnv {
        docker_context: Some("gone".into()),
        docker_config: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let err = candidates(&env).unwrap_err().to_string();
    assert!(
        err.contains("Docker context `gone`") && err.contains("no such context"),
        "{err}"
    );
    // A context without a Docker endpoint.
    let digest = crate::fsutil::hex(&sha2::Sha256::digest(b"k8s"));
    let meta = dir.path().join("contexts/meta").join(digest);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        r#"{"Name":"k8s","Endpoints":{"kubernetes":{}}}"#,
    )
    .unwrap();
    let env = DiscoveryEnv {
        docker_context: Some("k8s".into()),
        ..env
    };
    let err = candidates(&env).unwrap_err().to_string();
    assert!(err.contains("has no Endpoints.docker.Host"), "{err}");
}

#[test]
fn tls_is_chosen_as_the_docker_cli_chooses_it() {
    let home = tempfile::tempdir().unwrap();
    let mut env = DiscoveryEnv {
        docker_host: Some("tcp://docker:2376".into()),
        home: Some(home.path().to_path_buf()),
        ..Default::default()
    };
    let only = |env: &DiscoveryEnv| candidates(env).unwrap().remove(0);
    // tcp:// alone is plain HTTP.
    let plain = only(&env);
    assert_eq!((plain.transport(), plain.tls), (Some(Transport::Tcp), None));
    // DOCKER_TLS_VERIFY: the certificates of ~/.docker, or of DOCKER_CERT_PATH.
    env.docker_tls_verify = true;
    let tls = only(&env);
    assert_eq!(tls.transport(), Some(Transport::Tls));
    assert_eq!(
        tls.tls,
        Some(TlsMaterial {
            dir: home.path().join(".docker"),
            source: TlsSource::ConfigDir
        })
    );
    env.docker_cert_path = Some("/certs/client".into());
    let tls = only(&env);
    assert_eq!(
        tls.tls.as_ref().unwrap().ca(),
        Path::new("/certs/client/ca.pem")
    );
    assert!(tls.tls.unwrap().to_string().contains("DOCKER_CERT_PATH"));
    // TLS applies to tcp:// only.
    env.docker_host = Some("unix:///var/run/docker.sock".into());
    assert_eq!(only(&env).tls, None);
    env.docker_host = Some("ssh://me@farm".into());
    assert_eq!(only(&env).transport(), Some(Transport::Ssh));
    env.docker_host = Some("fd://3".into());
    assert_eq!(only(&env).transport(), None);
}

#[test]
fn a_context_with_tls_material_is_tls_and_skip_verify_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_context(dir.path(), "dind", "tcp://docker:2376");
    let env = DiscoveryEnv {
        docker_context: Some("dind".into()),
        docker_config: Some(dir.path().to_path_buf()),
        // Not the context's business: its own material wins.
        docker_cert_path: Some("/elsewhere".into()),
        docker_tls_verify: true,
        ..Default::default()
    };
    let endpoint = candidates(&env).unwrap().remove(0);
    assert_eq!(endpoint.transport(), Some(Transport::Tcp), "no TLS folder");
    // Where `docker context create dind --docker host=...,ca=,cert=,key=` puts them.
    let tls = dir
        .path()
        .join("contexts/tls")
        .join(crate::fsutil::hex(&sha2::Sha256::digest(b"dind")))
        .join("docker");
    std::fs::create_dir_all(&tls).unwrap();
    let endpoint = candidates(&env).unwrap().remove(0);
    assert_eq!(endpoint.transport(), Some(Transport::Tls));
    assert_eq!(
        endpoint.tls,
        Some(TlsMaterial {
            dir: tls,
            source: TlsSource::Context
        })
    );
    // SkipTLSVerify would trust any engine: refused, by name.
    let digest = crate::fsutil::hex(&sha2::Sha256::digest(b"dind"));
    let meta = dir
        .path()
        .join("contexts/meta")
        .join(digest)
        .join("meta.json");
    std::fs::write(
            &meta,
            r#"{"Name":"dind","Endpoints":{"docker":{"Host":"tcp://docker:2376","SkipTLSVerify":true}}}"#,
        )
        .unwrap();
    let err = candidates(&env).unwrap_err().to_string();
    assert!(err.contains("SkipTLSVerify"), "{err}");
}

#[test]
fn podmans_rlimit_refusal_is_recognised() {
    // What Podman 4.3 answers where root lacks CAP_SYS_RESOURCE.
    let refused = bollard::errors::Error::DockerResponseServerError {
        status_code: 500,
        message: "runc: runc create failed: unable to start container process: error during \
                      container init: error setting rlimits for ready process: error setting \
                      rlimit type 7: operation not permitted: OCI permission denied"
            .into(),
    };
    assert!(is_rlimit_error(&refused));
    let other = bollard::errors::Error::DockerResponseServerError {
        status_code: 500,
        message: "OCI runtime create failed: exec: \"nope\": executable file not found".into(),
    };
    assert!(!is_rlimit_error(&other));
}

#[test]
fn podman_is_told_from_docker_by_its_components() {
    let podman: bollard::models::SystemVersion = serde_json::from_str(
            r#"{"Platform":{"Name":"linux/amd64/debian-12"},
                "Components":[{"Name":"Podman Engine","Version":"4.3.1","Details":{"APIVersion":"4.3.1"}}],
                "Version":"4.3.1","ApiVersion":"1.41","MinAPIVersion":"1.24"}"#,
        )
        .unwrap();
    let info = EngineInfo::from_version(&podman, "1.41".into());
    assert_eq!(
        info,
        EngineInfo {
            name: "Podman".into(),
            version: "4.3.1".into(),
            api_version: "1.41".into(),
            transport: None,
            host: None,
        }
    );
    let docker: bollard::models::SystemVersion = serde_json::from_str(
            r#"{"Components":[{"Name":"Engine","Version":"20.10.24+dfsg1"},{"Name":"containerd","Version":"1.6.20"}],
                "Version":"20.10.24+dfsg1","ApiVersion":"1.41"}"#,
        )
        .unwrap();
    let info = EngineInfo::from_version(&docker, "1.41".into());
    assert_eq!(info.name, "Docker");
    assert_eq!(info.version, "20.10.24+dfsg1");
}

//! Which container engine to talk to, found the way the Docker CLI finds it: `DOCKER_HOST`, then
//! the context named by `DOCKER_CONTEXT` or by `currentContext` in the Docker config
//! (`$DOCKER_CONFIG/config.json`, default `~/.docker`), then the default socket. Only when that
//! implicit default does not answer are the Podman sockets tried (rootful `/run/podman/podman.sock`,
//! then rootless `$XDG_RUNTIME_DIR/podman/podman.sock`): an engine the user named is never swapped
//! for another one behind their back.
//!
//! How an endpoint is reached ([`Transport`]) is decided here too, as the Docker CLI decides it: a
//! `tcp://` host with `DOCKER_TLS_VERIFY` set (or a context that keeps TLS material under
//! `contexts/tls/<sha256 of the name>/docker/`) is TLS with the certificates of that folder;
//! `ssh://` is the user's `ssh` running `docker system dial-stdio` on the remote host.
//!
//! Also what the engine says about itself ([`EngineInfo`]), recorded in the `--json` reports.

use std::path::{Path, PathBuf};

use sha2::Digest;

use super::DockerError;

/// The Docker CLI's default socket.
pub const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";
/// Where rootful Podman serves the Docker API (`podman.socket`, or `podman system service`).
pub const PODMAN_ROOTFUL_SOCKET: &str = "unix:///run/podman/podman.sock";

/// Where an endpoint came from: it decides whether a silent socket may be skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `DOCKER_HOST`.
    DockerHost,
    /// A Docker context (by `DOCKER_CONTEXT` or the config's `currentContext`).
    Context(String),
    /// Nothing configured: the Docker CLI's default socket.
    DefaultSocket,
    /// Fallback after the default socket: rootful Podman.
    PodmanRootful,
    /// Fallback after the default socket: rootless Podman of the current user.
    PodmanRootless,
}

impl Origin {
    /// Whether the user chose this endpoint (then it is the only one tried).
    pub fn is_explicit(&self) -> bool {
        matches!(self, Origin::DockerHost | Origin::Context(_))
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::DockerHost => f.write_str("DOCKER_HOST"),
            Origin::Context(name) => write!(f, "Docker context `{name}`"),
            Origin::DefaultSocket => f.write_str("the default Docker socket"),
            Origin::PodmanRootful => f.write_str("the rootful Podman socket"),
            Origin::PodmanRootless => f.write_str("the rootless Podman socket"),
        }
    }
}

/// How the API requests travel to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A local socket (`unix://`).
    Unix,
    /// Plain HTTP over TCP (`tcp://` without TLS).
    Tcp,
    /// HTTPS with a client certificate (`tcp://` with `DOCKER_TLS_VERIFY`, or a context's TLS
    /// material).
    Tls,
    /// `ssh://`: HTTP over the standard streams of `ssh HOST docker system dial-stdio`.
    Ssh,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Unix => "unix",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Ssh => "ssh",
        })
    }
}

/// Where the TLS certificates of an endpoint come from, for the messages that name the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// `DOCKER_CERT_PATH`.
    CertPath,
    /// No `DOCKER_CERT_PATH`: the Docker config folder (`$DOCKER_CONFIG`, default `~/.docker`).
    ConfigDir,
    /// The context's own TLS material.
    Context,
}

/// The certificates of a TLS endpoint: `ca.pem` (the authority that signed the engine's
/// certificate), `cert.pem` and `key.pem` (the client's certificate and key), in `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    pub dir: PathBuf,
    pub source: TlsSource,
}

impl TlsMaterial {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }
}

impl std::fmt::Display for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = match self.source {
            TlsSource::CertPath => "DOCKER_CERT_PATH",
            TlsSource::ConfigDir => "the Docker config folder, DOCKER_CERT_PATH being unset",
            TlsSource::Context => "the context's TLS material",
        };
        write!(f, "`{}` ({from})", self.dir.display())
    }
}

/// One engine address to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///path`, `tcp://host:port`, `ssh://user@host:port`.
    pub host: String,
    pub origin: Origin,
    /// The certificates, for a TLS endpoint.
    pub tls: Option<TlsMaterial>,
}

impl Endpoint {
    fn plain(host: impl Into<String>, origin: Origin) -> Self {
        Self {
            host: host.into(),
            origin,
            tls: None,
        }
    }

    /// The socket path of a `unix://` endpoint.
    pub fn socket_path(&self) -> Option<&Path> {
        self.host.strip_prefix("unix://").map(Path::new)
    }

    /// How requests reach this endpoint; `None` for a scheme pixi-airgap does not speak.
    pub fn transport(&self) -> Option<Transport> {
        let scheme = self.host.split_once("://").map(|(scheme, _)| scheme)?;
        match scheme {
            "unix" => Some(Transport::Unix),
            "tcp" | "http" if self.tls.is_some() => Some(Transport::Tls),
            "tcp" | "http" => Some(Transport::Tcp),
            "ssh" => Some(Transport::Ssh),
            _ => None,
        }
    }
}

/// The parts of the environment discovery reads; a value rather than `std::env` so the order can
/// be tested without touching the process environment.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryEnv {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    /// `DOCKER_TLS_VERIFY`: any non-empty value turns TLS on for a `tcp://` `DOCKER_HOST`.
    pub docker_tls_verify: bool,
    /// `DOCKER_CERT_PATH`: where `ca.pem`, `cert.pem` and `key.pem` are (default: the config
    /// folder).
    pub docker_cert_path: Option<PathBuf>,
    /// `$DOCKER_CONFIG`: the folder holding `config.json` and `contexts/`.
    pub docker_config: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
}

impl DiscoveryEnv {
    pub fn from_process() -> Self {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            docker_tls_verify: var("DOCKER_TLS_VERIFY").is_some(),
            docker_cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
            docker_config: var("DOCKER_CONFIG").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
        }
    }

    /// The Docker CLI's configuration folder, when one can be named.
    fn config_dir(&self) -> Option<PathBuf> {
        self.docker_config
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".docker")))
    }
}

/// The endpoints to try, in order: one when the user named an engine (`DOCKER_HOST` or a
/// context), else the default socket followed by the Podman sockets.
pub fn candidates(env: &DiscoveryEnv) -> Result<Vec<Endpoint>, DockerError> {
    if let Some(host) = &env.docker_host {
        let mut endpoint = Endpoint::plain(host.clone(), Origin::DockerHost);
        if env.docker_tls_verify && endpoint.transport() == Some(Transport::Tcp) {
            // The Docker CLI's default for DOCKER_CERT_PATH is its config folder.
            endpoint.tls = match (&env.docker_cert_path, env.config_dir()) {
                (Some(dir), _) => Some(TlsMaterial {
                    dir: dir.clone(),
                    source: TlsSource::CertPath,
                }),
                (None, Some(dir)) => Some(TlsMaterial {
                    dir,
                    source: TlsSource::ConfigDir,
                }),
                (None, None) => {
                    return Err(DockerError::TlsMaterial {
                        host: host.clone(),
                        dir: "~/.docker".into(),
                        reason: "neither DOCKER_CERT_PATH, DOCKER_CONFIG nor HOME is set"
                            .to_string(),
                    })
                }
            };
        }
        return Ok(vec![endpoint]);
    }
    let context = env
        .docker_context
        .clone()
        .or_else(|| env.config_dir().and_then(|dir| current_context(&dir)));
    if let Some(name) = context.filter(|name| name != "default") {
        let dir = env.config_dir().ok_or_else(|| DockerError::Context {
            name: name.clone(),
            reason: "neither DOCKER_CONFIG nor HOME is set, so its metadata cannot be found"
                .to_string(),
        })?;
        return Ok(vec![context_endpoint(&dir, &name)?]);
    }
    let mut list = vec![
        Endpoint::plain(DEFAULT_SOCKET, Origin::DefaultSocket),
        Endpoint::plain(PODMAN_ROOTFUL_SOCKET, Origin::PodmanRootful),
    ];
    if let Some(runtime) = &env.xdg_runtime_dir {
        list.push(Endpoint::plain(
            format!("unix://{}", runtime.join("podman/podman.sock").display()),
            Origin::PodmanRootless,
        ));
    }
    Ok(list)
}

/// `currentContext` of `DIR/config.json`; a missing or unreadable config means none (the Docker
/// CLI warns and goes on the same way).
fn current_context(dir: &Path) -> Option<String> {
    let path = dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
        Err(err) => {
            tracing::warn!("ignoring the Docker config `{}`: {err}", path.display());
            return None;
        }
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(config) => config
            .get("currentContext")
            .and_then(|v| v.as_str())
            .filter(|name| !name.is_empty())
            .map(str::to_string),
        Err(err) => {
            tracing::warn!("ignoring the Docker config `{}`: {err}", path.display());
            None
        }
    }
}

/// The Docker endpoint of context `name`: `Endpoints.docker.Host` in
/// `DIR/contexts/meta/<sha256 of the name>/meta.json`, with TLS when the context keeps
/// certificates in `DIR/contexts/tls/<sha256 of the name>/docker/` (as `docker context create
/// NAME --docker host=tcp://...,ca=...,cert=...,key=...` stores them).
fn context_endpoint(dir: &Path, name: &str) -> Result<Endpoint, DockerError> {
    let digest = crate::fsutil::hex(&sha2::Sha256::digest(name.as_bytes()));
    let fail = |reason: String| DockerError::Context {
        name: name.to_string(),
        reason,
    };
    let (host, skip_verify) = context_host(dir, name, &digest)?;
    let mut endpoint = Endpoint::plain(host, Origin::Context(name.to_string()));
    let tls_dir = dir.join("contexts/tls").join(&digest).join("docker");
    if endpoint.transport() == Some(Transport::Tcp) && tls_dir.is_dir() {
        if skip_verify {
            return Err(fail(format!(
                "its endpoint {} has SkipTLSVerify set; pixi-airgap always verifies the engine's certificate",
                endpoint.host
            )));
        }
        endpoint.tls = Some(TlsMaterial {
            dir: tls_dir,
            source: TlsSource::Context,
        });
    }
    Ok(endpoint)
}

/// `Endpoints.docker.Host` and `Endpoints.docker.SkipTLSVerify` of context `name`.
fn context_host(dir: &Path, name: &str, digest: &str) -> Result<(String, bool), DockerError> {
    let path = dir.join("contexts/meta").join(digest).join("meta.json");
    let fail = |reason: String| DockerError::Context {
        name: name.to_string(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::NotFound {
            fail(format!("no such context (looked for `{}`)", path.display()))
        } else {
            fail(format!("cannot read `{}`: {err}", path.display()))
        }
    })?;
    let meta: serde_json::Value = serde_json::from_str(&text)
        .map_err(|err| fail(format!("`{}` is not valid JSON: {err}", path.display())))?;
    let host = meta
        .pointer("/Endpoints/docker/Host")
        .and_then(|v| v.as_str())
        .filter(|host| !host.is_empty())
        .map(str::to_string)
        .ok_or_else(|| fail(format!("`{}` has no Endpoints.docker.Host", path.display())))?;
    let skip_verify = meta
        .pointer("/Endpoints/docker/SkipTLSVerify")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    Ok((host, skip_verify))
}

/// What the engine says it is (the reports record it as [`crate::records::EngineRecord`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    /// `Docker` or `Podman`.
    pub name: String,
    /// The engine's own version (`27.3.1`, `4.3.1`).
    pub version: String,
    /// The API version both sides agreed on.
    pub api_version: String,
    /// How it was reached (`None` where it is not known).
    pub transport: Option<Transport>,
    /// The endpoint (`unix:///var/run/docker.sock`, `tcp://host:2376`, `ssh://user@host`).
    pub host: Option<String>,
}

impl EngineInfo {
    /// Reads the engine's `/version` answer; Podman names itself in its components.
    pub fn from_version(version: &bollard::models::SystemVersion, api_version: String) -> Self {
        let podman = version
            .components
            .iter()
            .flatten()
            .find(|c| c.name.to_ascii_lowercase().contains("podman"));
        let (name, engine_version) = match podman {
            Some(component) => ("Podman", Some(component.version.clone())),
            None => ("Docker", None),
        };
        Self {
            name: name.to_string(),
            version: version
                .version
                .clone()
                .or(engine_version)
                .unwrap_or_else(|| "unknown".to_string()),
            api_version,
            transport: None,
            host: None,
        }
    }
}

/// Whether an engine error is Podman's refusal to apply its default rlimits (root without
/// `CAP_SYS_RESOURCE`, as in many CI sandboxes).
pub fn is_rlimit_error(err: &bollard::errors::Error) -> bool {
    let text = err.to_string();
    text.contains("error setting rlimits") || text.contains("setrlimit")
}

#[cfg(test)]
mod tests {
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
}

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
mod tests;

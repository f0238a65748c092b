//! Failures at the engine's boundary: one [`DockerError`] variant per operation, and the hint each
//! gives the user.

use super::*;

/// Failures at the Docker boundary, one per operation.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach the Docker daemon at {host} (from {origin})")]
    Connect {
        host: String,
        origin: engine::Origin,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("cannot reach the Docker daemon at {host} over TLS (from {origin}; certificates read from {material})")]
    Tls {
        host: String,
        origin: engine::Origin,
        material: Box<engine::TlsMaterial>,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("cannot use the TLS certificates for {host} in `{}`: {reason}", dir.display())]
    TlsMaterial {
        host: String,
        dir: std::path::PathBuf,
        reason: String,
    },
    #[error("cannot reach the Docker daemon at {host} over SSH (from {origin}){}", ssh_said.as_deref().map(|s| format!(": ssh said: {s}")).unwrap_or_default())]
    Ssh {
        host: String,
        origin: engine::Origin,
        /// The last lines `ssh` wrote on its stderr, when it wrote any.
        ssh_said: Option<String>,
        #[source]
        source: Box<bollard::errors::Error>,
    },
    #[error("cannot use the engine address `{host}` (from {origin}): {reason}")]
    BadHost {
        host: String,
        origin: engine::Origin,
        reason: String,
    },
    #[error("no container engine answers (tried {tried})")]
    NoEngine { tried: String },
    #[error("permission denied on the engine socket {host} (from {origin})")]
    Permission {
        host: String,
        origin: engine::Origin,
    },
    #[error("cannot use Docker context `{name}`: {reason}")]
    Context { name: String, reason: String },
    #[error("image `{image}` is not present in the local Docker engine")]
    ImageNotFound { image: String },
    #[error("failed to inspect image `{image}`")]
    InspectImage {
        image: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to pull image `{image}`")]
    Pull {
        image: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to create a container from image `{image}`")]
    CreateContainer {
        image: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to start container {id}")]
    StartContainer {
        id: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to start container {id}: the engine may not set the containers' resource limits here (error setting rlimits)")]
    StartRlimits {
        id: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to inspect container {id}")]
    InspectContainer {
        id: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("container {id} is not running (state: {state})")]
    ContainerNotRunning { id: String, state: String },
    #[error("there is no container `{id}`")]
    NoSuchContainer { id: String },
    #[error("failed to remove container {id}")]
    RemoveContainer {
        id: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to run `{command}` in container {container}")]
    Exec {
        container: String,
        command: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to copy files into {container}:{path}")]
    Upload {
        container: String,
        path: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to copy {container}:{path} out of the container")]
    Download {
        container: String,
        path: String,
        #[source]
        source: BoxError,
    },
    #[error("failed to list containers")]
    ListContainers {
        #[source]
        source: bollard::errors::Error,
    },
    #[error("docker network operation on `{name}` failed")]
    Network {
        name: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("docker volume operation on `{name}` failed")]
    Volume {
        name: String,
        #[source]
        source: bollard::errors::Error,
    },
}

impl DockerError {
    /// What the user can do about it, printed after the error and its causes.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            DockerError::Connect { .. } => Some(
                "start Docker (or Podman's API service), or point DOCKER_HOST at a running engine",
            ),
            DockerError::Tls { .. } | DockerError::TlsMaterial { .. } => Some(
                "the engine's certificate must be signed by ca.pem, and cert.pem/key.pem must be a client certificate the engine accepts; the folder is DOCKER_CERT_PATH (default ~/.docker) for DOCKER_HOST with DOCKER_TLS_VERIFY, or contexts/tls/<sha256 of the name>/docker/ for a context (`docker context inspect NAME`)",
            ),
            DockerError::Ssh { .. } => Some(
                "`ssh HOST docker system dial-stdio` must work without a prompt (a key in ssh-agent or an unlocked key, a known host key; ~/.ssh/config applies), and the remote user must be allowed to run `docker`",
            ),
            DockerError::BadHost { .. } => Some(
                "DOCKER_HOST takes unix:///PATH, tcp://HOST:PORT (with DOCKER_TLS_VERIFY=1 for TLS) or ssh://[USER@]HOST[:PORT]",
            ),
            DockerError::NoEngine { .. } => Some(
                "start Docker, or Podman's API service (`systemctl --user start podman.socket` as your user, `systemctl start podman.socket` as root), or point DOCKER_HOST or DOCKER_CONTEXT at a running engine",
            ),
            DockerError::Permission { .. } => Some(
                "the engine runs, but this user may not use it: add the user to the `docker` group (`sudo usermod -aG docker $USER`, then log in again), or use rootless Podman (`systemctl --user start podman.socket`, then DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock)",
            ),
            DockerError::Context { .. } => Some(
                "`docker context ls` lists the contexts; unset DOCKER_CONTEXT or set DOCKER_HOST to choose another engine",
            ),
            DockerError::ImageNotFound { .. } => Some(
                "build or load it first (docker load / docker import), or let pixi-airgap pull it where a registry is reachable",
            ),
            DockerError::StartRlimits { .. } => Some(
                "Podman's default ulimits need CAP_SYS_RESOURCE, which sandboxes and CI runners often lack; start its service with a containers.conf holding `[containers]` `default_ulimits = [\"nofile=4096:4096\", \"nproc=4096:4096\"]` (CONTAINERS_CONF=FILE podman system service ...)",
            ),
            DockerError::ContainerNotRunning { .. } => Some(
                "start it first; pixi-airgap never starts or stops your containers",
            ),
            DockerError::NoSuchContainer { .. } => Some(
                "`docker ps` lists the running containers",
            ),
            _ => None,
        }
    }
}

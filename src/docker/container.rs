//! Containers we create: how they are made, and a guard that removes them.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};

use super::{Docker, DockerError, LABEL_MANAGED};

/// What to create. The main process only waits: all work happens through exec.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub image: String,
    pub labels: Vec<(String, String)>,
    /// Network mode: `None` = engine default (bridge), `Some("none")` = no network at all,
    /// anything else = the named network.
    pub network: Option<String>,
    /// DNS aliases on `network` (user-defined networks only).
    pub aliases: Vec<String>,
    /// The main process; default: a shell loop that sleeps until the container is removed.
    pub cmd: Option<Vec<String>>,
}

/// A container created by pixi-airgap. Call [`Container::remove`] when done; if it is dropped
/// without that (a panic, an early return), it is removed from a helper thread, unless kept.
pub struct Container {
    docker: Docker,
    id: String,
    keep: bool,
    removed: bool,
    /// False for the user's containers (`stage-container`): those are never stopped or removed.
    owned: bool,
}

impl Docker {
    /// Creates and starts a container for `spec`.
    pub async fn start_container(&self, spec: &ContainerSpec) -> Result<Container, DockerError> {
        let mut labels: HashMap<String, String> = spec.labels.iter().cloned().collect();
        labels.insert(LABEL_MANAGED.to_string(), "true".to_string());
        let networking_config = match (&spec.network, spec.aliases.is_empty()) {
            (Some(net), false) => Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    net.clone(),
                    EndpointSettings {
                        aliases: Some(spec.aliases.clone()),
                        ..Default::default()
                    },
                )])),
            }),
            _ => None,
        };
        let cmd = spec.cmd.clone().unwrap_or_else(|| {
            // A shell loop rather than `sleep infinity`: busybox-only images lack the latter.
            vec![
                "/bin/sh".to_string(),
                "-c".to_string(),
                "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done".to_string(),
            ]
        });
        let body = ContainerCreateBody {
            image: Some(self.local_name(&spec.image).await?),
            cmd: Some(cmd),
            entrypoint: Some(vec![]),
            labels: Some(labels),
            network_disabled: Some(spec.network.as_deref() == Some("none")),
            host_config: Some(HostConfig {
                network_mode: spec.network.clone(),
                ..Default::default()
            }),
            networking_config,
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().build();
        let created = self
            .raw()
            .create_container(Some(options), body)
            .await
            .map_err(|source| DockerError::CreateContainer {
                image: spec.image.clone(),
                source,
            })?;
        let container = Container {
            docker: self.clone(),
            id: created.id,
            keep: false,
            removed: false,
            owned: true,
        };
        self.raw()
            .start_container(&container.id, None)
            .await
            .map_err(|source| {
                let id = container.id.clone();
                if super::engine::is_rlimit_error(&source) {
                    DockerError::StartRlimits { id, source }
                } else {
                    DockerError::StartContainer { id, source }
                }
            })?;
        tracing::debug!(
            "started container {} from {}",
            container.short_id(),
            spec.image
        );
        Ok(container)
    }

    /// A handle on a running container that pixi-airgap does not own: it is never removed.
    pub async fn attach_container(&self, id: &str) -> Result<Container, DockerError> {
        let info = match self.inspect_settled(id).await {
            Ok(info) => info,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Err(DockerError::NoSuchContainer { id: id.to_string() }),
            Err(source) => {
                return Err(DockerError::InspectContainer {
                    id: id.to_string(),
                    source,
                })
            }
        };
        let state = info.state.as_ref();
        if state.and_then(|s| s.running) != Some(true) {
            let status = state
                .and_then(|s| s.status.as_ref())
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown".to_string());
            return Err(DockerError::ContainerNotRunning {
                id: id.to_string(),
                state: status,
            });
        }
        Ok(Container {
            docker: self.clone(),
            id: info.id.unwrap_or_else(|| id.to_string()),
            keep: true,
            removed: false,
            owned: false,
        })
    }

    /// Full inspection of any container (ours or the user's).
    pub async fn inspect_container(
        &self,
        id: &str,
    ) -> Result<bollard::models::ContainerInspectResponse, DockerError> {
        self.inspect_settled(id)
            .await
            .map_err(|source| DockerError::InspectContainer {
                id: id.to_string(),
                source,
            })
    }

    /// Inspects a container, waiting out Podman's transient `stopped` state (between the main
    /// process's exit and its cleanup), which is not a state of the Docker API and which the client
    /// cannot decode; it turns into `exited` within moments.
    async fn inspect_settled(
        &self,
        id: &str,
    ) -> Result<bollard::models::ContainerInspectResponse, bollard::errors::Error> {
        let mut attempts = 0;
        loop {
            match self.raw().inspect_container(id, None).await {
                Err(bollard::errors::Error::JsonDataError { message, .. })
                    if attempts < 100 && message.contains("unknown variant `stopped`") =>
                {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                other => return other,
            }
        }
    }

    /// Force-removes a container with its anonymous volumes.
    pub async fn remove_container(&self, id: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.raw().remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(source) => Err(DockerError::RemoveContainer {
                id: id.to_string(),
                source,
            }),
        }
    }
}

impl Container {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Leave the container in place when this guard goes away (`--keep-container`).
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Removes the container now (or, if kept, just says where it is).
    pub async fn remove(mut self) -> Result<(), DockerError> {
        self.removed = true;
        if !self.owned {
            return Ok(());
        }
        if self.keep {
            tracing::info!("keeping container {} (as asked)", self.short_id());
            return Ok(());
        }
        self.docker.remove_container(&self.id).await
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.removed || self.keep || !self.owned {
            return;
        }
        // Async cleanup cannot run in Drop; a short-lived thread with its own runtime can.
        let docker = self.docker.clone();
        let id = self.id.clone();
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => {
                    if let Err(err) = rt.block_on(docker.remove_container(&id)) {
                        tracing::warn!("could not remove container {id}: {err}");
                    }
                }
                Err(err) => tracing::warn!("could not remove container {id}: {err}"),
            }
        });
        let _ = handle.join();
    }
}

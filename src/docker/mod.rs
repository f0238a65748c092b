//! The one place that talks to the Docker Engine: a small wrapper around bollard with one method per
//! operation and one error variant per operation, so callers (and the exit-code mapping) can tell a
//! missing image from an unreachable daemon.
//!
//! Connection finds the engine the way the Docker CLI does, with Podman as a fallback (see
//! [`engine`]), and negotiates the API version down to what the engine speaks, so engines as old as
//! 20.10 (API 1.41) and Podman's Docker-compatible service work alongside current ones.

mod container;
pub mod engine;
mod exec;
mod ssh;
mod tls;
mod transport;

use std::collections::HashMap;

use bollard::query_parameters::{
    CreateImageOptionsBuilder, DownloadFromContainerOptionsBuilder, ListContainersOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};

pub use container::{max_life, Confinement, Container, ContainerSpec, DROPPED_CAPS, MAX_LIFE_VAR};
pub use engine::EngineInfo;
pub use exec::{
    exec_raw, ExecOutput, ExecSpec, LogLimit, MAX_LOG_BYTES_VAR, OUTPUT_TAIL_BYTES,
    STDOUT_LIMIT_BYTES,
};

mod error;
pub use error::*;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How long reaching the engine (version negotiation and ping) may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Label put on every container pixi-airgap creates, so they can be found and cleaned up.
pub const LABEL_MANAGED: &str = "io.pixi-airgap.managed";
/// Label naming the subcommand that created a container.
pub const LABEL_COMMAND: &str = "io.pixi-airgap.command";
/// Label with the host workdir a container works for (unique per run).
pub const LABEL_WORKDIR: &str = "io.pixi-airgap.workdir";
/// Label: when the container's main process ends by itself (its life limit; RFC 3339, UTC).
pub const LABEL_EXPIRES: &str = "io.pixi-airgap.expires";
/// Label: the ID of the image a container was created from. A container made from an image
/// committed from one of ours inherits our labels but runs another image: `clean` leaves it alone.
pub const LABEL_IMAGE_ID: &str = "io.pixi-airgap.image-id";

/// A container (or other object) ID as the engine's CLI shows it: its first 12 characters.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// A container or network found by its label.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
    /// A container's state (`running`, `exited`, ...); empty for networks.
    pub state: String,
    /// The ID of the image a container runs; `None` for networks and volumes.
    pub image_id: Option<String>,
}

/// An image: the name the user gave and what the engine says about it (the records write it as
/// [`crate::records::ImageRecord`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    pub name: Option<String>,
    /// The image ID (`sha256:...`, the digest of its configuration).
    pub id: Option<String>,
    /// Registry digests (`repo@sha256:...`), empty for images that were never pushed or pulled.
    pub repo_digests: Vec<String>,
}

/// A connected, version-negotiated Docker client.
#[derive(Clone)]
pub struct Docker {
    inner: bollard::Docker,
    engine: EngineInfo,
}

impl Docker {
    /// Connects to the engine the Docker CLI would use (`DOCKER_HOST`, `DOCKER_CONTEXT`, the
    /// config's current context, the default socket), or else to a Podman socket, and agrees on an
    /// API version with it.
    pub async fn connect() -> Result<Self, DockerError> {
        let endpoints = engine::candidates(&engine::DiscoveryEnv::from_process())?;
        let mut denied = None;
        let mut tried = Vec::new();
        for endpoint in endpoints {
            if let Some(path) = endpoint.socket_path() {
                // A plain connect tells "nothing there" from "not allowed" before any HTTP.
                match tokio::net::UnixStream::connect(path).await {
                    Ok(_) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
                        if endpoint.origin.is_explicit() {
                            return Err(DockerError::Permission {
                                host: endpoint.host,
                                origin: endpoint.origin,
                            });
                        }
                        tracing::debug!("{}: permission denied", endpoint.host);
                        tried.push(endpoint.host.clone());
                        denied.get_or_insert(endpoint);
                        continue;
                    }
                    // An engine the user named gets the full error from the client below.
                    Err(err) if !endpoint.origin.is_explicit() => {
                        tracing::debug!("{} ({}): {err}", endpoint.host, endpoint.origin);
                        tried.push(endpoint.host);
                        continue;
                    }
                    Err(_) => {}
                }
            }
            return Self::connect_to(endpoint).await;
        }
        match denied {
            Some(endpoint) => Err(DockerError::Permission {
                host: endpoint.host,
                origin: endpoint.origin,
            }),
            None => Err(DockerError::NoEngine {
                tried: tried.join(", "),
            }),
        }
    }

    async fn connect_to(endpoint: engine::Endpoint) -> Result<Self, DockerError> {
        let bad_host = |reason: String| DockerError::BadHost {
            host: endpoint.host.clone(),
            origin: endpoint.origin.clone(),
            reason,
        };
        let transport = endpoint.transport().ok_or_else(|| {
            bad_host("pixi-airgap speaks unix://, tcp:// (with or without TLS) and ssh://".into())
        })?;
        // The timeout given here is replaced below.
        let timeout = 120;
        let version = bollard::API_DEFAULT_VERSION;
        let mut ssh_log = None;
        let client = match (transport, &endpoint.tls) {
            (engine::Transport::Tls, Some(material)) => {
                let target = tls::TcpTarget::parse(&endpoint.host).map_err(bad_host)?;
                let material_err = |reason| DockerError::TlsMaterial {
                    host: endpoint.host.clone(),
                    dir: material.dir.clone(),
                    reason,
                };
                let config = tls::client_config(material).map_err(material_err)?;
                Ok(tls::client(&target, config).map_err(material_err)?)
            }
            (engine::Transport::Ssh, _) => {
                let target = ssh::SshTarget::parse(&endpoint.host).map_err(bad_host)?;
                ssh::client(target).map(|(client, log)| {
                    ssh_log = Some(log);
                    client
                })
            }
            (engine::Transport::Tcp, _) => {
                bollard::Docker::connect_with_http(&endpoint.host, timeout, version)
            }
            // `transport()` says TLS only when there is material: no TLS endpoint gets here.
            (engine::Transport::Unix, _) | (engine::Transport::Tls, None) => {
                bollard::Docker::connect_with_unix(&endpoint.host, timeout, version)
            }
        };
        // bollard's timeout covers a whole request up to the response headers, which for an
        // upload means the whole body: a large project or cache takes longer than any fixed
        // bound. Requests are not limited; only reaching the engine is.
        let reach = async {
            let client = client?.with_timeout(std::time::Duration::from_secs(7 * 24 * 3600));
            let client = client.negotiate_version().await?;
            client.ping().await?;
            let version = client.version().await?;
            Ok::<_, bollard::errors::Error>((client, version))
        };
        let reached = tokio::time::timeout(CONNECT_TIMEOUT, reach)
            .await
            .unwrap_or(Err(bollard::errors::Error::RequestTimeoutError));
        let (client, version) = match reached {
            Ok(reached) => reached,
            Err(source) => {
                return Err(match (&endpoint.tls, ssh_log) {
                    (Some(material), _) => DockerError::Tls {
                        host: endpoint.host.clone(),
                        origin: endpoint.origin.clone(),
                        material: Box::new(material.clone()),
                        source,
                    },
                    (None, Some(log)) => DockerError::Ssh {
                        host: endpoint.host.clone(),
                        origin: endpoint.origin.clone(),
                        ssh_said: log.last_words(std::time::Duration::from_secs(2)).await,
                        source: Box::new(source),
                    },
                    (None, None) => DockerError::Connect {
                        host: endpoint.host.clone(),
                        origin: endpoint.origin.clone(),
                        source,
                    },
                });
            }
        };
        let engine = EngineInfo {
            transport: Some(transport),
            host: Some(endpoint.host.clone()),
            ..EngineInfo::from_version(&version, client.client_version().to_string())
        };
        let message = format!(
            "using {} {} (API {}) at {} over {transport} (from {})",
            engine.name, engine.version, engine.api_version, endpoint.host, endpoint.origin
        );
        if matches!(
            endpoint.origin,
            engine::Origin::PodmanRootful | engine::Origin::PodmanRootless
        ) {
            // A fallback the user did not ask for: say so without -v.
            tracing::info!("{message}");
        } else {
            tracing::debug!("{message}");
        }
        Ok(Self {
            inner: client,
            engine,
        })
    }

    /// What the engine said about itself when we connected.
    pub fn engine(&self) -> &EngineInfo {
        &self.engine
    }

    /// The engine client underneath, for the calls of this crate's engine code that this module
    /// does not wrap (the watchdog's rename and inspect, exec's plumbing).
    pub(crate) fn raw(&self) -> &bollard::Docker {
        &self.inner
    }

    /// Looks an image up locally; `Ok(None)` when it is not there. Podman names local images
    /// `localhost/NAME:TAG`, Docker `NAME:TAG`: either spelling finds the image on either engine.
    pub async fn image(&self, image: &str) -> Result<Option<ImageInfo>, DockerError> {
        let mut found = self.inspect_image(image).await?;
        if found.is_none() {
            if let Some(other) = other_spelling(image) {
                found = self.inspect_image(&other).await?;
            }
        }
        // Recorded by the name the user gave, whichever spelling the engine knows.
        Ok(found.map(|record| ImageInfo {
            name: Some(image.to_string()),
            ..record
        }))
    }

    /// The name under which the engine knows `image` (see [`Docker::image`]); the name as given
    /// when neither spelling is there.
    pub async fn local_name(&self, image: &str) -> Result<String, DockerError> {
        if self.inspect_image(image).await?.is_none() {
            if let Some(other) = other_spelling(image) {
                if self.inspect_image(&other).await?.is_some() {
                    return Ok(other);
                }
            }
        }
        Ok(image.to_string())
    }

    async fn inspect_image(&self, image: &str) -> Result<Option<ImageInfo>, DockerError> {
        match self.inner.inspect_image(image).await {
            Ok(info) => Ok(Some(ImageInfo {
                name: Some(image.to_string()),
                id: Some(info.id.unwrap_or_default()),
                repo_digests: info.repo_digests.unwrap_or_default(),
            })),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(source) => Err(DockerError::InspectImage {
                image: image.to_string(),
                source,
            }),
        }
    }

    /// The image, which must be local; with `pull`, fetches it first when it is missing.
    pub async fn require_image(&self, image: &str, pull: bool) -> Result<ImageInfo, DockerError> {
        if let Some(info) = self.image(image).await? {
            return Ok(info);
        }
        if pull {
            tracing::info!("pulling image {image}");
            let options = CreateImageOptionsBuilder::default()
                .from_image(image)
                .build();
            self.inner
                .create_image(Some(options), None, None)
                .try_for_each(|_| async { Ok(()) })
                .await
                .map_err(|source| DockerError::Pull {
                    image: image.to_string(),
                    source,
                })?;
            if let Some(info) = self.image(image).await? {
                return Ok(info);
            }
        }
        Err(DockerError::ImageNotFound {
            image: image.to_string(),
        })
    }

    /// Containers (running or not) that carry the label `key`, with their labels.
    pub async fn labelled_containers(&self, key: &str) -> Result<Vec<Labelled>, DockerError> {
        let filters = HashMap::from([("label".to_string(), vec![key.to_string()])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .inner
            .list_containers(Some(options))
            .await
            .map_err(|source| DockerError::ListContainers { source })?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                Some(Labelled {
                    id: c.id?,
                    name: c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    labels: c.labels.unwrap_or_default(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                    image_id: c.image_id,
                })
            })
            .collect())
    }

    /// Networks that carry the label `key`, with their labels.
    pub async fn labelled_networks(&self, key: &str) -> Result<Vec<Labelled>, DockerError> {
        let filters = HashMap::from([("label".to_string(), vec![key.to_string()])]);
        let options = bollard::query_parameters::ListNetworksOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .inner
            .list_networks(Some(options))
            .await
            .map_err(|source| DockerError::Network {
                name: format!("label {key}"),
                source,
            })?;
        Ok(list
            .into_iter()
            .filter_map(|n| {
                Some(Labelled {
                    id: n.id?,
                    name: n.name.unwrap_or_default(),
                    labels: n.labels.unwrap_or_default(),
                    state: String::new(),
                    image_id: None,
                })
            })
            .collect())
    }

    /// Volumes carrying the label `key` that no container uses (the scratch volumes of our
    /// containers that outlived them).
    pub async fn dangling_labelled_volumes(&self, key: &str) -> Result<Vec<Labelled>, DockerError> {
        let filters = HashMap::from([
            ("label".to_string(), vec![key.to_string()]),
            ("dangling".to_string(), vec!["true".to_string()]),
        ]);
        let options = bollard::query_parameters::ListVolumesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .inner
            .list_volumes(Some(options))
            .await
            .map_err(|source| DockerError::Volume {
                name: format!("label {key}"),
                source,
            })?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| Labelled {
                id: v.name.clone(),
                name: v.name,
                labels: v.labels,
                state: String::new(),
                image_id: None,
            })
            .collect())
    }

    /// Removes a volume; one that is already gone is fine.
    pub async fn remove_volume(&self, name: &str) -> Result<(), DockerError> {
        match self
            .inner
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(source) => Err(DockerError::Volume {
                name: name.to_string(),
                source,
            }),
        }
    }

    /// Sends a tar stream to be unpacked at `path` (which must exist) in the container.
    pub async fn upload(
        &self,
        container: &str,
        path: &str,
        tar: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Result<(), DockerError> {
        let options = UploadToContainerOptionsBuilder::default()
            .path(path)
            .build();
        self.inner
            .upload_to_container(container, Some(options), bollard::body_try_stream(tar))
            .await
            .map_err(|source| DockerError::Upload {
                container: container.to_string(),
                path: path.to_string(),
                source,
            })
    }

    /// A tar stream of `path` in the container; its entries start with the basename of `path`.
    pub fn download(
        &self,
        container: &str,
        path: &str,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        // A failure of the engine's stream travels as an io::Error (what readers of a byte stream
        // understand) that wraps the typed DockerError, so the exit code still says "engine".
        let (container, path) = (container.to_string(), path.to_string());
        self.inner
            .download_from_container(&container, Some(options))
            .map(move |chunk| {
                chunk.map_err(|e| std::io::Error::other(download_error(&container, &path, e)))
            })
    }

    /// The content of one small file in a container (at most `limit` bytes are kept), or `None`
    /// when there is no such file. Uses the archive API: nothing needs to be installed in the
    /// container.
    pub async fn read_file(
        &self,
        container: &str,
        path: &str,
        limit: usize,
    ) -> Result<Option<Vec<u8>>, DockerError> {
        use std::io::Read;
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self.inner.download_from_container(container, Some(options));
        // The tar holds one small file; keep at most its header, `limit` bytes and padding.
        let mut tar = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    if tar.len() < limit + 64 * 1024 {
                        tar.extend_from_slice(&bytes);
                    }
                }
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(None),
                Err(source) => return Err(download_error(container, path, source)),
            }
        }
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries = archive
            .entries()
            .map_err(|e| download_error(container, path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| download_error(container, path, e))?;
            if entry.header().entry_type().is_file() {
                let mut content = Vec::new();
                entry
                    .take(limit as u64)
                    .read_to_end(&mut content)
                    .map_err(|e| download_error(container, path, e))?;
                return Ok(Some(content));
            }
        }
        Ok(None)
    }

    pub async fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        self.inner
            .remove_network(name)
            .await
            .map_err(|source| DockerError::Network {
                name: name.to_string(),
                source,
            })
    }
}

/// `localhost/NAME` for a name without a registry, `NAME` for `localhost/NAME`; `None` for names
/// with another registry or a digest reference.
fn other_spelling(image: &str) -> Option<String> {
    if image.contains('@') {
        return None;
    }
    if let Some(rest) = image.strip_prefix("localhost/") {
        return Some(rest.to_string());
    }
    // A first component with a dot or a port, or `localhost`, names a registry.
    let first = image.split('/').next().unwrap_or_default();
    let has_registry = image.contains('/') && (first.contains('.') || first.contains(':'));
    (!has_registry).then(|| format!("localhost/{image}"))
}

/// Makes a download error carry the operation it belongs to.
pub(crate) fn download_error(
    container: &str,
    path: &str,
    source: impl Into<BoxError>,
) -> DockerError {
    DockerError::Download {
        container: container.to_string(),
        path: path.to_string(),
        source: source.into(),
    }
}

#[cfg(test)]
mod tests;

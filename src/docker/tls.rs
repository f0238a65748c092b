//! `tcp://` engines over TLS, verified the way the Docker CLI verifies them with `--tlsverify`:
//! the engine's certificate must chain to `ca.pem` and to nothing else (not the system's
//! authorities), and must name the host of the address; `cert.pem` and `key.pem`, when present,
//! are the client certificate the engine asks for. Every file is read and parsed before the first
//! connection, so a missing or unreadable one is named with its folder rather than surfacing as
//! a failed handshake.
//!
//! Sessions are not resumed, as with the Docker CLI (Go's TLS keeps no session cache by default):
//! every connection is a full handshake. Some TLS fronts that check client certificates (OpenSSL
//! servers without a session ID context, socat among them) refuse a resumed handshake.

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::engine::TlsMaterial;
use super::transport::{self, Conn, Connect, Connecting};

/// The Docker CLI's port for a TLS engine named without one.
const DEFAULT_TLS_PORT: u16 = 2376;

/// Where a `tcp://host[:port]` address points: what to connect to, and the name the engine's
/// certificate must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpTarget {
    /// `host:port` (`[v6]:port`), as `TcpStream::connect` takes it.
    pub authority: String,
    /// The host alone, without brackets.
    pub host: String,
}

impl TcpTarget {
    pub fn parse(address: &str) -> Result<Self, String> {
        let rest = address
            .strip_prefix("tcp://")
            .or_else(|| address.strip_prefix("http://"))
            .or_else(|| address.strip_prefix("https://"))
            .ok_or_else(|| "not a tcp:// address".to_string())?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err("only tcp://HOST[:PORT] is supported".to_string());
        }
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| "an IPv6 address without its closing `]`".to_string())?;
            (host, after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err("the host is empty".to_string());
        }
        let port = match port {
            Some(port) => port
                .parse::<u16>()
                .map_err(|_| format!("`{port}` is not a port number"))?,
            None => DEFAULT_TLS_PORT,
        };
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Self {
            authority,
            host: host.to_string(),
        })
    }
}

/// Reads the certificates of `material` into a client configuration; the error says which file
/// and why.
pub fn client_config(material: &TlsMaterial) -> Result<rustls::ClientConfig, String> {
    if !material.dir.is_dir() {
        return Err(format!("the folder does not exist (read from {material})"));
    }
    let present = |path: &std::path::Path| -> Result<bool, String> {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => Ok(true),
            Ok(_) => Err(format!("`{}` is not a file", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(format!("cannot read `{}`: {err}", path.display())),
        }
    };
    let (ca, cert, key) = (material.ca(), material.cert(), material.key());
    if !present(&ca)? {
        return Err(
            "`ca.pem` is missing: TLS needs the authority that signed the engine's certificate"
                .to_string(),
        );
    }
    let certs = |path: &std::path::Path| -> Result<Vec<CertificateDer<'static>>, String> {
        let list = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|err| {
                format!(
                    "cannot read the certificates of `{}`: {err}",
                    path.display()
                )
            })?;
        if list.is_empty() {
            return Err(format!("`{}` holds no PEM certificate", path.display()));
        }
        Ok(list)
    };
    let mut roots = rustls::RootCertStore::empty();
    for authority in certs(&ca)? {
        roots
            .add(authority)
            .map_err(|err| format!("`{}` is not a usable CA certificate: {err}", ca.display()))?;
    }
    // ring builds with a C compiler alone (aws-lc-rs, rustls's default, needs cmake); rustls
    // deprecated it only for lacking post-quantum key exchange, which the Docker CLI's Go TLS
    // does not require of an engine either.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("no TLS version to offer: {err}"))?
        .with_root_certificates(roots);
    let mut config = match (present(&cert)?, present(&key)?) {
        (true, true) => {
            let key_der = PrivateKeyDer::from_pem_file(&key)
                .map_err(|err| format!("cannot read the private key `{}`: {err}", key.display()))?;
            builder
                .with_client_auth_cert(certs(&cert)?, key_der)
                .map_err(|err| {
                    format!(
                        "`{}` and `{}` are not a certificate and its key: {err}",
                        cert.display(),
                        key.display()
                    )
                })?
        }
        (false, false) => builder.with_no_client_auth(),
        (true, false) => return Err("`cert.pem` is there but `key.pem` is missing".to_string()),
        (false, true) => return Err("`key.pem` is there but `cert.pem` is missing".to_string()),
    };
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// Opens TLS connections to the engine.
#[derive(Clone)]
struct TlsConnector {
    authority: Arc<str>,
    server_name: ServerName<'static>,
    tls: tokio_rustls::TlsConnector,
}

impl Connect for TlsConnector {
    fn connect(&self) -> Connecting {
        let this = self.clone();
        Box::pin(async move {
            let tcp = tokio::net::TcpStream::connect(&*this.authority).await?;
            tcp.set_nodelay(true)?;
            let stream = this.tls.connect(this.server_name.clone(), tcp).await?;
            Ok(TokioIo::new(Conn::new(stream, None)))
        })
    }
}

/// A bollard client speaking HTTPS to `target` with `config`.
pub fn client(target: &TcpTarget, config: rustls::ClientConfig) -> Result<bollard::Docker, String> {
    let server_name = ServerName::try_from(target.host.clone()).map_err(|err| {
        format!(
            "`{}` cannot be checked against a certificate: {err}",
            target.host
        )
    })?;
    let connector = TlsConnector {
        authority: target.authority.as_str().into(),
        server_name,
        tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
    };
    transport::client(connector, &target.authority).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_addresses_parse_with_the_tls_default_port() {
        let t = TcpTarget::parse("tcp://docker:2376").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.host.as_str()),
            ("docker:2376", "docker")
        );
        let t = TcpTarget::parse("tcp://10.1.2.3/").unwrap();
        assert_eq!(t.authority, "10.1.2.3:2376");
        let t = TcpTarget::parse("tcp://[::1]:1234").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.host.as_str()),
            ("[::1]:1234", "::1")
        );
        for bad in [
            "tcp://",
            "tcp://h:port",
            "tcp://h:1/path",
            "unix:///x",
            "tcp://u@h:1",
        ] {
            assert!(TcpTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_or_unpaired_files_are_named_before_any_connection() {
        let dir = tempfile::tempdir().unwrap();
        let material = TlsMaterial {
            dir: dir.path().join("certs"),
            source: crate::docker::engine::TlsSource::CertPath,
        };
        let err = client_config(&material).unwrap_err();
        assert!(
            err.contains("does not exist") && err.contains("DOCKER_CERT_PATH"),
            "{err}"
        );
        std::fs::create_dir(&material.dir).unwrap();
        let err = client_config(&material).unwrap_err();
        assert!(err.contains("`ca.pem` is missing"), "{err}");
        std::fs::write(material.ca(), "not a certificate\n").unwrap();
        let err = client_config(&material).unwrap_err();
        assert!(err.contains("holds no PEM certificate"), "{err}");
    }
}

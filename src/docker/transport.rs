//! The connections of the remote transports (TLS and SSH): a byte stream per HTTP connection,
//! made by a connector, carried by hyper's pooled client and handed to bollard as its custom
//! transport. The local socket and plain TCP use bollard's own clients.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What a connection reads from and writes to.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// One connection to the engine, with what must live as long as it (the `ssh` child).
pub struct Conn {
    io: Box<dyn Io>,
    /// Dropped with the connection (an `ssh` child is killed then: `kill_on_drop`).
    _keep: Option<tokio::process::Child>,
}

impl Conn {
    pub fn new(io: impl Io + 'static, keep: Option<tokio::process::Child>) -> Self {
        Self {
            io: Box::new(io),
            _keep: keep,
        }
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The future a connector returns.
pub type Connecting = Pin<Box<dyn Future<Output = std::io::Result<TokioIo<Conn>>> + Send>>;

/// Makes one connection to the engine per call.
pub trait Connect: Clone + Send + Sync + 'static {
    fn connect(&self) -> Connecting;
}

/// Adapts a [`Connect`] to the connector interface of hyper's client (the URI is ignored: the
/// connector knows where the engine is).
#[derive(Clone)]
struct Connector<C>(C);

impl<C: Connect> tower_service::Service<hyper::Uri> for Connector<C> {
    type Response = TokioIo<Conn>;
    type Error = std::io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        self.0.connect()
    }
}

/// A bollard client whose connections `connector` makes; `authority` fills the Host header.
pub fn client(
    connector: impl Connect,
    authority: &str,
) -> Result<bollard::Docker, bollard::errors::Error> {
    let client = Arc::new(
        hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .build(Connector(connector)),
    );
    let transport = move |request: bollard::BollardRequest| {
        let client = client.clone();
        async move {
            client
                .request(request)
                .await
                .map_err(bollard::errors::Error::from)
        }
    };
    // The timeout given here is replaced by the caller's.
    bollard::Docker::connect_with_custom_transport(
        transport,
        Some(format!("http://{authority}")),
        120,
        bollard::API_DEFAULT_VERSION,
    )
}

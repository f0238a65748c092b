//! Bridges between blocking tar code and async byte streams. Both directions go through bounded
//! buffers, so memory stays at a few chunks whatever the size of the tree:
//!
//! - [`tar_stream`]: a tar written on a blocking thread into a bounded channel, read as a stream
//!   (an upload body). A failure while writing ends the stream with an error, so the upload
//!   fails, and the typed cause is kept aside in its [`Failure`].
//! - [`read_blocking`]: a byte stream (a download) read by blocking code as it arrives.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use anyhow::Context as _;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::write::{write_tar, Owner, TarEntry};

/// Entries for [`tar_stream`], produced as the tar is written (a lazy walk, the manifest's
/// records): the tar thread holds one entry at a time, never the whole list.
pub type Entries = Box<dyn Iterator<Item = anyhow::Result<TarEntry>> + Send>;

/// Bytes per chunk sent to the consumer.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the tar thread and the consumer.
const CHUNKS_IN_FLIGHT: usize = 8;

/// A byte stream that can be moved to another thread.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Makes a (non-`Unpin`) stream usable where a [`ByteStream`] is expected.
pub fn boxed<S>(stream: S) -> ByteStream
where
    S: Stream<Item = io::Result<Bytes>> + Send + 'static,
{
    stream.boxed()
}

/// Where the writer of a [`TarStream`] leaves its error: the stream itself can only carry an
/// `io::Error` to the consumer, which would lose the cause (an unreadable file, an interruption).
#[derive(Debug, Clone, Default)]
pub struct Failure(Arc<Mutex<Option<anyhow::Error>>>);

impl Failure {
    /// The writer's error, if it failed (other than because the consumer went away).
    pub fn take(&self) -> Option<anyhow::Error> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }

    fn set(&self, err: anyhow::Error) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(err);
        }
    }
}

/// A tar being written on a blocking thread, as a byte stream.
pub struct TarStream {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    failure: Failure,
}

impl TarStream {
    /// A handle on the writer's error; check it when the consumer of the stream failed.
    pub fn failure(&self) -> Failure {
        self.failure.clone()
    }
}

impl Stream for TarStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// A tar of `entries` as a byte stream, produced on a blocking thread while it is consumed.
pub fn tar_stream(entries: Entries, owner: Owner) -> TarStream {
    let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    let failure = Failure::default();
    let slot = failure.clone();
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result =
            write_tar(entries, owner, writer).and_then(|mut w| w.flush().map_err(Into::into));
        if let Err(err) = result {
            // A closed channel means the consumer stopped first; its error is the one to report.
            if !tx.is_closed() {
                let message = format!("the tar could not be written: {err:#}");
                slot.set(err);
                let _ = tx.blocking_send(Err(io::Error::other(message)));
            }
        }
    });
    TarStream { rx, failure }
}

/// A `Write` that sends fixed-size chunks into a bounded channel (blocking when it is full).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload was closed"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send_buf()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buf()
    }
}

/// Runs `read` on a blocking thread over `stream`, which it reads as the bytes arrive.
pub async fn read_blocking<T, F>(stream: ByteStream, read: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce(Box<dyn Read + Send>) -> anyhow::Result<T> + Send + 'static,
{
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    tokio::task::spawn_blocking(move || read(Box::new(reader)))
        .await
        .context("the tar thread failed")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_round_trips_and_a_failure_keeps_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "x".repeat(3 * CHUNK)).unwrap();
        let entries = crate::tar::write::plan_tree(dir.path(), std::path::Path::new("t")).unwrap();
        let expected = write_tar(
            crate::tar::write::planned(entries.clone()),
            Owner::ROOT,
            Vec::new(),
        )
        .unwrap();
        let stream = boxed(tar_stream(
            Box::new(crate::tar::write::planned(entries.clone())),
            Owner::ROOT,
        ));
        let got = read_blocking(stream, |mut r| {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf)?;
            Ok(buf)
        })
        .await
        .unwrap();
        assert_eq!(got, expected);

        std::fs::remove_file(dir.path().join("a")).unwrap();
        let stream = tar_stream(Box::new(crate::tar::write::planned(entries)), Owner::ROOT);
        let failure = stream.failure();
        let items: Vec<_> = stream.collect().await;
        assert!(items.last().unwrap().is_err());
        let err = failure.take().expect("the writer's error is kept");
        let io = err.root_cause().downcast_ref::<io::Error>().unwrap();
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
    }
}

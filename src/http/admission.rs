//! A cap on open connections. Under a load the core cannot keep up with, every connection
//! accepted holds buffers and a half-done request: without a cap jitbot's memory grows with the
//! queue (hundreds of MiB). With it, connections beyond the cap wait in the kernel's accept queue
//! and the work in hand stays bounded.
//!
//! Written here because axum has no connection limit of its own (its `Listener` trait is the
//! documented extension point) and the crates that add one are not maintained.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// At most this many connections are open at once. Slack and the Bot Framework keep a few
/// connections each; 512 is far more than they use, and under overload (about 40 KiB each with
/// a request in hand) keeps jitbot within its 64 MiB.
pub const MAX_CONNECTIONS: usize = 512;

/// A listener that accepts a connection only while fewer than its limit are open.
pub struct Admission {
    listener: TcpListener,
    open: Arc<Semaphore>,
}

impl Admission {
    pub fn new(listener: TcpListener, limit: usize) -> Admission {
        Admission {
            listener,
            open: Arc::new(Semaphore::new(limit)),
        }
    }
}

impl axum::serve::Listener for Admission {
    type Io = Admitted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Admitted, SocketAddr) {
        let permit = self
            .open
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (stream, peer) = axum::serve::Listener::accept(&mut self.listener).await;
        (
            Admitted {
                stream,
                _permit: permit,
            },
            peer,
        )
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// An accepted connection, holding its place under the cap until it is closed.
pub struct Admitted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl Admitted {
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.stream.set_nodelay(nodelay)
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::serve::Listener;

    use super::*;

    #[tokio::test]
    async fn a_connection_beyond_the_cap_waits_until_one_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut admission = Admission::new(listener, 2);
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(address).await.unwrap());
        }
        let first = admission.accept().await.0;
        let _second = admission.accept().await.0;
        let third = tokio::time::timeout(Duration::from_millis(200), admission.accept()).await;
        assert!(
            third.is_err(),
            "a third connection was accepted under a cap of two"
        );
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), admission.accept()).await;
        assert!(
            third.is_ok(),
            "the waiting connection was not accepted once one closed"
        );
    }
}

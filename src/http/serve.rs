//! The accept loop: HTTP/1.1 only, with a bound on how long a connection may take to send its
//! headers, under the cap on open connections ([`Admission`]).
//!
//! Hand-written on hyper because `axum::serve` exposes neither a timer nor the protocol: it
//! installs no header-read timeout, so a connection that sends nothing would hold one of the
//! capped places for ever, and it accepts cleartext HTTP/2, where one connection carries hundreds
//! of concurrent requests and the cap no longer bounds the work in hand. Slack and the Bot
//! Framework speak HTTP/1.1 to webhooks.

use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_io_timeout::TimeoutStream;
use tokio_util::sync::CancellationToken;

use super::admission::{Admission, MAX_CONNECTIONS};

/// A connection must have sent a request's whole header block within this long of starting it —
/// of opening, or of the previous response on a kept-alive connection — or it is closed. Slack
/// and the Bot Framework send theirs at once; 10 s leaves room for a slow network.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection whose writes make no progress for this long is closed: a client that sends
/// requests and never reads the answers fills the socket's buffers, and hyper, which has no
/// write timeout of its own, would wait for ever holding one of the capped places. A slow reader
/// that keeps reading is never cut off: each bit written starts the clock again.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(15);

/// After a shutdown is asked for, connections get this long to finish the requests in hand. Longer
/// than [`super::REQUEST_TIMEOUT`], so that every request already read is answered; shorter than
/// the 30 s a container platform waits before killing.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// How connections are bounded. Tests shorten the times; jitbot runs with [`Default`].
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// At most this many connections are open at once.
    pub max_open: usize,
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`WRITE_STALL_TIMEOUT`].
    pub write_stall_timeout: Duration,
    /// See [`DRAIN_TIMEOUT`].
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_open: MAX_CONNECTIONS,
            header_read_timeout: HEADER_READ_TIMEOUT,
            write_stall_timeout: WRITE_STALL_TIMEOUT,
            drain_timeout: DRAIN_TIMEOUT,
        }
    }
}

/// Serves `router` on `listener` until `shutdown`; then stops accepting, lets the requests in hand
/// finish and returns once every connection is closed, or after [`ConnectionLimits::drain_timeout`]
/// with the rest dropped. Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let mut admission = Admission::new(listener, limits.max_open);
    let mut http = http1::Builder::new();
    // The timer also closes a kept-alive connection that sends no next request within the time:
    // hyper starts the header read (and its timeout) as soon as a response is written.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut connections = JoinSet::new();
    loop {
        // Accept errors (out of file descriptors, say) are waited out inside `accept`.
        let (stream, peer) = tokio::select! {
            accepted = admission.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        // Finished connections are reaped here, so the set holds only the open ones.
        while connections.try_join_next().is_some() {}
        // Acks are small writes answered at once: no waiting to fill a segment.
        let _ = stream.set_nodelay(true);
        // The peer's address goes into every request as `ConnectInfo` (Teams' trial mode asks it).
        let router = TowerToHyperService::new(router.clone());
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.call(request)
        });
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.write_stall_timeout));
        let connection = http.serve_connection(TokioIo::new(Box::pin(stream)), service);
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let closed = tokio::select! {
                closed = connection.as_mut() => closed,
                () = shutdown.cancelled() => {
                    // Idle connections close now; one with a request in hand after answering it.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = closed {
                // The client's doing (a header timeout, an HTTP/2 preface, a reset): not ours to warn of.
                tracing::debug!(%peer, %error, "connection closed on an error");
            }
        });
    }
    // No new connections: the kernel refuses them instead of queueing them for nobody.
    drop(admission);
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "connections still open after the shutdown grace period are dropped"
        );
    }
}

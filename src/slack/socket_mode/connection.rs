//! One Socket Mode connection: acknowledges each envelope as soon as it is handled, keeps the
//! connection alive, and says how it ended so that `run` knows whether and when to reconnect.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::envelope::{self, Frame};
use super::redelivery::{self, Answered, Delivery};
use crate::app::App;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Slack's envelopes are a few KiB, like its HTTP requests; anything much larger is not from it.
const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// We ping this often; a connection that has said nothing for `SILENT_FOR` is taken for dead
/// (a dropped network path shows no error until something is sent).
const PING_EVERY: Duration = Duration::from_secs(15);
const SILENT_FOR: Duration = Duration::from_secs(45);
/// Acknowledgements waiting to be written: envelopes are handled concurrently.
const PENDING_ACKS: usize = 64;

/// How a connection ended.
#[derive(Debug)]
pub enum Ended {
    /// jitbot is shutting down.
    Shutdown,
    /// Slack sent `disconnect`: it wants a new connection.
    Refresh(String),
    /// The connection broke; `was_up` when Slack had said `hello` on it.
    Dropped { reason: String, was_up: bool },
}

/// Connects to `url` and serves the connection until it ends.
pub async fn serve(
    app: &App,
    url: &str,
    answered: &Arc<Answered>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Ended> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let connect = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
    // The error never names the URL: its ticket is a credential.
    let (socket, _) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .context("the Socket Mode connection did not open in time")?
        .context("opening the Socket Mode connection")?;
    let (mut sink, mut stream) = socket.split();
    let (acks, mut pending) = mpsc::channel::<String>(PENDING_ACKS);
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut heard_at = Instant::now();
    let mut was_up = false;
    let dropped = |reason: String, was_up| Ok(Ended::Dropped { reason, was_up });
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                // Best effort: Slack notices a vanished client anyway.
                let _ = sink.send(Message::Close(None)).await;
                return Ok(Ended::Shutdown);
            }
            Some(ack) = pending.recv() => {
                if let Err(error) = sink.send(Message::text(ack)).await {
                    return dropped(format!("could not acknowledge: {error}"), was_up);
                }
            }
            _ = ping.tick() => {
                if heard_at.elapsed() > SILENT_FOR {
                    return dropped("Slack stopped answering".into(), was_up);
                }
                if let Err(error) = sink.send(Message::Ping(Default::default())).await {
                    return dropped(format!("could not ping: {error}"), was_up);
                }
            }
            frame = stream.next() => {
                heard_at = Instant::now();
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None => {
                        return dropped("Slack closed the connection".into(), was_up);
                    }
                    // Pings are answered by tungstenite itself; pongs only show that Slack is there.
                    Some(Ok(_)) => continue,
                    Some(Err(error)) => return dropped(error.to_string(), was_up),
                };
                match envelope::read(&text) {
                    Frame::Hello => {
                        was_up = true;
                        tracing::info!("Slack Socket Mode: connected");
                    }
                    Frame::Disconnect(reason) => return Ok(Ended::Refresh(reason)),
                    Frame::Envelope(envelope) => answer(app, envelope, answered, acks.clone()),
                    Frame::Unreadable(reason) => {
                        tracing::warn!(reason, "Slack Socket Mode: ignored a frame");
                    }
                }
            }
        }
    }
}

/// Handles an envelope in a task of its own, so that a slow one does not hold up the others;
/// its acknowledgement goes back through `acks`. One delivered before gets the acknowledgement
/// its first delivery got, without being handled again.
fn answer(
    app: &App,
    envelope: envelope::Envelope,
    answered: &Answered,
    acks: mpsc::Sender<String>,
) {
    let span = tracing::info_span!(
        "slack_socket",
        envelope = envelope.kind(),
        request_id = tracing::field::Empty,
    );
    let app = app.clone();
    let delivery = answered.deliver(envelope.id());
    tokio::spawn(
        async move {
            let ack = match delivery {
                Delivery::First(answer) => {
                    let ack = envelope.answer(&app).await;
                    answer.send_replace(Some(ack.clone()));
                    ack
                }
                Delivery::Again(first) => {
                    tracing::info!(
                        attempt = ?envelope.retry_attempt(),
                        "Slack Socket Mode: an envelope delivered again gets its first answer"
                    );
                    match redelivery::acknowledgement(first).await {
                        Some(ack) => ack,
                        None => return,
                    }
                }
            };
            // Fails only when the connection has ended; Slack then sends the envelope again.
            let _ = acks.send(ack).await;
        }
        .instrument(span),
    );
}

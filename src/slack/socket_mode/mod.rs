//! Slack Socket Mode: with `SLACK_APP_TOKEN`, jitbot connects out to Slack and takes commands,
//! clicks and form submissions over a WebSocket, so it needs no public endpoint.
//!
//! Hand-written on tokio-tungstenite rather than slack-morphism's `SlackClientSocketModeListener`
//! (2.31), which can be pointed at a fake (`with_slack_api_url`, and it connects to the `ws://`
//! URL it is given) but falls short where jitbot needs it to:
//! - an envelope whose payload does not parse is acknowledged without a payload: the person gets
//!   no answer, where jitbot must say what was wrong (as the HTTP endpoints do with a 400);
//! - it logs the WebSocket URL, whose `ticket` authenticates the connection, when a connection
//!   fails (`error!`) or opens (`debug!`), and every frame it receives at `debug!`;
//! - payloads come typed by the crate (`SlackCommandEvent`), not as Slack sent them, so the HTTP
//!   and Socket Mode paths could not share one parser and one handler.
//!
//! The protocol itself is small: `apps.connections.open` → WebSocket → `hello`, envelopes each
//! acknowledged with `{"envelope_id", "payload"}`, and `disconnect` when Slack wants a new one.
//! An envelope Slack delivers again is answered once (`redelivery`).

mod connection;
mod envelope;
mod open;
mod redelivery;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::secrets::Secret;
use connection::Ended;
use redelivery::Answered;

/// The first retry after a failure comes quickly; each further one waits twice as long.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LONGEST_WAIT: Duration = Duration::from_secs(30);

/// Starts Socket Mode when `SLACK_APP_TOKEN` is set: a task that stays connected until `shutdown`.
pub fn spawn(app: &App, shutdown: &CancellationToken) -> Option<JoinHandle<()>> {
    let token = app.secrets.slack_app_token.clone()?;
    Some(tokio::spawn(run(app.clone(), token, shutdown.clone())))
}

/// Connects, serves the connection until it ends, and connects again, until `shutdown`.
async fn run(app: App, token: Secret, shutdown: CancellationToken) {
    tracing::info!("Slack Socket Mode: connecting to Slack (SLACK_APP_TOKEN is set)");
    let mut failures: u32 = 0;
    // Kept across connections: Slack delivers again on a new one what the last one dropped.
    let answered = Arc::new(Answered::default());
    while !shutdown.is_cancelled() {
        let served = async {
            let url = open::connection_url(&app.config.slack.api_url, &token).await?;
            connection::serve(&app, &url, &answered, &shutdown).await
        };
        match served.await {
            Ok(Ended::Shutdown) => break,
            Ok(Ended::Refresh(reason)) => {
                // Slack asked for a new connection (it rotates them every few hours): at once.
                tracing::info!(reason, "Slack Socket Mode: Slack asked to reconnect");
                failures = 0;
                continue;
            }
            Ok(Ended::Dropped { reason, was_up }) => {
                tracing::warn!(
                    reason,
                    "Slack Socket Mode: the connection dropped; reconnecting"
                );
                if was_up {
                    failures = 0;
                }
            }
            Err(error) => tracing::error!(
                error = format!("{error:#}"),
                "Slack Socket Mode: could not connect; retrying"
            ),
        }
        failures = failures.saturating_add(1);
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(backoff(failures)) => {}
        }
    }
    tracing::info!("Slack Socket Mode: stopped");
}

/// How long to wait after `failures` failures in a row.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(LONGEST_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_come_quickly_then_slow_down_to_a_limit() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(5), Duration::from_secs(4));
        assert_eq!(backoff(9), LONGEST_WAIT);
        assert_eq!(backoff(u32::MAX), LONGEST_WAIT);
    }
}

//! The flows after the ack, timed end to end through the fakes: command → approval card,
//! Approve click → card updated → grant at the provider, and due time → revocation.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::fake_provider::FakeProvider;
use crate::fake_slack::FakeSlack;
use crate::load::Sample;
use crate::pacer;
use crate::slack_client::{SlackClient, user};
use crate::stats::Latencies;

/// Waits (up to `limit`) until every acked request of `samples` has its card; returns command
/// (scheduled time) → card latencies and how many cards never came.
pub async fn cards_for(
    slack: &FakeSlack,
    samples: &[Sample],
    limit: Duration,
) -> (Latencies, usize) {
    let deadline = Instant::now() + limit;
    let ids: Vec<(Instant, i64)> = samples
        .iter()
        .filter_map(|s| Some((s.scheduled, s.request_id?)))
        .collect();
    loop {
        let missing = ids
            .iter()
            .filter(|(_, id)| slack.card(*id).posted.is_none())
            .count();
        if missing == 0 || Instant::now() >= deadline {
            let latencies = ids
                .iter()
                .filter_map(|(sent, id)| Some(slack.card(*id).posted? - *sent));
            return (Latencies::from_durations(latencies), missing);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the approval flow measured.
pub struct Approvals {
    pub to_card: Latencies,
    pub click_to_approved: Latencies,
    pub click_to_granted: Latencies,
    pub failed: usize,
}

/// `count` requests at `rate` a second, each approved as soon as its card arrives.
pub async fn approvals(
    client: &SlackClient,
    slack: &FakeSlack,
    provider: &FakeProvider,
    count: u64,
    rate: u32,
) -> Approvals {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let (client, slack, provider) = (client.clone(), slack.clone(), provider.clone());
    let tasks = pacer::at_their_times(Instant::now(), period, count, move |n, scheduled| {
        let (client, slack, provider) = (client.clone(), slack.clone(), provider.clone());
        async move {
            one_approval(&client, &slack, &provider, &user("APPROVE", n), scheduled).await
        }
    })
    .await;
    let (mut to_card, mut to_approved, mut to_granted, mut failed) = (vec![], vec![], vec![], 0);
    for task in tasks {
        match task.await {
            Ok(Some((card, approved, granted))) => {
                to_card.push(card);
                to_approved.push(approved);
                to_granted.push(granted);
            }
            _ => failed += 1,
        }
    }
    Approvals {
        to_card: Latencies::from_durations(to_card),
        click_to_approved: Latencies::from_durations(to_approved),
        click_to_granted: Latencies::from_durations(to_granted),
        failed,
    }
}

async fn one_approval(
    client: &SlackClient,
    slack: &FakeSlack,
    provider: &FakeProvider,
    user: &str,
    scheduled: Instant,
) -> Option<(Duration, Duration, Duration)> {
    let id = client
        .command(user, "request bench 1h bench approval")
        .await
        .ok()?
        .request_id?;
    let card = wait(|| slack.card(id).posted).await?;
    let clicked = Instant::now();
    let clicked_at = Utc::now();
    if client.approve(id).await.ok()? != 200 {
        return None;
    }
    let approved = wait(|| slack.card(id).decided).await?;
    let granted = wait(|| {
        provider
            .accepted("grant")
            .iter()
            .find(|d| d.request_id == id)
            .map(|d| d.at)
    })
    .await?;
    let to_granted = (granted - clicked_at).to_std().unwrap_or_default();
    Some((card - scheduled, approved - clicked, to_granted))
}

/// Polls every millisecond for up to 20 s.
async fn wait<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(found) = probe() {
            return Some(found);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// Waits (up to `limit` after `due_at`) until every request of `due` was revoked at the
/// provider; returns the lag (accepted revocation − due time) and how many were not revoked.
pub async fn revocations(
    provider: &FakeProvider,
    due: &[i64],
    due_at: DateTime<Utc>,
    limit: Duration,
) -> (Latencies, usize) {
    let deadline = due_at + chrono::Duration::from_std(limit).unwrap_or_default();
    let wanted: std::collections::HashSet<i64> = due.iter().copied().collect();
    loop {
        let revoked = provider.accepted("revoke");
        let mut first: std::collections::HashMap<i64, DateTime<Utc>> = Default::default();
        for d in revoked.iter().filter(|d| wanted.contains(&d.request_id)) {
            first.entry(d.request_id).or_insert(d.at);
        }
        if first.len() == wanted.len() || Utc::now() >= deadline {
            let lags = first
                .values()
                .map(|at| (*at - due_at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
            return (Latencies::from_ms(lags), wanted.len() - first.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

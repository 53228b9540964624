//! Load: open loop at a fixed rate (every request has a scheduled send time and its latency is
//! counted from it, so a server that stalls is charged for the queue it builds), and a closed
//! loop at fixed concurrency for the throughput at saturation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::pacer;
use crate::slack_client::{SlackClient, user};

/// What happened to one request of an open-loop run.
#[derive(Debug, Clone)]
pub struct Sample {
    pub scheduled: Instant,
    pub latency: Duration,
    pub ok: bool,
    /// How late the request left the load generator: its own lag, not the server's.
    pub sent_late: Duration,
    pub request_id: Option<i64>,
}

/// Sends `rate` commands a second for `secs`, each from a new user; waits for every answer.
pub async fn open_loop(
    client: &SlackClient,
    run: &str,
    rate: u32,
    secs: f64,
    text: &str,
) -> Vec<Sample> {
    let total = (f64::from(rate) * secs).round() as u64;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let start = Instant::now() + Duration::from_millis(20);
    let (client, run, text) = (client.clone(), run.to_string(), text.to_string());
    let tasks = pacer::at_their_times(start, period, total, move |n, scheduled| {
        let (client, user, text) = (client.clone(), user(&run, n), text.clone());
        async move {
            let sent_late = scheduled.elapsed();
            let ack = client.command(&user, &text).await;
            let latency = scheduled.elapsed();
            let (ok, request_id) = match ack {
                Ok(ack) => (ack.status == 200, ack.request_id),
                Err(_) => (false, None),
            };
            Sample {
                scheduled,
                latency,
                ok,
                sent_late,
                request_id,
            }
        }
    })
    .await;
    let mut samples = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(sample) = task.await {
            samples.push(sample);
        }
    }
    samples
}

/// `concurrency` clients sending back to back for `secs`: answered (200) commands a second.
pub async fn saturation(
    client: &SlackClient,
    run: &str,
    concurrency: usize,
    secs: f64,
    text: &str,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, done, next, run, text) = (
                client.clone(),
                done.clone(),
                next.clone(),
                run.to_string(),
                text.to_string(),
            );
            tokio::spawn(async move {
                while Instant::now() < until {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if client
                        .command(&user(&run, n), &text)
                        .await
                        .is_ok_and(|a| a.status == 200)
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

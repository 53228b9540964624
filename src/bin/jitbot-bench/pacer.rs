//! Starting each request of an open loop at its scheduled time.
//!
//! Tokio's timer fires on a tick of one millisecond, so a request sent from `sleep_until` left
//! up to a millisecond after its time, and how late depended on where the run's start fell
//! between two ticks: 0.2–0.95 ms at p50 from one run to the next at 1 000/s, counted in every
//! latency, the floor's as much as jitbot's. A thread of its own sleeps to each time with the
//! system's timer (tens of microseconds late) and starts the request on the runtime.

use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// Starts `request(n, scheduled)` on the current runtime at `start + n × period`, for `n` in
/// `0..count`; returns the started tasks once the last has started.
pub async fn at_their_times<T, F>(
    start: Instant,
    period: Duration,
    count: u64,
    request: impl Fn(u64, Instant) -> F + Send + 'static,
) -> Vec<JoinHandle<T>>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let runtime = Handle::current();
    let pacer = tokio::task::spawn_blocking(move || {
        (0..count)
            .map(|n| {
                let scheduled = start + period * n as u32;
                let now = Instant::now();
                if scheduled > now {
                    std::thread::sleep(scheduled - now);
                }
                runtime.spawn(request(n, scheduled))
            })
            .collect()
    });
    pacer.await.expect("the pacer does not panic")
}

//! Metrics: what an operator watches, in one explicit registry served at `GET /metrics`
//! (Prometheus / OpenMetrics text). Counters move as the lifecycle runs; the gauges read the
//! database at each scrape, so they are right after a restart too.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// One label, such as `outcome="submitted"`.
type Label = [(&'static str, &'static str); 1];

pub struct Metrics {
    registry: Registry,
    requests: Family<Label, Counter>,
    decisions: Family<Label, Counter>,
    decision_seconds: Histogram,
    revocation_lag_seconds: Histogram,
    job_retries: Family<Label, Counter>,
    jobs_given_up: Family<Label, Counter>,
    active_grants: Gauge,
    jobs_queued: Gauge,
    oldest_due_job_seconds: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("jitbot");
        let requests = Family::default();
        let decisions = Family::default();
        // From a second to about three days.
        let decision_seconds = Histogram::new(exponential_buckets(1.0, 3.0, 12));
        // From 10 ms to about 3 minutes: the target is under a second.
        let revocation_lag_seconds = Histogram::new(exponential_buckets(0.01, 2.5, 12));
        let job_retries = Family::default();
        let jobs_given_up = Family::default();
        let (active_grants, jobs_queued, oldest_due_job_seconds) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register(
            "requests",
            "Requests made, by outcome (submitted, refused)",
            requests.clone(),
        );
        registry.register(
            "decisions",
            "Decisions that settled a request, by verdict",
            decisions.clone(),
        );
        registry.register(
            "decision_seconds",
            "Time from a request to the decision that settled it",
            decision_seconds.clone(),
        );
        registry.register(
            "revocation_lag_seconds",
            "How late access was removed after its end (actual minus due)",
            revocation_lag_seconds.clone(),
        );
        registry.register("job_retries", "Failed job attempts to be retried, by job kind (grant, revoke: the provider; the rest: chat and directory APIs)", job_retries.clone());
        registry.register(
            "jobs_given_up",
            "Jobs given up after their last attempt, by job kind",
            jobs_given_up.clone(),
        );
        registry.register(
            "active_grants",
            "Requests whose access is active now",
            active_grants.clone(),
        );
        registry.register(
            "jobs_queued",
            "Jobs waiting in the queue",
            jobs_queued.clone(),
        );
        registry.register(
            "oldest_due_job_seconds",
            "How long the oldest due job has waited (0 when none is due)",
            oldest_due_job_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            decisions,
            decision_seconds,
            revocation_lag_seconds,
            job_retries,
            jobs_given_up,
            active_grants,
            jobs_queued,
            oldest_due_job_seconds,
        }
    }

    pub fn request(&self, outcome: &'static str) {
        self.requests.get_or_create(&[("outcome", outcome)]).inc();
    }

    /// A decision that settled a request, `waited` after the request was made.
    pub fn decision(&self, verdict: &'static str, waited: chrono::Duration) {
        self.decisions.get_or_create(&[("verdict", verdict)]).inc();
        self.decision_seconds.observe(seconds(waited));
    }

    /// Access removed `late` after its end.
    pub fn revoked(&self, late: chrono::Duration) {
        self.revocation_lag_seconds.observe(seconds(late));
    }

    pub fn job_retry(&self, kind: &'static str) {
        self.job_retries.get_or_create(&[("job", kind)]).inc();
    }

    pub fn job_given_up(&self, kind: &'static str) {
        self.jobs_given_up.get_or_create(&[("job", kind)]).inc();
    }

    /// The text exposition, with the gauges read now.
    pub fn render(&self, now: Gauges) -> String {
        self.active_grants.set(now.active_grants);
        self.jobs_queued.set(now.jobs_queued);
        self.oldest_due_job_seconds.set(now.oldest_due_job_seconds);
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// What the gauges show, read from the database at a scrape.
pub struct Gauges {
    pub active_grants: i64,
    pub jobs_queued: i64,
    pub oldest_due_job_seconds: i64,
}

fn seconds(duration: chrono::Duration) -> f64 {
    duration.num_milliseconds().max(0) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_moved() {
        let metrics = Metrics::new();
        metrics.request("submitted");
        metrics.decision("approve", chrono::Duration::seconds(90));
        let text = metrics.render(Gauges {
            active_grants: 3,
            jobs_queued: 5,
            oldest_due_job_seconds: 0,
        });
        assert!(
            text.contains("jitbot_requests_total{outcome=\"submitted\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("jitbot_decisions_total{verdict=\"approve\"} 1"),
            "{text}"
        );
        assert!(text.contains("jitbot_active_grants 3"), "{text}");
        assert!(text.contains("jitbot_decision_seconds_count 1"), "{text}");
    }
}

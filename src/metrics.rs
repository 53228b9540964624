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
/// `service` and `kind` of a failed call to another system.
type ApiErrorLabels = [(&'static str, &'static str); 2];

/// Failed calls to the systems jitbot talks to, by `service` (graph, slack, teams, webhook, and
/// token: the token endpoint that Graph's and the Bot Connector's tokens come from) and
/// `kind` (timeout, connect, throttled, http_4xx, http_5xx, api). Each client holds a clone and
/// counts where its calls fail; a client built without one (the command line) counts nowhere.
#[derive(Clone, Default)]
pub struct ApiErrors(Family<ApiErrorLabels, Counter>);

impl ApiErrors {
    pub fn count(&self, service: &'static str, kind: ApiErrorKind) {
        self.0
            .get_or_create(&[("service", service), ("kind", kind.as_str())])
            .inc();
    }
}

/// How a call failed, as an operator sorts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// No answer in time.
    Timeout,
    /// No connection (refused, DNS, TLS).
    Connect,
    /// Told to slow down (429, or 503/504 and Slack's rate limits).
    Throttled,
    Http4xx,
    Http5xx,
    /// A well-formed answer saying no (Slack's `ok: false`).
    Api,
}

impl ApiErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Throttled => "throttled",
            Self::Http4xx => "http_4xx",
            Self::Http5xx => "http_5xx",
            Self::Api => "api",
        }
    }

    /// The kind of an answer that was not a success.
    pub fn of_status(status: u16) -> Self {
        match status {
            429 | 503 | 504 => Self::Throttled,
            500.. => Self::Http5xx,
            _ => Self::Http4xx,
        }
    }

    /// The kind of a call that got no answer.
    pub fn of_send(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else if let Some(status) = error.status() {
            Self::of_status(status.as_u16())
        } else {
            Self::Connect
        }
    }
}

pub struct Metrics {
    registry: Registry,
    requests: Family<Label, Counter>,
    decisions: Family<Label, Counter>,
    decision_seconds: Histogram,
    revocation_lag_seconds: Histogram,
    job_retries: Family<Label, Counter>,
    jobs_given_up: Family<Label, Counter>,
    stand_in_jobs: Counter,
    ends_held: Counter,
    core_offers: Counter,
    scheduler_stopped: Gauge,
    api_errors: ApiErrors,
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
        let stand_in_jobs = Counter::default();
        let ends_held = Counter::default();
        let core_offers = Counter::default();
        let scheduler_stopped = Gauge::default();
        let api_errors = ApiErrors::default();
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
            "scheduler_stand_in_jobs",
            "Due jobs run by the threads that answer people because the scheduler's thread got no CPU (the core was busy)",
            stand_in_jobs.clone(),
        );
        registry.register(
            "revocation_ends_held",
            "Ends of revocations left waiting, with their jobs, while the scheduler started the revocations still due (many grants ending together)",
            ends_held.clone(),
        );
        registry.register(
            "scheduler_core_offers",
            "Times the scheduler's thread, having run 200 µs without a break, offered the core to the threads that answer people",
            core_offers.clone(),
        );
        registry.register(
            "scheduler_stopped",
            "1 once the scheduler's thread has stopped on a panic: the threads that answer people run the due jobs in its stead (revocations at once, the rest 50 requests a second) until jitbot is restarted",
            scheduler_stopped.clone(),
        );
        registry.register(
            "api_errors",
            "Failed calls to other systems, by service (graph, slack, teams, webhook) and kind (timeout, connect, throttled, http_4xx, http_5xx, api)",
            api_errors.0.clone(),
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
            "How long the oldest due job not running yet has waited (0 when none is due)",
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
            stand_in_jobs,
            ends_held,
            core_offers,
            scheduler_stopped,
            api_errors,
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

    /// The counter the outbound clients share.
    pub fn api_errors(&self) -> ApiErrors {
        self.api_errors.clone()
    }

    pub fn job_retry(&self, kind: &'static str) {
        self.job_retries.get_or_create(&[("job", kind)]).inc();
    }

    pub fn job_given_up(&self, kind: &'static str) {
        self.jobs_given_up.get_or_create(&[("job", kind)]).inc();
    }

    /// `jobs` run in the scheduler's stead (`scheduler::stand_in`).
    pub fn jobs_run_standing_in(&self, jobs: usize) {
        self.stand_in_jobs.inc_by(jobs as u64);
    }

    /// A revocation's end left waiting while revocations start (`access::ends`).
    pub fn end_held(&self) {
        self.ends_held.inc();
    }

    /// Where the scheduler's thread counts its offers of the core (`background::giving_way`).
    pub fn core_offers(&self) -> Counter {
        self.core_offers.clone()
    }

    /// The scheduler's thread stopped on a panic (`scheduler::run_apart`); `/healthz` says so too.
    pub fn scheduler_stopped(&self) {
        self.scheduler_stopped.set(1);
    }

    pub fn is_scheduler_stopped(&self) -> bool {
        self.scheduler_stopped.get() != 0
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

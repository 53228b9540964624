//! When the scheduler's thread gets no CPU, the threads that answer people run its jobs.
//!
//! The scheduler's thread runs at `SCHED_IDLE` (`background`): while the core stays busy, with a
//! flood of requests (even unsigned ones, each refused) or another busy process, it gets a
//! burst of the core after each wake-up and a third of a percent of it otherwise. Enough to
//! claim due jobs and start a few, not to run a backlog. So the jobs never depend on it alone:
//!
//! - the requests whose jobs it claimed wait in [`Unstarted`] until one of its workers starts
//!   them; those that have waited [`UNSTARTED`], a stand-in on the runtime that answers people
//!   takes over, worker's permit and all;
//! - its runtime beats every [`BEAT`]; once no beat has come for [`SILENCE`], the stand-in
//!   claims and runs due jobs itself (revocations first, on workers of its own), and lends the
//!   scheduler's thread the core for a moment at each look ([`LEND`]), to finish the jobs it
//!   had started.
//!
//! A request with a revocation among its jobs, or due behind them, is taken over as soon as it
//! waits; the others at most [`OTHERS_PER_SECOND`] a second. The core is busy when the
//! stand-in runs, and a backlog of checks and cards run on people's threads took it from the
//! acks: at 3 000 requests a second their p99 went from 4 ms to 20–50 ms. Paced, the backlog
//! waits for the scheduler's thread, as it would without a stand-in, yet never for ever.
//!
//! The threads that answer people run at the process's priority: against a flood or another
//! process they get their share of the core, and the jobs a share of theirs. A claim takes its
//! jobs in one transaction, under a lease, and a claimed request is handed over through one
//! lock, so no two runners hold a job at once; as anywhere, a job that outlives its lease (5
//! minutes) may be claimed again, which a scheduler's thread starved that long would risk.
//! The stand-in also frees the claims a stopped process left, before anyone claims.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::access::Core;
use crate::store;
use crate::store::jobs::{JobRow, StartedRevocation};

/// How often the scheduler's runtime beats while it gets the CPU.
const BEAT: Duration = Duration::from_millis(20);
/// How often the stand-in looks.
const LOOK: Duration = Duration::from_millis(25);
/// How long a claimed request may wait for the scheduler's thread to start it. It starts them
/// as soon as it has claimed them, unless the core is taken.
const UNSTARTED: Duration = Duration::from_millis(100);
/// How long without a beat before the stand-in claims and runs due jobs itself: far longer than
/// the scheduler's thread waits for the core while people's requests are answered at any rate
/// short of saturation (5 ms at most at 3 000/s, `perf sched`).
const SILENCE: Duration = Duration::from_millis(250);
/// While the scheduler's thread is silent, the stand-in blocks its own thread this long at each
/// look, a twelfth of the core: the jobs that thread had started before it lost the core
/// finish on it, and only there.
const LEND: Duration = Duration::from_millis(2);
/// Workers of the stand-in's own, for the jobs it claims (at most the scheduler's `BATCH` at
/// once): with a hung provider, claims stop here rather than pile up.
const WORKERS: usize = 256;
/// At most how many requests with no revocation due the stand-in takes over a second (each
/// taken from the scheduler's thread, or a job it claims), a few at once. An allowance not
/// used at once is lost: while the stand-in runs, more is due than it allows.
const OTHERS_PER_SECOND: NonZeroU32 = NonZeroU32::new(50).expect("not zero");
const OTHERS_AT_ONCE: NonZeroU32 = NonZeroU32::new(5).expect("not zero");

/// The pace of the stand-in's other jobs: a maintained token bucket.
type Pace = governor::DefaultDirectRateLimiter;

fn others_quota() -> governor::Quota {
    governor::Quota::per_second(OTHERS_PER_SECOND).allow_burst(OTHERS_AT_ONCE)
}

fn others_pace() -> Pace {
    Pace::direct(others_quota())
}

/// What the scheduler shares with its stand-in.
pub struct StandIn {
    pub heartbeat: Arc<Heartbeat>,
    pub unstarted: Arc<Unstarted>,
    /// True once the claims of the last run are freed: the scheduler claims nothing before.
    pub released: watch::Sender<bool>,
}

impl StandIn {
    pub fn new() -> Arc<StandIn> {
        Arc::new(StandIn {
            heartbeat: Heartbeat::new(),
            unstarted: Arc::new(Unstarted::default()),
            released: watch::Sender::new(false),
        })
    }

    /// Frees the claims the last run left, then stands in for the scheduler's thread, on the
    /// calling runtime, until `shutdown`; then finishes the jobs in hand.
    pub async fn run(self: Arc<StandIn>, core: Core, shutdown: CancellationToken) {
        release_all(&core).await;
        self.released.send_replace(true);
        let workers = Arc::new(Semaphore::new(WORKERS));
        let others = others_pace();
        let mut running = JoinSet::new();
        let mut standing_in = false;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(LOOK) => {}
                _ = shutdown.cancelled() => break,
            }
            while running.try_join_next().is_some() {}
            // A request whose notice the scheduler's thread claimed may have its revocation
            // due behind it: it is taken over at once too, not at the others' pace.
            let revoking = revoking(&core, &self.unstarted.others_waiting(UNSTARTED));
            let taken = self.unstarted.take_waiting(UNSTARTED, |request| {
                request.is_some_and(|id| revoking.contains(&id)) || others.check().is_ok()
            });
            let silence = self.heartbeat.silence();
            let silent = silence >= SILENCE;
            if taken.is_empty() && !silent {
                if standing_in {
                    tracing::info!("the scheduler's thread has the CPU again");
                    standing_in = false;
                }
                continue;
            }
            if !standing_in {
                tracing::warn!(
                    silent_ms = silence.as_millis(),
                    requests = taken.len(),
                    "the scheduler's thread gets no CPU (the core is busy): its jobs run on the \
                     threads that answer people until it does"
                );
                standing_in = true;
            }
            for claimed in taken {
                running.spawn(run_claimed(core.clone(), claimed, self.unstarted.clone()));
            }
            if silent {
                if core.ends.any_to_record() {
                    // The ends of revocations the scheduler's thread held, once the hold
                    // lapsed: it records them when it gets the CPU.
                    let core = core.clone();
                    running.spawn(async move { core.ends.record_unless_held(&core).await });
                }
                // Idle for a moment, the core goes to the scheduler's thread if it is waiting
                // here. A thread at `SCHED_IDLE` cannot be raised; this is the one way to give
                // it the core while people's requests keep coming.
                std::thread::sleep(LEND);
                self.claim_and_run(&core, &workers, &others, &mut running)
                    .await;
            }
        }
        while running.join_next().await.is_some() {}
        core.ends.release();
        core.ends.record_unless_held(&core).await;
    }

    /// Claims due jobs for the stand-in's free workers, revocations first and the others as
    /// their pace allows, and starts them.
    async fn claim_and_run(
        &self,
        core: &Core,
        workers: &Arc<Semaphore>,
        others: &Pace,
        running: &mut JoinSet<()>,
    ) {
        let free = workers.available_permits().min(super::BATCH as usize);
        let now = Utc::now();
        if free == 0 || !due_at(core, now) {
            return;
        }
        // Whatever the claim does not use of the allowance is lost: while the stand-in runs,
        // more is due than it allows.
        let allowed = (0..free).take_while(|_| others.check().is_ok()).count();
        let claimed = store::write(&core.db, |tx| {
            store::jobs::claim_revocations_and(tx, now, super::LEASE, free as i64, allowed as i64)
        });
        let claimed = match claimed.await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::error!(%error, "could not claim due jobs in the scheduler's stead");
                return;
            }
        };
        let mut groups = super::by_request(claimed);
        super::start_revocations(core, &mut groups, now).await;
        for rows in groups {
            // As many groups as jobs claimed at most, and as many permits free: only this
            // task takes them.
            let Ok(permit) = workers.clone().try_acquire_owned() else {
                break;
            };
            let claimed = Claimed::new(rows, now, permit);
            running.spawn(run_claimed(core.clone(), claimed, self.unstarted.clone()));
        }
    }
}

/// Frees every claim: at start, those of a process that is gone (one process per database).
async fn release_all(core: &Core) {
    match store::write(&core.db, |tx| store::jobs::release_all(tx)).await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "released jobs claimed before the last stop"),
        Err(error) => tracing::error!(%error, "could not release stale job claims"),
    }
}

/// Which of `requests` have a revocation due that nobody holds; none when that cannot be read
/// (they then go at the others' pace).
fn revoking(core: &Core, requests: &[i64]) -> HashSet<i64> {
    if requests.is_empty() {
        return HashSet::new();
    }
    let read = core.db.read();
    let revoking = read.and_then(|db| store::jobs::revoking(&db, requests, Utc::now()));
    revoking.unwrap_or_else(|error| {
        tracing::warn!(%error, "could not read which waiting requests have a revocation due");
        HashSet::new()
    })
}

/// Whether a job nobody holds is due at `now`; true when that cannot be read (a claim finds
/// out). Read first, so that a silent scheduler with nothing due costs no write every look.
fn due_at(core: &Core, now: DateTime<Utc>) -> bool {
    let next_due = core.db.read().and_then(|db| store::jobs::next_due(&db));
    next_due.map_or(true, |due| due.is_some_and(|due| due <= now))
}

/// Runs a request's claimed jobs, deletes those finished as soon as they are, and gives the
/// worker back.
async fn run_claimed(core: Core, claimed: Claimed, unstarted: Arc<Unstarted>) {
    let mut done = Vec::new();
    super::run_request(&core, claimed.rows, claimed.now, |id| done.push(id)).await;
    super::complete(&core, &done).await;
    core.metrics.jobs_run_standing_in(done.len());
    drop(claimed.permit);
    unstarted.freed.notify_one();
}

/// A request's jobs claimed by the scheduler, with the worker's permit they hold.
pub struct Claimed {
    pub rows: Vec<JobRow>,
    /// The time of the pass that claimed them, at which they run (`run_request`).
    pub now: DateTime<Utc>,
    pub permit: OwnedSemaphorePermit,
    since: Instant,
    /// Whether a revocation is among them: read once, not at every look.
    revokes: bool,
}

impl Claimed {
    fn new(rows: Vec<JobRow>, now: DateTime<Utc>, permit: OwnedSemaphorePermit) -> Claimed {
        let revokes = rows.iter().any(super::is_revocation);
        Claimed {
            rows,
            now,
            permit,
            since: Instant::now(),
            revokes,
        }
    }
}

/// Claimed requests not started yet, by ticket (in the order they were claimed).
#[derive(Default)]
pub struct Unstarted {
    claimed: Mutex<BTreeMap<u64, Claimed>>,
    next: AtomicU64,
    /// Told each time a worker's permit is given back.
    pub freed: Notify,
}

impl Unstarted {
    /// Puts a request's claimed jobs here until a worker starts them; returns their ticket.
    pub fn put(&self, rows: Vec<JobRow>, now: DateTime<Utc>, permit: OwnedSemaphorePermit) -> u64 {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        let claimed = Claimed::new(rows, now, permit);
        self.lock().insert(ticket, claimed);
        ticket
    }

    /// Gives each revocation started together to its request's claimed jobs, if still here
    /// (taken over, a `Revoke` job starts its revocation itself).
    pub fn hand_over(&self, mut started: HashMap<i64, Box<StartedRevocation>>) {
        if started.is_empty() {
            return;
        }
        for claimed in self.lock().values_mut() {
            if let Some(first) = claimed.rows.first_mut()
                && let Some(revocation) = first.request_id.and_then(|id| started.remove(&id))
            {
                first.started = Some(revocation);
            }
        }
    }

    /// The claimed jobs of `ticket`, unless the stand-in took them.
    pub fn take(&self, ticket: u64) -> Option<Claimed> {
        self.lock().remove(&ticket)
    }

    /// The requests of those that have waited `wait` or longer with no revocation among their
    /// claimed jobs.
    fn others_waiting(&self, wait: Duration) -> Vec<i64> {
        let claimed = self.lock();
        let waited = claimed
            .values()
            .take_while(|jobs| jobs.since.elapsed() >= wait);
        let others = waited.filter(|jobs| !jobs.revokes);
        others
            .filter_map(|jobs| jobs.rows.first()?.request_id)
            .collect()
    }

    /// Those that have waited `wait` or longer, oldest first: each with a revocation among its
    /// jobs, and each of the others whose request `may_take_other` lets go.
    fn take_waiting(
        &self,
        wait: Duration,
        mut may_take_other: impl FnMut(Option<i64>) -> bool,
    ) -> Vec<Claimed> {
        let mut claimed = self.lock();
        let waited: Vec<u64> = claimed
            .iter()
            .take_while(|(_, jobs)| jobs.since.elapsed() >= wait)
            .map(|(ticket, _)| *ticket)
            .collect();
        let mut taken = Vec::new();
        for ticket in waited {
            let jobs = &claimed[&ticket];
            let request = jobs.rows.first().and_then(|row| row.request_id);
            if jobs.revokes || may_take_other(request) {
                taken.extend(claimed.remove(&ticket));
            }
        }
        taken
    }

    /// A lock held for an insert, a removal or a walk of the entries (a few hundred at most, as
    /// many as the scheduler has workers). Should the scheduler's thread lose the core while
    /// holding it, the thread that waits here blocks, the core goes idle, and the scheduler's
    /// thread gets it back at once.
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Claimed>> {
        // Every change is one insert or remove: a panic elsewhere cannot leave it half done.
        self.claimed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// When the scheduler's runtime last ran.
pub struct Heartbeat {
    origin: Instant,
    /// Milliseconds from `origin` to the last beat.
    last: AtomicU64,
}

impl Heartbeat {
    fn new() -> Arc<Heartbeat> {
        Arc::new(Heartbeat {
            origin: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    /// Beats every [`BEAT`], as long as the runtime this runs on gets to run it.
    pub async fn keep_beating(self: Arc<Heartbeat>) {
        let mut every = tokio::time::interval(BEAT);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.last.store(self.now(), Ordering::Relaxed);
        }
    }

    /// How long since the last beat.
    fn silence(&self) -> Duration {
        let last = self.last.load(Ordering::Relaxed);
        Duration::from_millis(self.now().saturating_sub(last))
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: i64, kind: &str) -> JobRow {
        JobRow {
            id,
            request_id: Some(id),
            payload: format!(r#"{{"job":"{kind}"}}"#),
            attempts: 0,
            started: None,
        }
    }

    /// Request `id`'s jobs of these kinds, claimed by the scheduler's thread, not started.
    fn claimed(
        unstarted: &Unstarted,
        workers: &Arc<tokio::sync::Semaphore>,
        id: i64,
        kinds: &[&str],
    ) -> u64 {
        let rows = kinds.iter().map(|kind| job(id, kind)).collect();
        let permit = workers.clone().try_acquire_owned().expect("a free worker");
        unstarted.put(rows, Utc::now(), permit)
    }

    fn claimed_jobs(unstarted: &Unstarted, workers: &Arc<tokio::sync::Semaphore>, id: i64) -> u64 {
        claimed(unstarted, workers, id, &["revoke"])
    }

    fn ids(taken: &[Claimed]) -> Vec<i64> {
        taken.iter().map(|claimed| claimed.rows[0].id).collect()
    }

    #[test]
    fn every_waiting_revocation_is_taken_over_and_only_as_many_others_as_the_pace_lets_go() {
        let unstarted = Unstarted::default();
        let workers = Arc::new(tokio::sync::Semaphore::new(8));
        claimed(&unstarted, &workers, 1, &["post_card"]);
        claimed(&unstarted, &workers, 2, &["revoke"]);
        claimed(&unstarted, &workers, 3, &["check_requester"]);
        // A revocation behind its request's notice is a revocation too.
        claimed(&unstarted, &workers, 4, &["notify_requester", "revoke"]);
        claimed(&unstarted, &workers, 5, &["announce"]);

        assert_eq!(unstarted.others_waiting(Duration::ZERO), [1, 3, 5]);
        let mut allowance = 1;
        let taken = unstarted.take_waiting(Duration::ZERO, |_| {
            allowance -= 1;
            allowance >= 0
        });
        assert_eq!(
            ids(&taken),
            [1, 2, 4],
            "the oldest other, and both revocations"
        );

        let none_allowed = unstarted.take_waiting(Duration::ZERO, |_| false);
        assert!(none_allowed.is_empty(), "the others wait for their worker");
        // Request 5's revocation came due behind its claimed job (read from the database).
        let taken = unstarted.take_waiting(Duration::ZERO, |request| request == Some(5));
        assert_eq!(ids(&taken), [5]);
        let taken = unstarted.take_waiting(Duration::ZERO, |_| true);
        assert_eq!(ids(&taken), [3], "until the pace lets them go");
    }

    #[test]
    fn the_pace_lets_a_few_others_go_at_once_and_then_one_every_20_ms() {
        let clock = governor::clock::FakeRelativeClock::default();
        let pace = governor::RateLimiter::direct_with_clock(others_quota(), clock.clone());
        let allowed = || (0..100).take_while(|_| pace.check().is_ok()).count();
        assert_eq!(allowed(), 5, "a few at once");
        clock.advance(Duration::from_millis(19));
        assert_eq!(allowed(), 0);
        clock.advance(Duration::from_millis(1));
        assert_eq!(allowed(), 1, "50 a second");
        clock.advance(Duration::from_secs(10));
        assert_eq!(allowed(), 5, "and never more than a few at once");
    }

    #[test]
    fn a_claimed_request_goes_to_its_worker_or_to_the_stand_in_never_both() {
        let unstarted = Unstarted::default();
        let workers = Arc::new(tokio::sync::Semaphore::new(3));
        let first = claimed_jobs(&unstarted, &workers, 1);
        let second = claimed_jobs(&unstarted, &workers, 2);
        let third = claimed_jobs(&unstarted, &workers, 3);

        let started = unstarted.take(second).expect("its worker starts it");
        assert_eq!(started.rows[0].id, 2);
        assert!(unstarted.take(second).is_none(), "taken once");

        assert!(
            unstarted
                .take_waiting(Duration::from_secs(3600), |_| true)
                .is_empty(),
            "none has waited an hour"
        );
        let taken = unstarted.take_waiting(Duration::ZERO, |_| true);
        assert_eq!(
            ids(&taken),
            [1, 3],
            "the stand-in takes the rest, oldest first"
        );
        assert!(unstarted.take(first).is_none() && unstarted.take(third).is_none());

        assert_eq!(workers.available_permits(), 0, "each holds its worker");
        drop((started, taken));
        assert_eq!(
            workers.available_permits(),
            3,
            "and gives it back when done"
        );
    }
}

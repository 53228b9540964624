//! The ends waiting to be recorded, and the hold that keeps them waiting while revocations
//! start. Plain data behind one lock each: nothing here awaits.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{End, Outcome};

/// The longest an end is held: with ten thousand grants ending together every call is made
/// within about 0.7 s; a longer storm, or a provider that keeps failing while others answer,
/// has its ends recorded this often, well inside a job's claim (`scheduler::LEASE`).
const LONGEST_HOLD: Duration = Duration::from_secs(1);

/// An end waiting to be recorded, and what follows once it is.
pub(super) struct Waiting {
    pub end: End,
    pub then: Then,
    since: Instant,
}

pub(super) enum Then {
    /// Its job waits to hear whether its request was ended by it.
    Tell(oneshot::Sender<Outcome>),
    /// Its job passed on its row (this id), deleted with the end.
    DeleteJob(i64),
}

impl Waiting {
    pub fn new(end: End, then: Then) -> Waiting {
        Waiting {
            end,
            then,
            since: Instant::now(),
        }
    }
}

/// The waiting ends, oldest first, and until when ends are held.
#[derive(Default)]
pub(super) struct Queue {
    waiting: Mutex<VecDeque<Waiting>>,
    held_until: Mutex<Option<Instant>>,
}

impl Queue {
    pub fn push(&self, waiting: Waiting) {
        self.lock().push_back(waiting);
    }

    /// Pushes `end` as `make` has it wait, if ends are held and fewer than `most` wait; gives
    /// it back otherwise, or when `make` does. One step under the lock: a hold that lapses
    /// meanwhile cannot leave an end waiting that nobody records.
    pub fn push_if_held(
        &self,
        end: End,
        most: usize,
        make: impl FnOnce(End) -> Result<Waiting, End>,
    ) -> Result<(), End> {
        let mut queue = self.lock();
        if queue.len() >= most || !self.held(&queue) {
            return Err(end);
        }
        queue.push_back(make(end)?);
        Ok(())
    }

    /// Takes up to `most` ends, oldest first.
    pub fn take(&self, most: usize) -> Vec<Waiting> {
        let mut queue = self.lock();
        let most = most.min(queue.len());
        queue.drain(..most).collect()
    }

    /// Puts back ends taken, ahead of the rest, in their order.
    pub fn put_back(&self, taken: Vec<Waiting>) {
        let mut queue = self.lock();
        for waiting in taken.into_iter().rev() {
            queue.push_front(waiting);
        }
    }

    /// Whether ends wait that are not held.
    pub fn any_unheld(&self) -> bool {
        let queue = self.lock();
        !queue.is_empty() && !self.held(&queue)
    }

    /// When the hold on the ends waiting lapses: at the time the scheduler set, or once the
    /// oldest has waited `LONGEST_HOLD`. None when nothing waits, or nothing is held now.
    pub fn hold_lapses_at(&self) -> Option<Instant> {
        let queue = self.lock();
        let oldest = queue.front()?.since + LONGEST_HOLD;
        let lapses = self.lock_held().map(|until| until.min(oldest))?;
        (Instant::now() < lapses).then_some(lapses)
    }

    pub fn hold_until(&self, until: Instant) {
        *self.lock_held() = Some(until);
    }

    pub fn release(&self) {
        *self.lock_held() = None;
    }

    fn held(&self, queue: &VecDeque<Waiting>) -> bool {
        let now = Instant::now();
        let set = self.lock_held().is_some_and(|until| now < until);
        let young = queue
            .front()
            .is_none_or(|oldest| now < oldest.since + LONGEST_HOLD);
        set && young
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Waiting>> {
        // Every change is a push, a drain or a put back: a panic elsewhere leaves it whole.
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_held(&self) -> MutexGuard<'_, Option<Instant>> {
        self.held_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Ends taken to be recorded. Dropped before they were (the job recording them timed out, or a
/// panic), they go back to the front of the queue for the next turn: whether their transaction
/// committed is unknown, and recording an end twice is safe (`revoking → ended` happens once;
/// a job's row deleted twice is deleted once, ids are never reused).
pub(super) struct Taken<'a> {
    queue: &'a Queue,
    batch: Vec<Waiting>,
}

impl<'a> Taken<'a> {
    pub fn new(queue: &'a Queue, batch: Vec<Waiting>) -> Taken<'a> {
        Taken { queue, batch }
    }

    pub fn batch(&self) -> &[Waiting] {
        &self.batch
    }

    /// The batch, recorded (or failed): no longer put back.
    pub fn done(mut self) -> Vec<Waiting> {
        std::mem::take(&mut self.batch)
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if !self.batch.is_empty() {
            self.queue.put_back(std::mem::take(&mut self.batch));
        }
    }
}

//! The scheduler's thread offers the core back every 200 µs it runs without a break.
//!
//! `SCHED_IDLE` alone does not keep the threads that answer people first. Linux preempts an
//! idle-policy thread when one of people's threads *wakes* while it runs, but not when one was
//! already runnable at the moment the core is handed on: EEVDF then picks whichever entity is
//! eligible with the earliest deadline, and a thread that answers people and has just had more
//! than its share of the core is not eligible. The scheduler's thread is then picked, and it
//! runs until it blocks or a tick (4 ms at 250 Hz) finds its slice spent. `perf sched` at
//! 1 000/s showed people's worker runnable and waiting up to 2.4 ms that way while the
//! scheduler's thread ran jobs, on average 29 µs a wake-up: the acks' p99.
//!
//! A `sched_yield` gives the kernel that choice again, and a thread of weight 3 that has run for
//! even a few microseconds has fallen behind everyone else's share, so people's thread is picked.
//! When nothing else wants the core the call returns at once. The check is a clock read after
//! each poll of the scheduler's tasks (`giving_way`), and the turn starts again whenever the
//! runtime wakes from waiting (`turn_begins`).

use std::cell::RefCell;
use std::future::Future;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

/// How long the scheduler's thread runs before it offers the core: people's work waits at most
/// about this long behind it, and the offer (a system call when nobody takes it, two thread
/// switches when someone does) costs well under a hundredth of it.
pub const TURN: Duration = Duration::from_micros(200);

/// This thread's turn on the core: when it began, and the offers made so far.
struct Turn {
    began: Instant,
    offers: Counter,
}

thread_local! {
    /// `None` on threads that never give way (people's, and the scheduler's when it could not be
    /// lowered).
    static TURN_NOW: RefCell<Option<Turn>> = const { RefCell::new(None) };
}

/// From now on this thread gives way (`giving_way`), counting its offers in `offers`: for the
/// scheduler's, once lowered.
pub fn give_way_on_this_thread(offers: Counter) {
    let turn = Turn {
        began: Instant::now(),
        offers,
    };
    TURN_NOW.with(|now| *now.borrow_mut() = Some(turn));
}

/// A new turn: the thread has just woken from waiting for work.
pub fn turn_begins() {
    TURN_NOW.with(|now| {
        if let Some(turn) = now.borrow_mut().as_mut() {
            turn.began = Instant::now();
        }
    });
}

/// Offers the core when this thread's turn is over. True when it offered.
pub fn give_way_if_turn_is_over() -> bool {
    TURN_NOW.with(|now| {
        let mut now = now.borrow_mut();
        let Some(turn) = now.as_mut() else {
            return false;
        };
        if turn.began.elapsed() < TURN {
            return false;
        }
        #[cfg(target_os = "linux")]
        rustix::thread::sched_yield();
        turn.offers.inc();
        turn.began = Instant::now();
        true
    })
}

/// `future`, offering the core after each of its polls once this thread's turn is over.
pub async fn giving_way<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        let polled = future.as_mut().poll(cx);
        give_way_if_turn_is_over();
        polled
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(for_: Duration) {
        let until = Instant::now() + for_;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn a_thread_that_never_gives_way_does_not() {
        std::thread::spawn(|| {
            spin(TURN * 2);
            assert!(!give_way_if_turn_is_over());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_core_is_offered_once_a_turn_is_over_and_not_before() {
        std::thread::spawn(|| {
            let offers = Counter::default();
            give_way_on_this_thread(offers.clone());
            assert!(!give_way_if_turn_is_over(), "the turn has just begun");
            spin(TURN + Duration::from_micros(50));
            assert!(give_way_if_turn_is_over());
            assert!(
                !give_way_if_turn_is_over(),
                "a new turn began with the offer"
            );
            spin(TURN + Duration::from_micros(50));
            turn_begins();
            assert!(
                !give_way_if_turn_is_over(),
                "waking from a wait begins a turn"
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_future_giving_way_offers_the_core_after_a_long_poll() {
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let offers = Counter::default();
            give_way_on_this_thread(offers.clone());
            let output = runtime.block_on(giving_way(async {
                spin(TURN + Duration::from_micros(50));
                tokio::task::yield_now().await;
                assert_eq!(offers.get(), 1, "offered after the first poll");
                tokio::task::yield_now().await;
                assert_eq!(offers.get(), 1, "not after a short poll");
                spin(TURN + Duration::from_micros(50));
                7
            }));
            assert_eq!(output, 7);
            assert_eq!(offers.get(), 2, "offered after the last poll");
        })
        .join()
        .unwrap();
    }
}

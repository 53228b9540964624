//! Background threads run only when the threads that answer people leave a core idle.
//!
//! Under load both want the one core. At nice 5 the scheduler's thread had a third of the
//! weight and took its turns in slices: an ack that arrived during one waited up to 5 ms for the
//! core (`perf sched` at 3 000/s), 0.28 ms on average. At `SCHED_IDLE` it is preempted the moment
//! a request arrives, and runs whenever none is being answered, which at every rate below
//! saturation is most of the time. Measured side by side (three pairs): ack p99 at 3 000/s
//! 5.8–7.0 → 2.9–3.1 ms, at 1 000/s 1.6–1.8 → 1.2–1.6 ms; cards at 3 000/s, where the core is
//! short, later (p99 4.3–4.6 → 7.6–8.1 s).
//!
//! The price is that the thread gets almost nothing (a weight of 3 against 1 024) while the
//! core stays busy, whether with a flood of requests or with another process, and an
//! unprivileged thread cannot leave `SCHED_IDLE` again. So due jobs never depend on it alone:
//! when it goes silent, the threads that answer people run them (`stand_in`).
//!
//! The thread that copies the WAL into the database (`store::checkpoint`) runs at `SCHED_IDLE`
//! too. At the process's priority it took the core for a slice at a time, 2–3 ms: after the
//! scheduler's thread gave way (`gives_way`), it was behind most of the waits of people's
//! worker over 0.3 ms at 1 000/s (`perf sched`: 34 ms of 35 in three seconds; 7 ms at
//! `SCHED_IDLE`). Starved under a flood, it copies when the stand-in lends the core; should the
//! WAL still reach the backstop, commits copy it themselves.
//!
//! Background work takes the writer only when it is free, and commits its own groups on this
//! thread (`store::group_commit`). It may still lose the core while holding the writer, and
//! people's writes then wait until the core is idle for a moment: below saturation at once;
//! under a flood, when the stand-in lends the core.

#[cfg(target_os = "linux")]
use thread_priority::{
    NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
    set_thread_priority_and_policy, thread_native_id,
};

/// Puts the calling thread at `SCHED_IDLE`; threads it starts later (the runtime's blocking
/// pool) inherit it. Where it cannot, the thread runs on at the process's priority, as before:
/// the stand-in covers either way. True when it is lowered.
pub fn lower_this_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let lowered = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle);
        if let Err(error) = &lowered {
            let thread = std::thread::current().name().unwrap_or_default().to_owned();
            tracing::warn!(
                ?error,
                thread,
                "could not lower a background thread to SCHED_IDLE"
            );
        }
        lowered.is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    false
}

//! The scheduler's thread runs at a lower priority than the threads that answer people.
//!
//! Under load both want the one core, and the operating system shares it between threads by
//! their weight. At equal weight a backlog of cards took 44 % of the core at saturation, and
//! the acknowledgements the rest. At nice 5 the scheduler's thread has about a third of the
//! weight (335 against 1 024): it still takes the whole core whenever the acknowledgements leave
//! it idle, as in the revocation run, and a quarter of it when they do not.
//!
//! Earlier designs lost from this, because the scheduler's transactions then held the writer
//! while preempted and acks queued behind them. Now background work takes the writer only when
//! it is free, and commits its own groups on this thread (`store::group_commit`).

/// How much lower than the process the scheduler's thread runs. Measured side by side (pairs
/// of runs): answered at saturation 6 465–7 006 → 8 935–9 812 a second; ack p99 at 500/s
/// 3.2–3.3 → 2.3–2.7 ms and at 1 000/s 3.9–4.1 → 3.1–3.2 ms; cards and revocation lag within
/// the spread. Nice 10 answered more at saturation still, but made cards at 3 000/s half as
/// late again.
pub const BACKGROUND_NICE: i32 = 5;

/// Lowers the calling thread's priority by [`BACKGROUND_NICE`]; threads it starts later (the
/// runtime's blocking pool) inherit it. Where it cannot be lowered, the thread runs on at the
/// process's priority, as before: nothing else depends on it.
pub fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    {
        // Linux keeps a nice value per thread: `PRIO_PROCESS` with a thread id sets that
        // thread's alone (setpriority(2)).
        let thread = Some(rustix::thread::gettid());
        let lowered = rustix::process::getpriority_process(thread)
            .and_then(|nice| rustix::process::setpriority_process(thread, nice + BACKGROUND_NICE));
        if let Err(error) = lowered {
            tracing::warn!(%error, "could not lower the scheduler thread's priority");
        }
    }
}

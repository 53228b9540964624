//! Threads that work in the background — the scheduler's, and the one copying the WAL into the
//! database — run at `SCHED_IDLE` (`priority`), and the scheduler's offers the core back every
//! little while it runs (`gives_way`): the threads that answer people come first.

mod gives_way;
mod priority;

pub use gives_way::{give_way_on_this_thread, giving_way, turn_begins};
pub use priority::lower_this_thread;

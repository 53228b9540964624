//! Error ids: what a person is shown instead of an error chain, and what ties it to the log line
//! with the details. A leaf, so that the core and the adapters share one form.

/// A short id such as `E1a2b3c4d`.
pub fn new() -> String {
    format!("E{:08x}", rand::random::<u32>())
}

//! The open files a process may hold, raised at start from the soft limit to the hard one.
//!
//! Every call in flight over HTTP/1.1 holds a socket, and 1 024 workers with their calls, the
//! 512 connections jitbot accepts and the database's files do not fit in the 1 024 files that
//! Linux and systemd give a service by default (the soft limit); the hard limit (524 288 under
//! systemd) is there to be raised to, and the soft one is low only for programs that still use
//! `select`. Go's runtime raises it the same way at start. Written here: two system calls.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft limit on open files to the hard one. Returns the limit before and after,
/// or why it could not be raised (the process then goes on with the limit it has).
pub fn raise_to_hard_limit() -> Result<(u64, u64), String> {
    let limit = getrlimit(Resource::Nofile);
    let (Some(soft), Some(hard)) = (limit.current, limit.maximum) else {
        // Unlimited (not on Linux, whose hard limit is a number): nothing to raise.
        return Err("the limit on open files is not a number".into());
    };
    if soft >= hard {
        return Ok((soft, soft));
    }
    let raised = Rlimit {
        current: Some(hard),
        maximum: Some(hard),
    };
    setrlimit(Resource::Nofile, raised).map_err(|error| error.to_string())?;
    Ok((soft, hard))
}

/// `raise_to_hard_limit`, logged.
pub fn raise_and_log() {
    match raise_to_hard_limit() {
        Ok((before, after)) if before < after => {
            tracing::info!(
                before,
                after,
                "raised the limit on open files to the hard limit"
            );
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(error, "could not raise the limit on open files"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_on_open_files_is_raised_to_the_hard_one() {
        let hard = getrlimit(Resource::Nofile).maximum;
        // The test's own process: the soft limit set just below the hard one, so that there is
        // something to raise and the other tests, running beside it, never have fewer files.
        if let Some(hard) = hard.filter(|hard| *hard > 1024) {
            let below = Rlimit {
                current: Some(hard - 1),
                maximum: Some(hard),
            };
            setrlimit(Resource::Nofile, below).unwrap();
            assert_eq!(raise_to_hard_limit(), Ok((hard - 1, hard)));
        }
        let now = getrlimit(Resource::Nofile);
        assert_eq!(now.current, now.maximum);
        assert_eq!(
            raise_to_hard_limit().map(|(_, after)| Some(after)),
            Ok(now.maximum)
        );
    }
}

//! What `status` shows an owner: the requests awaiting their decision and who holds access to
//! their groups now — each a bounded list that says how many more there are.

use super::AccessRequest;

/// The first requests of a longer list, and how many were left out.
#[derive(Debug, Default)]
pub struct Listing {
    pub requests: Vec<AccessRequest>,
    /// How many more matched than are listed.
    pub more: usize,
    /// Whether the search stopped at its bound, so that there may be more still.
    pub at_least: bool,
}

impl Listing {
    /// The first `shown` of `all`; `bounded` when the search that found them hit its limit.
    pub fn first(mut all: Vec<AccessRequest>, shown: usize, bounded: bool) -> Listing {
        let more = all.len().saturating_sub(shown);
        all.truncate(shown);
        Listing {
            requests: all,
            more,
            at_least: bounded,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }
}

/// An owner's part of `status`; both lists are empty for someone who owns nothing.
#[derive(Debug, Default)]
pub struct OwnerStatus {
    /// Confirmed pending requests this person may still decide on, oldest first.
    pub awaiting: Listing,
    /// Active requests in the groups this person owns, the soonest to end first.
    pub holding: Listing,
}

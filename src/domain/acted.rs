//! What an action on a request did, for the answer to the person who took it.

use super::AccessDuration;

/// What an action did, for the answer to the person who took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acted {
    Cancelled {
        id: i64,
    },
    Released {
        id: i64,
    },
    Revoked {
        id: i64,
    },
    /// Extension request `extension` asks for `duration` more on request `id`.
    ExtensionAsked {
        id: i64,
        extension: i64,
        duration: AccessDuration,
    },
    Acknowledged {
        id: i64,
    },
}

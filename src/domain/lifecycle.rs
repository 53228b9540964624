//! A group's lifecycle rules beyond who approves: warnings, extensions, timeouts, delegation,
//! break-glass and approval by policy.

use super::duration::AccessDuration;
use super::identity::{Guid, Platform};
use super::policy::Owner;

/// How requests of one group live and end. `Default` is what a group without these keys gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRules {
    /// How long before the end the requester is warned (with Extend and I'm done); `None`: never.
    pub warn_before: Option<AccessDuration>,
    /// The longest a grant may last with its extensions, counted from the first grant; `None`:
    /// the group's `max_duration`.
    pub max_total: Option<AccessDuration>,
    /// Extensions are approved without the owners.
    pub auto_extend: bool,
    /// A request nobody decided within this expires; owners are reminded halfway.
    pub pending_timeout: AccessDuration,
    /// People who may ask on anyone's behalf (besides a person's manager in Entra).
    pub delegates: Vec<Owner>,
    /// A manager who is also an owner approves what they ask on a report's behalf.
    pub manager_can_self_approve: bool,
    /// Break-glass access, when the group allows it.
    pub break_glass: Option<BreakGlass>,
    /// Members of these Entra groups are approved without an owner.
    pub auto_approve_for: Vec<Guid>,
}

/// Emergency access: granted at once, announced, and reviewed by an owner afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlass {
    /// The longest break-glass access lasts.
    pub max: AccessDuration,
    /// Where every use is announced besides the owners, per platform.
    pub security_channels: Vec<(Platform, String)>,
}

pub const DEFAULT_WARN_BEFORE_MINUTES: u32 = 15;
pub const DEFAULT_PENDING_TIMEOUT_MINUTES: u32 = 24 * 60;
pub const DEFAULT_BREAK_GLASS_MAX_MINUTES: u32 = 60;
/// How often an unacknowledged break-glass use is brought up again.
pub const ACKNOWLEDGE_REMINDER_EVERY: chrono::Duration = chrono::Duration::days(1);
/// How far ahead a start may be scheduled.
pub const LONGEST_SCHEDULE_AHEAD: chrono::Duration = chrono::Duration::days(30);

fn minutes(minutes: u32) -> AccessDuration {
    AccessDuration::from_minutes(minutes).expect("the defaults are valid durations")
}

impl Default for LifecycleRules {
    fn default() -> Self {
        LifecycleRules {
            warn_before: Some(minutes(DEFAULT_WARN_BEFORE_MINUTES)),
            max_total: None,
            auto_extend: false,
            pending_timeout: minutes(DEFAULT_PENDING_TIMEOUT_MINUTES),
            delegates: Vec::new(),
            manager_can_self_approve: false,
            break_glass: None,
            auto_approve_for: Vec::new(),
        }
    }
}

impl Default for BreakGlass {
    fn default() -> Self {
        BreakGlass {
            max: minutes(DEFAULT_BREAK_GLASS_MAX_MINUTES),
            security_channels: Vec::new(),
        }
    }
}

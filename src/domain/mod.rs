//! Pure rules with no I/O: commands, durations, identities, policy checks, the lifecycle, notices.

pub mod acted;
pub mod audit_action;
pub mod buttons;
pub mod command;
pub mod decision;
pub mod duration;
pub mod form;
pub mod identity;
pub mod job;
pub mod lifecycle;
pub mod notice;
pub mod owner_status;
pub mod policy;
pub mod refusal;
pub mod request;
pub mod schedule;
pub mod wording;

pub use acted::Acted;
pub use audit_action::AuditAction;
pub use command::{Command, MAX_JUSTIFICATION_CHARS, RequestAction, RequestCommand};
pub use decision::{Decision, Judged};
pub use duration::AccessDuration;
pub use form::FormField;
pub use identity::{Account, PersonKey, Platform, Principal};
pub use job::{CardDestination, Job};
pub use lifecycle::{BreakGlass, LifecycleRules};
pub use notice::Notice;
pub use owner_status::{Listing, OwnerStatus};
pub use policy::{
    GrantTarget, GroupPolicy, Owner, Owners, Policy, ProviderKind, Sweep, is_plain_http,
};
pub use refusal::Refusal;
pub use request::{AccessRequest, EarlyEnd, RequestKind, RequestStatus, Verdict};

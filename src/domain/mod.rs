//! Pure rules with no I/O: commands, durations, identities, policy checks, the lifecycle, notices.

pub mod audit_action;
pub mod command;
pub mod decision;
pub mod duration;
pub mod form;
pub mod identity;
pub mod job;
pub mod notice;
pub mod policy;
pub mod refusal;
pub mod request;
pub mod wording;

pub use audit_action::AuditAction;
pub use command::{Command, MAX_JUSTIFICATION_CHARS, RequestCommand};
pub use decision::{Decision, Judged};
pub use duration::AccessDuration;
pub use form::FormField;
pub use identity::{Account, PersonKey, Platform, Principal};
pub use job::{CardDestination, Job};
pub use notice::Notice;
pub use policy::{GroupPolicy, Owner, Owners, Policy, ProviderKind, Sweep};
pub use refusal::Refusal;
pub use request::{AccessRequest, RequestStatus, Verdict};

//! The buttons a request's messages carry in each state — the same on every platform; each
//! adapter draws them and maps a click back to a `Button`. Showing a button authorises nothing:
//! every click is judged by the core.

use chrono::{DateTime, Utc};

use super::command::RequestAction;
use super::request::{AccessRequest, RequestKind, RequestStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Approve,
    Deny,
    Cancel,
    Extend,
    Release,
    Revoke,
    Acknowledge,
}

/// How prominent a button is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emphasis {
    Positive,
    Destructive,
    Plain,
}

/// The reason given when an owner revokes from a card, which has no room to type one.
pub const REVOKED_FROM_CARD: &str = "ended by an owner from the approval card.";

impl Button {
    pub const ALL: [Button; 7] = [
        Self::Approve,
        Self::Deny,
        Self::Cancel,
        Self::Extend,
        Self::Release,
        Self::Revoke,
        Self::Acknowledge,
    ];

    /// A stable name, for action ids and verbs: `approve` → `jit_approve`, `jit.approve`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::Cancel => "cancel",
            Self::Extend => "extend",
            Self::Release => "done",
            Self::Revoke => "revoke",
            Self::Acknowledge => "ack",
        }
    }

    pub fn from_name(name: &str) -> Option<Button> {
        Self::ALL.into_iter().find(|button| button.name() == name)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Approve => "Approve",
            Self::Deny => "Deny",
            Self::Cancel => "Cancel request",
            Self::Extend => "Extend",
            Self::Release => "I'm done",
            Self::Revoke => "Revoke",
            Self::Acknowledge => "Acknowledge",
        }
    }

    pub fn emphasis(self) -> Emphasis {
        match self {
            Self::Approve | Self::Acknowledge => Emphasis::Positive,
            Self::Deny | Self::Revoke => Emphasis::Destructive,
            _ => Emphasis::Plain,
        }
    }

    /// The action a click takes; `None` for Approve and Deny, which are decisions.
    pub fn action(self) -> Option<RequestAction> {
        match self {
            Self::Approve | Self::Deny => None,
            Self::Cancel => Some(RequestAction::Cancel),
            Self::Extend => Some(RequestAction::Extend { duration: None }),
            Self::Release => Some(RequestAction::Release),
            Self::Revoke => Some(RequestAction::Revoke {
                reason: REVOKED_FROM_CARD.to_string(),
            }),
            Self::Acknowledge => Some(RequestAction::Acknowledge),
        }
    }
}

/// The owners' buttons on an approval card: decide while pending, revoke while active, and
/// acknowledge a break-glass use nobody reviewed yet.
pub fn for_owners(request: &AccessRequest) -> Vec<Button> {
    let mut buttons = Vec::new();
    if request.status == RequestStatus::Pending {
        buttons.extend([Button::Approve, Button::Deny]);
    }
    if request.kind == RequestKind::BreakGlass && request.acknowledged.is_none() {
        buttons.push(Button::Acknowledge);
    }
    if request.status == RequestStatus::Active {
        buttons.push(Button::Revoke);
    }
    buttons
}

/// The requester's buttons on the request's own message: cancel while it may be withdrawn,
/// extend or end while the access is active.
pub fn for_requester(request: &AccessRequest, now: DateTime<Utc>) -> Vec<Button> {
    if matches!(request.kind, RequestKind::Extension { .. }) {
        return Vec::new();
    }
    if request.can_be_cancelled(now) {
        return vec![Button::Cancel];
    }
    if request.status == RequestStatus::Active {
        return vec![Button::Extend, Button::Release];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for button in Button::ALL {
            assert_eq!(Button::from_name(button.name()), Some(button));
        }
        assert_eq!(Button::from_name("frobnicate"), None);
    }
}

//! The Slack adapter: verifies what Slack sends, turns it into domain commands, and renders
//! requests as Block Kit messages.

pub mod api;
pub mod blocks;
pub mod chat;
pub mod commands;
pub mod identity;
pub mod interactions;
pub mod person;
pub mod text;
pub mod verify;

/// `action_id`s of the approval card's buttons.
pub const APPROVE_ACTION: &str = "jit_approve";
pub const DENY_ACTION: &str = "jit_deny";

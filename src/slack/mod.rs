//! The Slack adapter: verifies what Slack sends, turns it into domain commands, and renders
//! requests as Block Kit messages.

pub mod api;
pub mod blocks;
pub mod chat;
pub mod commands;
pub mod form;
pub mod identity;
pub mod interactions;
pub mod person;
pub mod reply;
pub mod socket_mode;
pub mod text;
pub mod verify;

/// What every `action_id` of jitbot's buttons starts with (`jit_approve`, `jit_done` …).
pub const ACTION_PREFIX: &str = "jit_";

//! jitbot through the front door: one test binary, signed HTTP into the real router with a real
//! SQLite file, against fakes of Slack, the Bot Framework, Microsoft Graph and a webhook receiver
//! on 127.0.0.1 that record what they receive.

mod common;

mod audit_apart;
mod audit_forward;
mod checkpoints;
mod claims;
mod cli;
mod connections;
mod ends;
mod entra;
mod group_commit;
mod holders;
mod layering;
mod lifecycle;
mod message_refresh;
mod metrics;
mod on_behalf;
mod owner_status;
#[cfg(target_os = "linux")]
mod priority;
mod properties;
mod query_plans;
mod reload;
mod scheduling;
mod shutdown;
mod slack_decisions;
mod slack_flow;
mod slack_form;
mod slack_input;
mod slack_refusals;
mod socket_mode;
mod steady;
mod teams_auth;
mod teams_cards;
mod teams_flow;
mod teams_form;
mod teams_large_groups;
mod teams_package;
mod teams_privacy;
mod trust;
mod webhook;

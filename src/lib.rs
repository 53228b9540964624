//! jitbot: just-in-time access requests, approved in Slack or Teams, granted and revoked on time.

pub mod access;
pub mod app;
pub mod audit_sink;
pub mod background;
pub mod cli;
pub mod client_credentials;
pub mod config;
pub mod domain;
pub mod error_id;
pub mod graph;
pub mod http;
pub mod metrics;
pub mod open_files;

pub mod providers;
pub mod reload;
pub mod retry;
pub mod scheduler;
pub mod secrets;
pub mod slack;
pub mod store;
pub mod teams;

pub use app::App;
pub use config::Config;
pub use secrets::Secrets;

//! The `jitbot` command: a table of contents of what an operator can do.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use jitbot::cli;

#[derive(Parser)]
#[command(version, about = "Just-in-time access, requested and approved in chat")]
struct Cli {
    /// The config file (policy, listen address, database).
    #[arg(long, global = true, env = "JITBOT_CONFIG", default_value = jitbot::config::DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Slack's requests and run the scheduler until Ctrl-C or SIGTERM.
    Serve,
    /// Check the config file and explain every mistake.
    CheckConfig {
        /// Also check with Microsoft Graph that every Entra group exists and that the app
        /// registration holds the permissions jitbot needs.
        #[arg(long)]
        online: bool,
    },
    /// List requests, newest first.
    Requests {
        /// Only requests in this status (pending, approved, active, ended, …).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Print the audit trail, or check that it is intact.
    Audit {
        /// Only the events of this request.
        #[arg(long)]
        request: Option<i64>,
        /// Recompute the hash chain, check that no event is missing, and print the head (the
        /// last event's hash) to record elsewhere.
        #[arg(long)]
        verify: bool,
    },
    /// Write the Teams app package (manifest and icons) for a Teams admin to upload.
    TeamsPackage {
        /// The bot's Microsoft app id, a GUID.
        #[arg(long, env = "MICROSOFT_APP_ID")]
        app_id: Option<String>,
        /// Where to write the zip.
        #[arg(long, default_value = "jitbot-teams.zip")]
        output: PathBuf,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if let Err(error) = cli::init_tracing() {
        eprintln!("error: {error:#}");
        return std::process::ExitCode::FAILURE;
    }
    let args = Cli::parse();
    let result = match args.command {
        Command::Serve => cli::serve(&args.config).await,
        Command::CheckConfig { online } => cli::check_config(&args.config, online).await,
        Command::Requests { status, limit } => {
            cli::requests(&args.config, status.as_deref(), limit).await
        }
        Command::Audit { request, verify } => cli::audit(&args.config, request, verify).await,
        Command::TeamsPackage { app_id, output } => cli::teams_package(app_id.as_deref(), &output),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

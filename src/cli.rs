//! What the `jitbot` subcommands do, kept out of `main.rs` so that it stays a table of contents.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::Config;
use crate::domain::{Owners, Platform, ProviderKind, RequestStatus};
use crate::graph::Graph;
use crate::secrets::Secrets;
use crate::store::{self, audit};
use crate::teams;

mod audit_export;
mod audit_trail;

pub use audit_export::{ExportArgs, audit_export};
pub use audit_trail::audit;

/// The variable that picks how log lines look: `text` (the default, for people) or `json` (one
/// object a line, for a log pipeline).
pub const LOG_FORMAT_ENV: &str = "JITBOT_LOG_FORMAT";

/// Installs the log subscriber. An unknown `JITBOT_LOG_FORMAT` is an error rather than a quiet
/// fallback: a pipeline expecting JSON would otherwise choke on text lines far from the cause.
pub fn init_tracing() -> anyhow::Result<()> {
    let format = std::env::var(LOG_FORMAT_ENV).unwrap_or_default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "jitbot=info,tower_http=warn".into())
        // tungstenite traces the WebSocket handshake, whose path carries the Socket Mode ticket
        // (a credential): never shown, whatever RUST_LOG asks for.
        .add_directive("tungstenite=off".parse()?);
    // Colours only for a person at a terminal: in a file or the journal they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format.trim() {
        "" | "text" => builder.init(),
        // The current span and its parents go on every line, so that a grant's or an HTTP
        // request's `request_id` can be searched for without joining lines.
        "json" => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        other => bail!("{LOG_FORMAT_ENV}={other:?} is not a log format: use `text` or `json`"),
    }
    Ok(())
}

pub async fn serve(config_path: &Path) -> anyhow::Result<()> {
    crate::open_files::raise_and_log();
    let config = Config::load(config_path)?;
    let secrets = Secrets::from_env().with_webhook_secrets_from_env(
        config
            .policy
            .webhook_secret_envs()
            .chain(config.audit_webhook.iter().map(|w| w.secret_env.as_str())),
    );
    if let Some(key) = &secrets.audit_key {
        audit::install_key(key.clone());
    }
    let app = App::build(config, secrets).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    #[cfg(unix)]
    tokio::spawn(reload_on_hangup(app.clone(), config_path.to_path_buf()));
    app.run_until(shutdown).await
}

/// SIGHUP re-reads the config file and puts its policy in force; a file with mistakes is
/// logged (with the places of the mistakes; the file holds no secrets) and the old policy stays.
#[cfg(unix)]
async fn reload_on_hangup(app: App, config_path: std::path::PathBuf) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: the policy reloads only on a restart");
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!(path = %config_path.display(), "SIGHUP: reloading the policy");
        if let Err(error) = app.reload(&config_path).await {
            tracing::error!(%error, "the config file was not reloaded; the policy in force stays");
        }
    }
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing the work in hand");
    shutdown.cancel();
}

pub async fn check_config(config_path: &Path, online: bool) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    println!(
        "{}: ok — {} group(s), listening on {}, database {}",
        config_path.display(),
        config.policy.groups.len(),
        config.listen,
        config.database_url
    );
    println!(
        "  audit trail: {}, {}",
        match &config.audit.database_url {
            Some(url) => format!("apart in {url}"),
            None => "in the main database".to_string(),
        },
        match config.audit.retention {
            // In days: humantime would say 400d is "1year 1month 4days 7h 26m 24s".
            Some(keep) => format!("events purged after {} days", keep.as_secs() / 86_400),
            None => "kept for ever".to_string(),
        }
    );
    for group in &config.policy.groups {
        println!(
            "  {}: provider {}{}, up to {} (default {}), {}, {} approval(s){}",
            group.name,
            group.provider.name(),
            signed_with(group),
            group.max_duration,
            group.default_duration,
            match &group.owners {
                Owners::EntraGroup(_) => "owners from Entra".to_string(),
                Owners::Listed(owners) => format!("{} owner(s)", owners.len()),
            },
            group.approvals_required,
            card_places(group)
        );
    }
    if online {
        check_online(&config).await?;
    }
    Ok(())
}

/// `check-config --online`: what only Microsoft Graph can tell — do the Entra groups exist, and
/// does the token carry the application permissions jitbot needs?
async fn check_online(config: &Config) -> anyhow::Result<()> {
    crate::app::install_crypto_provider();
    let graph = Graph::new(&config.graph, &Secrets::from_env())?;
    if !graph.is_configured() {
        bail!("--online needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET");
    }
    let entra_groups: Vec<_> = config
        .policy
        .groups
        .iter()
        .filter(|g| g.provider.is_entra() || !g.eligible.is_empty())
        .collect();
    let mut problems = Vec::new();

    let roles = graph
        .token_roles()
        .await
        .context("getting a Microsoft Graph token")?;
    let mut needed = vec!["GroupMember.ReadWrite.All", "User.Read.All"];
    if entra_groups
        .iter()
        .any(|g| g.provider == ProviderKind::EntraPimGroup)
    {
        needed.push("PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup");
    }
    for role in needed {
        if roles.iter().any(|r| r == role) {
            println!("  ✓ application permission {role}");
        } else {
            problems.push(format!(
                "the app registration lacks the application permission {role}: add it in Entra ID and grant admin consent"
            ));
        }
    }
    for group in entra_groups {
        let ids = group
            .provider
            .is_entra()
            .then_some(("target", group.target.as_str()))
            .into_iter()
            .chain(group.eligible.iter().map(|id| ("eligible", id.as_str())));
        for (key, id) in ids {
            match graph.group(id).await? {
                Some(name) => println!(
                    "  ✓ {}: {key} {id} is the Entra group \"{name}\"",
                    group.name
                ),
                None => problems.push(format!(
                    "{}: {key} {id} is not an Entra group jitbot can see",
                    group.name
                )),
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} problem(s) found online:\n{}",
            problems.len(),
            problems
                .iter()
                .map(|p| format!("  - {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    println!("online checks passed");
    Ok(())
}

/// For `check-config`: the variable whose secret signs a webhook group's events, and whether
/// they go over HTTP/2 from the first byte.
fn signed_with(group: &crate::domain::GroupPolicy) -> String {
    match &group.provider {
        ProviderKind::Webhook { secret_env, .. } => format!(
            " (signed with {}{})",
            secret_env
                .as_deref()
                .unwrap_or(crate::secrets::WEBHOOK_SECRET_ENV),
            if group.webhook_http2 {
                ", over HTTP/2"
            } else {
                ""
            }
        ),
        _ => String::new(),
    }
}

/// Where a group's approval cards go, for `check-config`.
fn card_places(group: &crate::domain::GroupPolicy) -> String {
    let channels: Vec<String> = group
        .approval_channels
        .iter()
        .map(|(platform, channel)| match platform {
            Platform::Slack => format!("Slack {channel}"),
            Platform::Teams => format!("Teams {channel}"),
        })
        .collect();
    if channels.is_empty() {
        ", cards by DM".to_string()
    } else {
        format!(", cards in {}", channels.join(" and "))
    }
}

/// The database the audit trail lives in (`audit_database_url`, else the main one), and the
/// main database, whose outbox holds events not moved yet.
struct TrailDbs {
    trail: store::Db,
    main: store::Db,
}

async fn open_trail(config_path: &Path) -> anyhow::Result<TrailDbs> {
    let config = Config::load(config_path)?;
    let main = store::connect(&config.database_url)
        .await
        .with_context(|| format!("opening {}", config.database_url))?;
    let trail = match &config.audit.database_url {
        // Reading the main database's empty table would report an intact, empty trail.
        None if store::audit_outbox::trail_is_apart(&*main.read()?)? => bail!(
            "this database's audit trail lives in its own database: set audit_database_url \
             to that database"
        ),
        None => main.clone(),
        Some(url) => {
            let audit = store::connect_audit(url)
                .await
                .with_context(|| format!("opening the audit database {url}"))?;
            if store::audit_outbox::trail_is_apart(&*main.read()?)? {
                crate::access::audit_trail::check_pairing(&main, &audit).await?;
            }
            audit
        }
    };
    Ok(TrailDbs { trail, main })
}

/// Opens the database the config names.
async fn open_db(config_path: &Path) -> anyhow::Result<store::Db> {
    let config = Config::load(config_path)?;
    store::connect(&config.database_url)
        .await
        .with_context(|| format!("opening {}", config.database_url))
}

pub async fn requests(config_path: &Path, status: Option<&str>, limit: i64) -> anyhow::Result<()> {
    let status: Option<RequestStatus> = status
        .map(|s| s.parse().map_err(anyhow::Error::msg))
        .transpose()?;
    let db = open_db(config_path).await?;
    let rows = store::requests::list(&*db.read()?, status, limit)?;
    println!(
        "{:>6}  {:<10}  {:<20}  {:<28}  {:>8}  {:<20}  justification",
        "id", "status", "group", "requester", "duration", "requested"
    );
    for r in rows {
        println!(
            "{:>6}  {:<10}  {:<20}  {:<28}  {:>8}  {:<20}  {}",
            r.id,
            r.status.as_str(),
            r.group,
            r.requester
                .email()
                .map(str::to_owned)
                .unwrap_or_else(|| r.requester.account.key()),
            r.duration.to_string(),
            r.requested_at.format("%Y-%m-%d %H:%M:%S"),
            r.justification
        );
    }
    Ok(())
}

pub fn teams_package(app_id: Option<&str>, output: &Path) -> anyhow::Result<()> {
    let Some(app_id) = app_id.filter(|id| !id.is_empty()) else {
        bail!(
            "the Teams app package needs the bot's app id: set MICROSOFT_APP_ID or pass --app-id \
             (the Application (client) ID of the Azure Bot's app registration)"
        );
    };
    teams::package::write_package(app_id, output)?;
    println!(
        "wrote {}: a Teams admin uploads it in the Teams admin center (Teams apps → Manage apps → \
         Upload new app)",
        output.display()
    );
    Ok(())
}

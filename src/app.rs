//! The application: everything a handler or job needs, built once from config and secrets.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::access::{Chat, Core};
use crate::audit_sink::AuditSink;
use crate::config::Config;
use crate::domain::{Policy, ProviderKind};
use crate::graph::Graph;
use crate::http::serve::ConnectionLimits;
use crate::metrics::Metrics;
use crate::providers::{
    EntraGroupProvider, EntraPimProvider, LocalProvider, Providers, WebhookProvider,
};
use crate::secrets::{Secret, Secrets};
use crate::slack::api::SlackApi;
use crate::slack::chat::SlackChat;
use crate::store;
use crate::teams::TeamsChat;
use crate::{access, http, scheduler, slack};

/// The composition root: the core, the chat adapters that plug into it, and the config and
/// secrets they were built from.
#[derive(Clone)]
pub struct App {
    pub core: Core,
    pub config: Arc<Config>,
    pub secrets: Arc<Secrets>,
    pub slack: Arc<SlackChat>,
    pub teams: Arc<TeamsChat>,
}

impl App {
    pub async fn build(config: Config, secrets: Secrets) -> anyhow::Result<App> {
        install_crypto_provider();
        check_slack_app_token(&secrets)?;
        let webhook_secrets = webhook_secrets(&config.policy, &secrets)?;
        let db = store::connect(&config.database_url)
            .await
            .with_context(|| format!("opening the database {}", config.database_url))?;
        let trail = audit_trail(&config, &db).await?;
        // Made first: the outbound clients count their failed calls into it.
        let metrics = Arc::new(Metrics::new());
        let slack = Arc::new(SlackChat {
            api: SlackApi::new(&config.slack.api_url, secrets.slack_bot_token.as_ref())?
                .counting_errors(metrics.api_errors()),
            db: db.clone(),
            connected: secrets.slack_bot_token.is_some(),
        });
        let mut teams = TeamsChat::new(&config.teams, &secrets, db.clone())?;
        teams.connector.count_errors_in(metrics.api_errors());
        let teams = Arc::new(teams);
        let discarded =
            store::settings::enter_teams_mode(&db, teams.auth.trial_mode(), chrono::Utc::now())
                .await
                .context("recording how Teams runs")?;
        trail.flush_after_commit().await;
        if discarded > 0 {
            tracing::warn!(
                rows = discarded,
                "a Teams bot is registered now: discarded what local trial mode had recorded"
            );
        }
        let filled = fill_grant_targets(&db, &config.policy)
            .await
            .context("recording what earlier requests grant")?;
        if filled > 0 {
            tracing::info!(
                requests = filled,
                "earlier requests now keep the provider and target they grant"
            );
        }
        let graph =
            Arc::new(Graph::new(&config.graph, &secrets)?.counting_errors(metrics.api_errors()));
        let needs_graph: Vec<&str> = config
            .policy
            .groups
            .iter()
            .filter(|g| access::directory::needs_directory(g))
            .map(|g| g.name.as_str())
            .collect();
        if !needs_graph.is_empty() && !graph.is_configured() {
            bail!(
                "groups {} use Microsoft Entra ID, but AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not set",
                needs_graph.join(", ")
            );
        }
        let providers = Providers {
            local: LocalProvider::new(db.clone()),
            webhook: WebhookProvider::new(webhook_secrets)?.counting_errors(metrics.api_errors()),
            entra: EntraGroupProvider::new(graph.clone()),
            pim: EntraPimProvider::new(graph.clone()),
        };
        let chats: Vec<Arc<dyn Chat>> = vec![slack.clone(), teams.clone()];
        let sweep_every = config.graph.sweep_interval.to_chrono();
        let core = Core::new(db, config.policy.clone(), providers, graph, chats)
            .with_sweep_every(sweep_every)
            .with_metrics(metrics)
            .with_audit_sink(audit_sink(&config, &secrets)?)
            .with_trail(trail);
        Ok(App {
            core,
            config: Arc::new(config),
            secrets: Arc::new(secrets),
            slack,
            teams,
        })
    }

    /// Serves HTTP on the configured address and runs the scheduler until `shutdown` fires.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let listener = TcpListener::bind(self.config.listen)
            .await
            .with_context(|| format!("listening on {}", self.config.listen))?;
        self.serve(listener, shutdown, true).await
    }

    /// Serves HTTP on `listener` until `shutdown`; with `background`, also runs the scheduler
    /// and the drift sweep (tests without it drive the scheduler to chosen instants).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
        background: bool,
    ) -> anyhow::Result<()> {
        self.serve_with(listener, shutdown, background, ConnectionLimits::default())
            .await
    }

    /// [`App::serve`] with other bounds on connections (tests shorten the timeouts).
    pub async fn serve_with(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
        background: bool,
        limits: ConnectionLimits,
    ) -> anyhow::Result<()> {
        match (
            &self.secrets.slack_signing_secret,
            &self.secrets.slack_app_token,
        ) {
            (None, None) => tracing::warn!(
                "SLACK_SIGNING_SECRET is not set: every request to /slack/* is refused"
            ),
            (None, Some(_)) => tracing::info!(
                "Slack Socket Mode only: SLACK_SIGNING_SECRET is not set, so every request to \
                 /slack/* is refused"
            ),
            _ => {}
        }
        if self.secrets.slack_bot_token.is_none() {
            tracing::warn!("SLACK_BOT_TOKEN is not set: jitbot cannot post to Slack");
        }
        if self.teams.auth.trial_mode() {
            tracing::warn!(
                "LOCAL TRIAL MODE for Teams ([teams] trial_mode = true): /api/messages accepts \
                 activities WITHOUT A TOKEN, from this machine only, never through a proxy. Nothing \
                 it records is used once a bot is registered. Set MICROSOFT_APP_ID, \
                 MICROSOFT_APP_PASSWORD and MICROSOFT_APP_TENANT_ID to connect real Teams."
            );
        } else if self.secrets.microsoft_app_id.is_none() {
            tracing::info!(
                "MICROSOFT_APP_ID is not set: every request to /api/messages is refused"
            );
        }
        if self.secrets.slack_bot_token.is_some() {
            // Learn our workspace early, so that slash commands from another can be refused at once.
            let slack = self.slack.clone();
            tokio::spawn(async move {
                if let Err(error) = slack.api.team_id().await {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "could not ask Slack which workspace the bot token belongs to"
                    );
                }
            });
        }
        let groups = self.core.policy().groups.len();
        tracing::info!(address = %listener.local_addr()?, groups, "jitbot is listening");
        let scheduler = match background {
            true => Some(
                scheduler::run_apart(self.core.clone(), shutdown.clone())
                    .context("starting the scheduler's thread")?,
            ),
            false => None,
        };
        if background {
            access::sweep::schedule(&self.core, chrono::Utc::now())
                .await
                .context("queueing the drift sweep")?;
            access::audit_forward::schedule(&self.core, chrono::Utc::now())
                .await
                .context("queueing the audit forwarder")?;
            access::audit_retention::schedule(&self.core, chrono::Utc::now())
                .await
                .context("queueing the audit purge")?;
        }
        let socket_mode = slack::socket_mode::spawn(&self, &shutdown);
        http::serve::serve(listener, http::router(self), limits, shutdown.clone()).await;
        shutdown.cancel();
        if let Some(socket_mode) = socket_mode {
            socket_mode.await.context("Slack Socket Mode panicked")?;
        }
        if let Some(scheduler) = scheduler {
            scheduler.await.context("the scheduler panicked")?;
        }
        Ok(())
    }
}

/// Fills the grant targets of requests made before snapshots existed
/// (`store::grant_targets::fill_missing`), 10 000 ids per transaction: a million at once kept a
/// copy of every page changed, 200 MiB, until the end.
async fn fill_grant_targets(db: &store::Db, policy: &Policy) -> store::Result<u64> {
    const IDS_AT_ONCE: i64 = 10_000;
    let last = store::grant_targets::last_request_id(&*db.read()?)?;
    let mut filled = 0;
    let mut first = 1;
    while first <= last {
        let ids = first..=first + IDS_AT_ONCE - 1;
        filled +=
            store::write(db, |tx| store::grant_targets::fill_missing(tx, policy, ids)).await?;
        first += IDS_AT_ONCE;
    }
    Ok(filled)
}

/// The signing secrets the webhook groups name, by variable (`webhook_secret_env`, else
/// `JITBOT_WEBHOOK_SECRET`). Fails naming every group whose variable is not set.
fn webhook_secrets(policy: &Policy, secrets: &Secrets) -> anyhow::Result<HashMap<String, Secret>> {
    let mut by_variable = HashMap::new();
    let mut missing = Vec::new();
    for group in &policy.groups {
        let ProviderKind::Webhook { secret_env, .. } = &group.provider else {
            continue;
        };
        match secrets.webhook_secret_for(secret_env.as_deref()) {
            (name, Some(secret)) => {
                by_variable.insert(name.to_string(), secret);
            }
            (name, None) => missing.push(format!(
                "the webhook group {} signs its events with the secret in {name}, which is not set",
                group.name
            )),
        }
    }
    if !missing.is_empty() {
        bail!("{}", missing.join("; "));
    }
    // The default secret is kept even when no group uses it yet: a reload may add one.
    if let (name, Some(secret)) = secrets.webhook_secret_for(None) {
        by_variable.insert(name.to_string(), secret);
    }
    Ok(by_variable)
}

/// `SLACK_APP_TOKEN` must be an app-level token: a bot or user token there is a mistake that
/// would otherwise only show as failed connections. The value itself is never printed.
fn check_slack_app_token(secrets: &Secrets) -> anyhow::Result<()> {
    match &secrets.slack_app_token {
        Some(token) if !token.expose().trim().starts_with("xapp-") => bail!(
            "SLACK_APP_TOKEN must be an app-level token (xapp-…, Basic Information → App-Level \
             Tokens, scope connections:write); the value set is not one"
        ),
        _ => Ok(()),
    }
}

/// slack-morphism brings rustls with ring; reqwest is built without a provider of its own, so
/// exactly one is installed, once, before any client is made.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The audit collector, when `audit_webhook` is set; its signing secret must be in the
/// environment.
fn audit_sink(config: &Config, secrets: &Secrets) -> anyhow::Result<Option<AuditSink>> {
    let Some(webhook) = &config.audit_webhook else {
        return Ok(None);
    };
    let Some(secret) = secrets.webhook_secrets.get(&webhook.secret_env).cloned() else {
        anyhow::bail!(
            "audit_webhook is set, so {} must hold its signing secret",
            webhook.secret_env
        );
    };
    Ok(Some(AuditSink::new(webhook.url.clone(), secret)?))
}

/// Where the audit trail lives: in the main database, or apart in `audit_database_url`, where
/// what a crash left in the outbox is moved before anything else happens.
async fn audit_trail(config: &Config, main: &store::Db) -> anyhow::Result<access::Trail> {
    let trail = match &config.audit.database_url {
        None => access::Trail::together(main.clone()).await?,
        Some(url) => {
            let audit = store::connect_audit(url)
                .await
                .with_context(|| format!("opening the audit database {url}"))?;
            access::Trail::apart(main.clone(), audit).await?
        }
    };
    trail.repair_at_start(chrono::Utc::now()).await?;
    Ok(trail.with_retention(config.audit.retention))
}

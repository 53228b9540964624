//! One bench run: the floor, then jitbot (approvals, acks at each rate with their cards, saturation), then
//! jitbot again on a database of seeded grants for the revocation lag. Each server is a fresh
//! child process on a fresh SQLite file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;

use crate::fake_provider::FakeProvider;
use crate::fake_slack::FakeSlack;
use crate::flows::{self, Approvals};
use crate::load::{self, Sample};
use crate::server::{self, Kind, Server};
use crate::slack_client::SlackClient;
use crate::stats::Latencies;

/// What to measure, from the command line.
#[derive(Debug, Clone)]
pub struct Plan {
    pub rates: Vec<u32>,
    pub secs: f64,
    pub history: u64,
    pub open: u64,
    pub approvals: u64,
    pub approval_rate: u32,
    pub saturation_secs: f64,
    pub concurrency: usize,
    pub grants: u64,
    pub due: u64,
    pub provider_delay: Duration,
    pub server_core: Option<usize>,
    pub drain: Duration,
}

/// The acks of one open-loop rate.
pub struct RateResult {
    pub rate: u32,
    pub acks: Latencies,
    pub failed: usize,
    pub served_per_sec: f64,
    pub cpu_percent: Option<f64>,
    /// jitbot only: command → approval card, and cards that never came within the drain time.
    pub cards: Option<(Latencies, usize)>,
}

pub struct SystemResult {
    pub rates: Vec<RateResult>,
    pub saturation: f64,
    pub peak_rss_mib: Option<f64>,
}

pub struct Revocations {
    pub lag: Latencies,
    pub missing: usize,
    pub peak_rss_mib: Option<f64>,
}

pub struct Results {
    pub floor: SystemResult,
    pub jitbot: SystemResult,
    pub approvals: Approvals,
    pub revocations: Revocations,
}

const REQUEST_TEXT: &str = "request bench 1h bench load";

pub async fn run(plan: &Plan, dir: &Path) -> anyhow::Result<Results> {
    let slack = FakeSlack::start().await?;
    let provider = FakeProvider::start(plan.provider_delay).await?;
    eprintln!("== floor (axum + Slack signature + one SQLite insert)");
    let floor_server = Server::start(
        Kind::Floor {
            database: dir.join("floor.db"),
        },
        0,
        plan.server_core,
        &dir.join("floor.log"),
    )
    .await?;
    let floor = measure(plan, &floor_server, &slack, "F", None).await?;
    drop(floor_server);

    eprintln!(
        "== jitbot (history: {} requests, {} open)",
        plan.history, plan.open
    );
    let database = dir.join("jitbot.db");
    let db = crate::seed::create(&database).await?;
    crate::seed::history(&db, plan.history, plan.open, Utc::now()).await?;
    db.close().await;
    let jitbot = start_jitbot(plan, dir, "jitbot", &database, &slack, &provider).await?;
    // Approvals first, on a quiet server: the rates after them leave a backlog behind.
    eprintln!(
        "   approvals: {} at {}/s",
        plan.approvals, plan.approval_rate
    );
    let client = SlackClient::new(&jitbot.url, &slack.url)?;
    let approvals = flows::approvals(
        &client,
        &slack,
        &provider,
        plan.approvals,
        plan.approval_rate,
    )
    .await;
    let mut result = measure(plan, &jitbot, &slack, "J", Some(plan.drain)).await?;
    eprintln!(
        "   saturation: {} clients for {} s",
        plan.concurrency, plan.saturation_secs
    );
    result.saturation = load::saturation(
        &client,
        "JS",
        plan.concurrency,
        plan.saturation_secs,
        REQUEST_TEXT,
    )
    .await;
    result.peak_rss_mib = jitbot.peak_rss_mib();
    drop(jitbot);

    let revocations = revocations(plan, dir, &slack, &provider).await?;
    Ok(Results {
        floor,
        jitbot: result,
        approvals,
        revocations,
    })
}

async fn start_jitbot(
    plan: &Plan,
    dir: &Path,
    name: &str,
    database: &Path,
    slack: &FakeSlack,
    provider: &FakeProvider,
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let config = dir.join(format!("{name}.toml"));
    let text = server::jitbot_config(port, database, &slack.api_url(), &provider.url, "8h");
    std::fs::write(&config, text)?;
    Server::start(
        Kind::Jitbot { config },
        port,
        plan.server_core,
        &dir.join(format!("{name}.log")),
    )
    .await
}

/// Acks at each rate (and, with `drain`, the cards they led to), then the saturation throughput
/// for the floor (jitbot's is measured after its approvals).
async fn measure(
    plan: &Plan,
    server: &Server,
    slack: &FakeSlack,
    run: &str,
    drain: Option<Duration>,
) -> anyhow::Result<SystemResult> {
    let client = SlackClient::new(&server.url, &slack.url)?;
    let mut rates = Vec::new();
    for &rate in &plan.rates {
        eprintln!("   {rate}/s for {} s", plan.secs);
        let cpu_before = server.cpu_seconds();
        let started = std::time::Instant::now();
        let samples = load::open_loop(
            &client,
            &format!("{run}{rate}X"),
            rate,
            plan.secs,
            REQUEST_TEXT,
        )
        .await;
        let elapsed = started.elapsed().as_secs_f64();
        let cpu_percent = match (cpu_before, server.cpu_seconds()) {
            (Some(a), Some(b)) => Some((b - a) / elapsed * 100.0),
            _ => None,
        };
        let cards = match drain {
            Some(limit) => Some(flows::cards_for(slack, &samples, limit).await),
            None => None,
        };
        rates.push(rate_result(rate, &samples, elapsed, cpu_percent, cards));
    }
    let saturation = if drain.is_none() {
        eprintln!(
            "   saturation: {} clients for {} s",
            plan.concurrency, plan.saturation_secs
        );
        load::saturation(
            &client,
            &format!("{run}S"),
            plan.concurrency,
            plan.saturation_secs,
            REQUEST_TEXT,
        )
        .await
    } else {
        0.0
    };
    Ok(SystemResult {
        rates,
        saturation,
        peak_rss_mib: server.peak_rss_mib(),
    })
}

fn rate_result(
    rate: u32,
    samples: &[Sample],
    elapsed: f64,
    cpu_percent: Option<f64>,
    cards: Option<(Latencies, usize)>,
) -> RateResult {
    let ok: Vec<_> = samples.iter().filter(|s| s.ok).collect();
    RateResult {
        rate,
        // Failed requests count at their full wait: a timeout is a latency too.
        acks: Latencies::from_durations(samples.iter().map(|s| s.latency)),
        failed: samples.len() - ok.len(),
        served_per_sec: ok.len() as f64 / elapsed,
        cpu_percent,
        cards,
    }
}

/// `grants` active grants, `due` of them due in the same second a few seconds after the server
/// starts: how late each revocation reaches the provider.
async fn revocations(
    plan: &Plan,
    dir: &Path,
    slack: &FakeSlack,
    provider: &FakeProvider,
) -> anyhow::Result<Revocations> {
    eprintln!(
        "== revocations: {} active grants, {} due in the same second",
        plan.grants, plan.due
    );
    let database = dir.join("revocations.db");
    let db = crate::seed::create(&database).await?;
    // Seeding takes a while for large cases; the due second is set once it is done.
    let lead = chrono::Duration::seconds(3);
    let placeholder = Utc::now() + chrono::Duration::days(1);
    let due = crate::seed::grants(&db, plan.grants, plan.due, placeholder).await?;
    let due_at = Utc::now() + lead;
    let due_at =
        due_at - chrono::Duration::milliseconds(i64::from(due_at.timestamp_subsec_millis()));
    crate::seed::move_due(&db, &due, due_at).await?;
    db.close().await;
    let jitbot = start_jitbot(plan, dir, "revocations", &database, slack, provider).await?;
    let (lag, missing) = flows::revocations(provider, &due, due_at, Duration::from_secs(60)).await;
    let peak_rss_mib = jitbot.peak_rss_mib();
    Ok(Revocations {
        lag,
        missing,
        peak_rss_mib,
    })
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A fresh directory for this run's databases, configs and server logs.
pub fn work_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("jitbot-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

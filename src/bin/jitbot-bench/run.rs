//! One bench run: the floor, then jitbot (approvals, acks at each rate with their cards,
//! saturation), then jitbot on a database of seeded grants for the revocation lag. Every step
//! gets a fresh server process on its own SQLite file (jitbot's a copy of the seeded history),
//! so that no step pays for the backlog another left.

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
    /// The provider's events over HTTP/1.1, one connection for each in flight, instead of
    /// HTTP/2 over one.
    pub provider_http1: bool,
    pub server_core: Option<usize>,
    pub drain: Duration,
}

/// The acks of one open-loop rate.
pub struct RateResult {
    pub rate: u32,
    pub acks: Latencies,
    pub failed: usize,
    /// How far behind its schedule the load generator itself fell (the most for one request):
    /// large values mean the figures above are the client's as much as the server's.
    pub client_behind_ms: f64,
    pub served_per_sec: f64,
    pub cpu_percent: Option<f64>,
    /// jitbot only: command → approval card, and cards that never came within the drain time.
    pub cards: Option<(Latencies, usize)>,
    /// What each served request cost the server, its background work (check, thread, card)
    /// included: from the start of the step until its cards were in.
    pub cost: Option<Cost>,
    /// Time the hypervisor gave the server's core to someone else while the load ran (the
    /// `steal` of `/proc/stat`): a virtual machine's pause stalls every server alike, and
    /// shows here rather than as the server's own.
    pub stolen_ms: Option<f64>,
}

/// A request's share of the server's CPU time and context switches.
#[derive(Clone, Copy)]
pub struct Cost {
    pub cpu_ms: f64,
    pub context_switches: f64,
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
    let bench = Bench {
        plan,
        dir,
        slack: FakeSlack::start().await?,
        provider: FakeProvider::start(plan.provider_delay).await?,
        template: dir.join("history.db"),
    };
    eprintln!("== floor (axum + Slack signature + one SQLite insert)");
    let floor = bench.measure(System::Floor).await?;
    eprintln!(
        "== jitbot (history: {} requests, {} open)",
        plan.history, plan.open
    );
    let db = crate::seed::create(&bench.template).await?;
    crate::seed::history(
        &db,
        plan.history,
        plan.open,
        Utc::now(),
        &bench.provider.url,
    )
    .await?;
    // Closing the last connection checkpoints the WAL: the file alone is the database.
    db.close().await;
    eprintln!(
        "   approvals: {} at {}/s",
        plan.approvals, plan.approval_rate
    );
    let server = bench.fresh(System::Jitbot, "approvals").await?;
    let client = SlackClient::new(&server.url, &bench.slack.url)?;
    let approvals = flows::approvals(
        &client,
        &bench.slack,
        &bench.provider,
        plan.approvals,
        plan.approval_rate,
    )
    .await;
    let approvals_rss = server.peak_rss_mib();
    drop(server);
    let mut jitbot = bench.measure(System::Jitbot).await?;
    jitbot.peak_rss_mib = max(jitbot.peak_rss_mib, approvals_rss);
    let revocations = revocations(plan, dir, &bench.slack, &bench.provider).await?;
    Ok(Results {
        floor,
        jitbot,
        approvals,
        revocations,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum System {
    Floor,
    Jitbot,
}

/// What every step shares: the fakes, and the seeded database each jitbot starts from a copy of.
struct Bench<'a> {
    plan: &'a Plan,
    dir: &'a Path,
    slack: FakeSlack,
    provider: FakeProvider,
    template: PathBuf,
}

impl Bench<'_> {
    /// A fresh server for one step, so that no step inherits another's backlog.
    async fn fresh(&self, system: System, step: &str) -> anyhow::Result<Server> {
        let name = match system {
            System::Floor => format!("floor-{step}"),
            System::Jitbot => format!("jitbot-{step}"),
        };
        let database = self.dir.join(format!("{name}.db"));
        let log = self.dir.join(format!("{name}.log"));
        self.slack.reset();
        self.provider.reset();
        match system {
            System::Floor => {
                Server::start(Kind::Floor { database }, 0, self.plan.server_core, &log).await
            }
            System::Jitbot => {
                copy_database(&self.template, &database).await?;
                start_jitbot(
                    self.plan,
                    self.dir,
                    &name,
                    &database,
                    &self.slack,
                    &self.provider,
                )
                .await
            }
        }
    }

    /// Acks at each rate (for jitbot with the cards they led to), then the saturation throughput,
    /// each on a fresh server.
    async fn measure(&self, system: System) -> anyhow::Result<SystemResult> {
        let (plan, slack) = (self.plan, &self.slack);
        let mut rates = Vec::new();
        let mut peak_rss_mib = None;
        let run = if system == System::Floor { "F" } else { "J" };
        for &rate in &plan.rates {
            eprintln!("   {rate}/s for {} s", plan.secs);
            let server = self.fresh(system, &rate.to_string()).await?;
            let client = SlackClient::new(&server.url, &slack.url)?;
            let cpu_before = server.cpu_seconds();
            let switches_before = server.context_switches();
            let stolen_before = plan.server_core.and_then(server::stolen_ms);
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
            let stolen_ms = match (stolen_before, plan.server_core.and_then(server::stolen_ms)) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            };
            let cpu_percent = match (cpu_before, server.cpu_seconds()) {
                (Some(a), Some(b)) => Some((b - a) / elapsed * 100.0),
                _ => None,
            };
            let cards = match system {
                System::Jitbot => Some(flows::cards_for(slack, &samples, plan.drain).await),
                System::Floor => None,
            };
            let served = samples.iter().filter(|s| s.ok).count().max(1) as f64;
            let cost = match (
                (cpu_before, server.cpu_seconds()),
                (switches_before, server.context_switches()),
            ) {
                ((Some(a), Some(b)), (Some(c), Some(d))) => Some(Cost {
                    cpu_ms: (b - a) * 1000.0 / served,
                    context_switches: d.saturating_sub(c) as f64 / served,
                }),
                _ => None,
            };
            let mut result = rate_result(rate, &samples, elapsed, cpu_percent, cards);
            result.cost = cost;
            result.stolen_ms = stolen_ms;
            rates.push(result);
            peak_rss_mib = max(peak_rss_mib, server.peak_rss_mib());
        }
        eprintln!(
            "   saturation: {} clients for {} s",
            plan.concurrency, plan.saturation_secs
        );
        let server = self.fresh(system, "saturation").await?;
        let client = SlackClient::new(&server.url, &slack.url)?;
        let saturation = load::saturation(
            &client,
            &format!("{run}S"),
            plan.concurrency,
            plan.saturation_secs,
            REQUEST_TEXT,
        )
        .await;
        peak_rss_mib = max(peak_rss_mib, server.peak_rss_mib());
        Ok(SystemResult {
            rates,
            saturation,
            peak_rss_mib,
        })
    }
}

pub fn max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
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
    let webhook = (provider.url.as_str(), plan.provider_http1);
    let text = server::jitbot_config(port, database, &slack.api_url(), webhook, "8h");
    std::fs::write(&config, text)?;
    Server::start(
        Kind::Jitbot { config },
        port,
        plan.server_core,
        &dir.join(format!("{name}.log")),
    )
    .await
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
        client_behind_ms: samples
            .iter()
            .map(|s| s.sent_late.as_secs_f64() * 1000.0)
            .fold(0.0, f64::max),
        served_per_sec: ok.len() as f64 / elapsed,
        cpu_percent,
        cards,
        cost: None,
        stolen_ms: None,
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
    slack.reset();
    provider.reset();
    let database = dir.join("revocations.db");
    let db = crate::seed::create(&database).await?;
    // Seeding takes a while for large cases; the due second is set once it is done.
    let lead = chrono::Duration::seconds(3);
    let placeholder = Utc::now() + chrono::Duration::days(1);
    let due = crate::seed::grants(&db, plan.grants, plan.due, placeholder, &provider.url).await?;
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

/// A copy of the database at `from`, made by SQLite (`VACUUM INTO`): a consistent snapshot
/// whatever its WAL holds. A copy of the file alone missed what the WAL still held, and could
/// be torn: the connection that closes last copies the WAL into the file, and the seeding's
/// jitbot handle left its WAL copier's connection open for up to a copy's interval after it
/// closed. One run found its step's copy "malformed"; the approvals step could start on a
/// database without the seeded history.
async fn copy_database(from: &Path, to: &Path) -> anyhow::Result<()> {
    let (from, to) = (from.to_owned(), to.to_owned());
    tokio::task::spawn_blocking(move || {
        if let Err(error) = std::fs::remove_file(&to)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            return Err(error.into());
        }
        let source = rusqlite::Connection::open(&from)?;
        source.busy_timeout(Duration::from_secs(10))?;
        source.execute("VACUUM INTO ?1", [to.to_string_lossy()])?;
        Ok(())
    })
    .await?
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What a connection still open committed sits in the WAL, not in the file: the copy has it.
    #[tokio::test]
    async fn a_step_s_copy_holds_what_the_wal_still_holds() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from.db"), dir.path().join("to.db"));
        let open = rusqlite::Connection::open(&from).unwrap();
        open.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3);",
        )
        .unwrap();
        std::fs::write(&to, b"an older copy").unwrap();
        copy_database(&from, &to).await.unwrap();
        let copy = rusqlite::Connection::open(&to).unwrap();
        let rows: i64 = copy
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 3);
        drop(open);
    }
}

//! Fault runs, bounded in time: (1) jitbot is killed with SIGKILL at random moments during a
//! load run with approvals and one-minute grants, and started again; afterwards the database and
//! the fake provider's record must show every approved request granted once and revoked once,
//! nothing stuck, nothing doubled, the audit chain intact. (2) At the same time, another jitbot
//! sees its provider down while grants come due; once it is back, every due revocation must
//! reach it within 10 s. Both parts run side by side, each with its own fakes and database.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::fake_provider::FakeProvider;
use crate::fake_slack::FakeSlack;
use crate::server::{self, Kind, Server};
use crate::slack_client::{SlackClient, user};
use crate::stats::{Latencies, ms};

/// `12 ms`, `1.50 s`.
fn with_unit(value: Option<f64>) -> String {
    match value {
        Some(v) if v < 1000.0 => format!("{} ms", ms(Some(v))),
        other => ms(other),
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct FaultArgs {
    /// Seconds of load (and of random kills) in the kill run; its grants last one minute more.
    #[arg(long, default_value_t = 20)]
    load_secs: u64,
    /// Requests a second during the load.
    #[arg(long, default_value_t = 5)]
    rate: u32,
    /// How many times jitbot is killed during the load.
    #[arg(long, default_value_t = 4)]
    kills: u32,
    /// How long the provider is down in the outage run.
    #[arg(long, default_value_t = 60)]
    outage_secs: u64,
    /// Grants coming due while the provider is down.
    #[arg(long, default_value_t = 50)]
    outage_grants: u64,
    /// How long the fake provider takes to answer, in ms.
    #[arg(long, default_value_t = 50)]
    provider_delay_ms: u64,
}

/// A one-minute grant: the shortest a duration can be.
const GRANT: &str = "1m";
/// Revocations must reach a provider that came back within this.
const BACK_WITHIN: Duration = Duration::from_secs(10);

pub async fn run(args: &FaultArgs) -> anyhow::Result<()> {
    jitbot::app::install_crypto_provider();
    let dir = crate::run::work_dir()?;
    let (kills, outage) = tokio::join!(kill_run(args, &dir), outage_run(args, &dir));
    let problems: Vec<String> = [kills, outage]
        .into_iter()
        .flat_map(|r| r.unwrap_or_else(|e| vec![format!("could not run: {e:#}")]))
        .collect();
    eprintln!("logs and databases are in {}", dir.display());
    if problems.is_empty() {
        println!("fault runs: ok");
        Ok(())
    } else {
        anyhow::bail!(
            "fault runs found {} problem(s):\n  - {}",
            problems.len(),
            problems.join("\n  - ")
        )
    }
}

async fn start(
    args: &FaultArgs,
    dir: &Path,
    name: &str,
) -> anyhow::Result<(FakeSlack, FakeProvider, Server, std::path::PathBuf)> {
    let slack = FakeSlack::start().await?;
    let provider = FakeProvider::start(Duration::from_millis(args.provider_delay_ms)).await?;
    let database = dir.join(format!("{name}.db"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.join(format!("{name}.toml"));
    write_config(&config, port, &database, &slack, &provider)?;
    let jitbot = Server::start(
        Kind::Jitbot { config },
        port,
        None,
        &dir.join(format!("{name}.log")),
    )
    .await?;
    Ok((slack, provider, jitbot, database))
}

async fn kill_run(args: &FaultArgs, dir: &Path) -> anyhow::Result<Vec<String>> {
    let (slack, provider, mut jitbot, database) = start(args, dir, "kills").await?;
    let client = SlackClient::new(&jitbot.url, &slack.url)?;
    let load_for = Duration::from_secs(args.load_secs);
    let started = Instant::now();
    let mut kill_at: Vec<Duration> = (0..args.kills)
        .map(|_| load_for.mul_f64(rand::random::<f64>()))
        .collect();
    kill_at.sort();
    let load = tokio::spawn(send_requests(client.clone(), args.rate, load_for));
    // Grants last a minute from approval; requests approved at the end of the load end last.
    let until = started + load_for + Duration::from_secs(60 + 40);
    let clicker = tokio::spawn(approve_every_card(client, slack.clone(), until));
    for at in &kill_at {
        tokio::time::sleep_until((started + *at).into()).await;
        jitbot.restart_after_kill().await?;
        eprintln!(
            "kills: killed with SIGKILL at {:.1} s, serving again after {} ms",
            at.as_secs_f64(),
            jitbot.ready_after().as_millis()
        );
    }
    let sent = load.await?;
    let db = open(&database).await?;
    while Instant::now() < until && unfinished(&db).await? > 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    clicker.abort();
    let problems = check_kills(&db, &database, &provider).await?;
    eprintln!(
        "kills: {sent} requests sent, {} kills, {} problem(s)",
        kill_at.len(),
        problems.len()
    );
    Ok(problems)
}

/// `rate` requests a second for `load_for`, each from a new user; errors while jitbot is down
/// are expected. Returns how many were sent.
async fn send_requests(client: SlackClient, rate: u32, load_for: Duration) -> u64 {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < load_for {
        let (client, who) = (client.clone(), user("FAULT", n));
        tokio::spawn(async move {
            client
                .command(&who, &format!("request bench {GRANT} fault run"))
                .await
        });
        n += 1;
        tokio::time::sleep_until((started + period * n as u32).into()).await;
    }
    n
}

/// The owner approves every card that shows up, clicking again (every 2 s) until the card shows
/// the decision: a click may land while jitbot is being killed.
async fn approve_every_card(client: SlackClient, slack: FakeSlack, until: Instant) {
    let mut clicked: HashMap<i64, Instant> = HashMap::new();
    while Instant::now() < until {
        for id in slack.carded() {
            let recent = clicked
                .get(&id)
                .is_some_and(|at| at.elapsed() < Duration::from_secs(2));
            if slack.card(id).decided.is_none() && !recent {
                clicked.insert(id, Instant::now());
                let client = client.clone();
                tokio::spawn(async move { client.approve(id).await });
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open(database: &Path) -> anyhow::Result<sqlx::SqlitePool> {
    Ok(sqlx::SqlitePool::connect(&format!("sqlite://{}", database.display())).await?)
}

async fn unfinished(db: &sqlx::SqlitePool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM requests WHERE status NOT IN ('ended', 'denied', 'cancelled', 'expired', 'failed')")
        .fetch_one(db)
        .await
}

/// id, status, granted_at, expires_at, `granted` events, end events.
type RequestRow = (i64, String, Option<i64>, Option<i64>, i64, i64);

/// Every request granted once and ended once, at the provider as in the database.
async fn check_kills(
    db: &sqlx::SqlitePool,
    database: &Path,
    provider: &FakeProvider,
) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let rows: Vec<RequestRow> = sqlx::query_as(
        "SELECT r.id, r.status, r.granted_at, r.expires_at, \
             (SELECT COUNT(*) FROM audit_events a WHERE a.request_id = r.id AND a.action = 'granted'), \
             (SELECT COUNT(*) FROM audit_events a WHERE a.request_id = r.id AND a.action IN \
                 ('revoked', 'ended_kept_prior_membership', 'ended_membership_still_held')) \
         FROM requests r ORDER BY r.id",
    )
    .fetch_all(db)
    .await?;
    let deliveries = provider.deliveries();
    let accepted = |action: &str, id: i64| -> Vec<DateTime<Utc>> {
        deliveries
            .iter()
            .filter(|d| d.accepted && d.action == action && d.request_id == id)
            .map(|d| d.at)
            .collect()
    };
    let (mut granted, mut repeated, mut lags) = (0, 0, Vec::new());
    for (id, status, granted_at, expires_at, grants, ends) in &rows {
        let (at_provider, revoked) = (accepted("grant", *id), accepted("revoke", *id));
        if status != "ended" {
            problems.push(format!("request #{id} is {status}, not ended"));
        }
        if granted_at.is_none() {
            if !at_provider.is_empty() && revoked.is_empty() {
                problems.push(format!(
                    "request #{id} was granted at the provider but never recorded or undone"
                ));
            }
            continue;
        }
        granted += 1;
        if *grants != 1 || *ends != 1 {
            problems.push(format!(
                "request #{id}: {grants} `granted` and {ends} end events (want 1 and 1)"
            ));
        }
        let (Some(first_revoke), Some(last_grant)) =
            (revoked.iter().min(), at_provider.iter().max())
        else {
            problems.push(format!(
                "request #{id}: {} grants and {} revocations reached the provider",
                at_provider.len(),
                revoked.len()
            ));
            continue;
        };
        if last_grant > first_revoke {
            problems.push(format!(
                "request #{id} was granted again after its revocation"
            ));
        }
        repeated += at_provider.len() - 1 + revoked.len() - 1;
        if let Some(expires) = expires_at.and_then(DateTime::from_timestamp_millis) {
            lags.push((*first_revoke - expires).num_milliseconds() as f64);
        }
    }
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE json_extract(payload, '$.job') NOT IN ('sweep', 'forward_audit')",
    )
    .fetch_one(db)
    .await?;
    if left > 0 {
        problems.push(format!("{left} jobs are still queued"));
    }
    let trail = check_trail(database).await?;
    if !trail.is_intact() {
        problems.push(format!(
            "the audit trail does not verify: {:?}",
            trail.chain
        ));
    }
    if granted == 0 {
        problems.push("no request was granted: the run tested nothing".into());
    }
    let lags = Latencies::from_ms(lags);
    eprintln!(
        "kills: {} requests, {granted} granted and revoked; {repeated} repeated deliveries (at least once, as documented); \
         revocation lag p50 {}, max {}; audit trail {} events, intact: {}",
        rows.len(),
        with_unit(lags.percentile(50.0)),
        with_unit(lags.max()),
        trail.events,
        trail.is_intact()
    );
    Ok(problems)
}

/// jitbot's own check of the audit trail, on a read-only connection to the file (jitbot may
/// still be running), off the runtime's threads: the outage run goes on beside it.
async fn check_trail(database: &Path) -> anyhow::Result<jitbot::store::audit::TrailCheck> {
    let database = database.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let conn = jitbot::store::Connection::open_with_flags(
            &database,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(jitbot::store::audit::check_trail(&conn, None)?)
    })
    .await?
}

async fn outage_run(args: &FaultArgs, dir: &Path) -> anyhow::Result<Vec<String>> {
    let database = dir.join("outage.db");
    let slack = FakeSlack::start().await?;
    let provider = FakeProvider::start(Duration::from_millis(args.provider_delay_ms)).await?;
    let db = crate::seed::create(&database).await?;
    let due_at = Utc::now() + chrono::Duration::seconds(5);
    let all = args.outage_grants;
    let due = crate::seed::grants(&db, all, all, due_at, &provider.url).await?;
    db.close().await;
    provider.set_down(true);
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.join("outage.toml");
    write_config(&config, port, &database, &slack, &provider)?;
    let _jitbot =
        Server::start(Kind::Jitbot { config }, port, None, &dir.join("outage.log")).await?;
    let back_at = due_at + chrono::Duration::seconds(args.outage_secs as i64);
    let wait = (back_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    provider.set_down(false);
    let back_at = Utc::now();
    eprintln!("outage: provider back after {} s down", args.outage_secs);
    let (after_return, missing) = crate::flows::revocations(
        &provider,
        &due,
        back_at,
        BACK_WITHIN + Duration::from_secs(20),
    )
    .await;
    let refused = provider.deliveries().iter().filter(|d| !d.accepted).count();
    eprintln!(
        "outage: {} grants due during a {} s outage ({refused} attempts refused); after the return: p50 {}, max {}, {missing} not revoked",
        due.len(),
        args.outage_secs,
        with_unit(after_return.percentile(50.0)),
        with_unit(after_return.max()),
    );
    let mut problems = Vec::new();
    if missing > 0 {
        problems.push(format!(
            "outage: {missing} due revocations never reached the provider once it was back"
        ));
    }
    let late = after_return.over(BACK_WITHIN.as_secs_f64() * 1000.0);
    if late > 0 {
        problems.push(format!(
            "outage: {late} revocations came more than 10 s after the provider returned (max {})",
            with_unit(after_return.max())
        ));
    }
    Ok(problems)
}

/// jitbot's config for a fault run at `path`: the bench's, its events over HTTP/2.
fn write_config(
    path: &Path,
    port: u16,
    database: &Path,
    slack: &FakeSlack,
    provider: &FakeProvider,
) -> anyhow::Result<()> {
    let webhook = (provider.url.as_str(), false);
    let text = server::jitbot_config(port, database, &slack.api_url(), webhook, "8h");
    Ok(std::fs::write(path, text)?)
}

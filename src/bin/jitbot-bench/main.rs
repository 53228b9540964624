//! `jitbot-bench`: jitbot under load beside a floor server, through signed Slack requests and
//! embedded fakes on 127.0.0.1 — a table for people, one JSON line for tools. `fault` kills
//! jitbot at random and takes its provider down, then checks that nothing was lost or doubled.

mod fake_provider;
mod fake_slack;
mod fakes_runtime;
mod fault;
mod floor;
mod flows;
mod load;
mod pacer;
mod report;
mod run;
mod seed;
mod server;
mod slack_client;
mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The allocator `jitbot` itself uses (see `src/main.rs`): the server the bench starts runs from
/// this binary, and must be what `jitbot serve` runs.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(about = "Benchmark jitbot against a floor server, or run its fault checks")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Kill jitbot at random during a load run with approvals and short grants, and take the
    /// provider down for a while; check that nothing was lost, doubled or left late.
    Fault(fault::FaultArgs),
    #[command(name = "__jitbot", hide = true)]
    Jitbot {
        #[arg(long)]
        config: PathBuf,
    },
    #[command(name = "__floor", hide = true)]
    Floor {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        database: PathBuf,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// Open-loop rates, requests a second (500: issue 11's target for cards is stated there).
    #[arg(long, value_delimiter = ',', default_value = "200,500,1000,3000")]
    rates: Vec<u32>,
    /// Seconds at each rate.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Requests in the database before measuring…
    #[arg(long, default_value_t = 100)]
    history: u64,
    /// …of which this many are still open (pending).
    #[arg(long, default_value_t = 10)]
    open: u64,
    /// Requests taken through Approve, one after another at `--approval-rate`.
    #[arg(long, default_value_t = 200)]
    approvals: u64,
    #[arg(long, default_value_t = 50)]
    approval_rate: u32,
    /// Seconds of back-to-back requests from `--concurrency` clients.
    #[arg(long, default_value_t = 5.0)]
    saturation_secs: f64,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Active grants seeded for the revocation run…
    #[arg(long, default_value_t = 100_000)]
    grants: u64,
    /// …of which this many come due in the same second.
    #[arg(long, default_value_t = 10_000)]
    due: u64,
    /// How long the fake provider takes to answer, in ms.
    #[arg(long, default_value_t = 50)]
    provider_delay_ms: u64,
    /// Send the provider's events over HTTP/1.1 (a connection for each in flight), not HTTP/2.
    #[arg(long)]
    provider_http1: bool,
    /// The core the server is pinned to (with `taskset`); the bench takes the others.
    #[arg(long, default_value_t = 1)]
    server_core: usize,
    /// Do not pin anything.
    #[arg(long)]
    no_pin: bool,
    /// Seconds to wait for the cards of a rate's requests before going on.
    #[arg(long, default_value_t = 30)]
    drain_secs: u64,
    /// A few seconds at a low rate, failing on any error: for CI.
    #[arg(long)]
    smoke: bool,
    /// Keep the databases and server logs (they are in a temp directory).
    #[arg(long)]
    keep: bool,
}

impl BenchArgs {
    fn plan(&self) -> run::Plan {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pin = !self.no_pin && cpus > 1 && server::taskset_available();
        let mut plan = run::Plan {
            rates: self.rates.clone(),
            secs: self.secs,
            history: self.history,
            open: self.open,
            approvals: self.approvals,
            approval_rate: self.approval_rate,
            saturation_secs: self.saturation_secs,
            concurrency: self.concurrency,
            grants: self.grants,
            due: self.due.min(self.grants),
            provider_delay: Duration::from_millis(self.provider_delay_ms),
            provider_http1: self.provider_http1,
            server_core: pin.then_some(self.server_core % cpus),
            drain: Duration::from_secs(self.drain_secs),
        };
        if self.smoke {
            plan = run::Plan {
                rates: vec![50],
                secs: 2.0,
                approvals: 10,
                approval_rate: 10,
                saturation_secs: 1.0,
                concurrency: 8,
                grants: 200,
                due: 100,
                drain: Duration::from_secs(15),
                ..plan
            };
        }
        plan
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Some(Command::Jitbot { config }) => serve_jitbot(config).await,
        Some(Command::Floor { listen, database }) => floor::serve(listen, &database).await,
        Some(Command::Fault(args)) => fault::run(&args).await,
        None => bench(&cli.bench).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The child: exactly what `jitbot serve` runs.
async fn serve_jitbot(config: PathBuf) -> anyhow::Result<()> {
    jitbot::cli::init_tracing()?;
    jitbot::cli::serve(&config).await
}

async fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    jitbot::app::install_crypto_provider();
    let plan = args.plan();
    let machine = machine(&plan);
    if let Some(core) = plan.server_core {
        // The load generator and the fakes stay off the server's core.
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        server::pin_self((core + 1) % cpus);
    }
    let dir = run::work_dir()?;
    let results = run::run(&plan, &dir).await;
    // A failed run keeps them too: its error names the server log to read.
    if args.keep || results.is_err() {
        eprintln!("databases and server logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let results = results?;
    println!("{}", report::table(&plan, &results, &machine));
    println!("{}", report::json_line(&plan, &results, &machine));
    if args.smoke {
        smoke_check(&results)?;
    }
    Ok(())
}

/// The smoke run passes only when every step worked end to end.
fn smoke_check(results: &run::Results) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for (name, system) in [("floor", &results.floor), ("jitbot", &results.jitbot)] {
        for rate in &system.rates {
            if rate.failed > 0 {
                problems.push(format!(
                    "{name}: {} of the {}/s requests failed",
                    rate.failed, rate.rate
                ));
            }
            if let Some((_, missing)) = rate.cards.as_ref().filter(|(_, m)| *m > 0) {
                problems.push(format!("{name}: {missing} cards never came"));
            }
        }
        if system.saturation <= 0.0 {
            problems.push(format!("{name}: nothing answered at saturation"));
        }
    }
    if results.approvals.failed > 0 {
        problems.push(format!(
            "{} approvals did not go through",
            results.approvals.failed
        ));
    }
    if results.revocations.missing > 0 {
        problems.push(format!(
            "{} due grants were not revoked",
            results.revocations.missing
        ));
    }
    if problems.is_empty() {
        eprintln!("smoke: ok");
        Ok(())
    } else {
        anyhow::bail!("smoke failed: {}", problems.join("; "))
    }
}

/// "2 × Intel Xeon …, server pinned to core 1".
fn machine(plan: &run::Plan) -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let pinned = plan.server_core.map_or("server not pinned".into(), |c| {
        format!("server pinned to core {c}")
    });
    format!("{cpus} × {model}, {pinned}")
}

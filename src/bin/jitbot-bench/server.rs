//! The servers under test, each a child process of this bench (the bench re-runs itself with a
//! hidden subcommand): pinned to one core with `taskset` when asked and available, measured
//! from /proc (peak RSS, CPU time), killed with SIGKILL when done — or at random, in fault runs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
// std's process API: tokio's would need a feature the server itself does not use.
use std::process::{Child, Command};

/// The signing secret the bench's Slack and its servers share.
pub const SIGNING_SECRET: &str = "bench-signing-secret-5d1c2e";
pub const WEBHOOK_SECRET: &str = "bench-webhook-secret-9a8b7c";

/// What to run in the child.
#[derive(Debug, Clone)]
pub enum Kind {
    /// `jitbot serve` with this config file.
    Jitbot { config: PathBuf },
    /// The floor: axum + Slack signature + one SQLite insert.
    Floor { database: PathBuf },
}

pub struct Server {
    pub url: String,
    port: u16,
    kind: Kind,
    core: Option<usize>,
    log: PathBuf,
    child: Child,
    started: Instant,
}

impl Server {
    /// Starts the server on `port` (0: any free one) and waits until it answers.
    pub async fn start(
        kind: Kind,
        port: u16,
        core: Option<usize>,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let port = if port == 0 { free_port()? } else { port };
        let child = spawn(&kind, port, core, log)?;
        let mut server = Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            kind,
            core,
            log: log.to_path_buf(),
            child,
            started: Instant::now(),
        };
        server.wait_ready().await?;
        Ok(server)
    }

    pub fn pid(&self) -> Option<u32> {
        Some(self.child.id())
    }

    /// `kill -9`: no shutdown, no flush; what is on disk is what survives.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills it and starts it again on the same port and database.
    pub async fn restart_after_kill(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.child = spawn(&self.kind, self.port, self.core, &self.log)?;
        self.started = Instant::now();
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited with {status}; see {}",
                    self.log.display()
                );
            }
            let probe = client.get(format!("{}/healthz", self.url)).send().await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!(
            "the server did not answer within 30 s; see {}",
            self.log.display()
        )
    }

    pub fn ready_after(&self) -> Duration {
        self.started.elapsed()
    }

    /// Peak resident memory so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    /// Context switches of all the server's threads so far (voluntary and not): each SQLite
    /// statement through sqlx (the floor's) costs two, where jitbot's run on the calling thread
    /// and its commits on the committer's, so this counts round trips as much as CPU does.
    /// Threads that have exited are not counted.
    pub fn context_switches(&self) -> Option<u64> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid()?)).ok()?;
        let mut switches = 0;
        for task in tasks.flatten() {
            let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
                continue;
            };
            for line in status.lines() {
                if let Some(rest) = line
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    switches += rest.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
        Some(switches)
    }

    /// CPU time (user + system) used so far, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()?)).ok()?;
        // Fields after the parenthesised name: state is the first; utime and stime the 12th and
        // 13th. Linux reports them in clock ticks, which are 100 a second on every usual build.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }
}

/// The time the hypervisor has taken from `core` so far (its `steal` in `/proc/stat`), in ms;
/// `None` where the kernel does not report it.
pub fn stolen_ms(core: usize) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat
        .lines()
        .find(|line| line.split_whitespace().next() == Some(&format!("cpu{core}")))?;
    // user nice system idle iowait irq softirq steal …, in clock ticks (100 a second).
    let steal: f64 = line.split_whitespace().nth(8)?.parse().ok()?;
    Some(steal * 10.0)
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(kind: &Kind, port: u16, core: Option<usize>, log: &Path) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("finding the bench's own executable")?;
    let mut args: Vec<String> = match kind {
        Kind::Jitbot { config } => vec![
            "__jitbot".into(),
            "--config".into(),
            config.display().to_string(),
        ],
        Kind::Floor { database } => vec![
            "__floor".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--database".into(),
            database.display().to_string(),
        ],
    };
    args.insert(0, exe.display().to_string());
    if let Some(core) = core.filter(|_| taskset_available()) {
        args.splice(0..0, ["taskset".to_string(), "-c".into(), core.to_string()]);
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut command = Command::new(&args[0]);
    command
        .args(&args[1..])
        // Only what the server needs: no secret of the caller's environment leaks into it.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("SLACK_BOT_TOKEN", "xoxb-bench")
        .env("JITBOT_WEBHOOK_SECRET", WEBHOOK_SECRET)
        // The log filter passes through, so a run can log what the server does (its statements).
        .env(
            "RUST_LOG",
            std::env::var_os("RUST_LOG").unwrap_or_else(|| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    command.spawn().context("starting the server")
}

pub fn taskset_available() -> bool {
    std::process::Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Pins this process (the load generator and the fakes) to `core`, away from the server's.
pub fn pin_self(core: usize) {
    if taskset_available() {
        let _ = std::process::Command::new("taskset")
            .args([
                "-a",
                "-cp",
                &core.to_string(),
                &std::process::id().to_string(),
            ])
            .stdout(Stdio::null())
            .status();
    }
}

/// A port free now for a server to listen on, below the range the system takes the ports of
/// outgoing connections from. One picked by binding port 0 is in that range, and a connection of
/// the load generator could take it before the server bound it (a run stopped once at 3 000/s,
/// its server gone with exit status 1 before it answered).
fn free_port() -> anyhow::Result<u16> {
    let outgoing_from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let below = 10_000..outgoing_from.max(10_001);
    for _ in 0..100 {
        let port = rand::random_range(below.clone());
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The bench group's target, as its requests record it (`seed`).
pub const TARGET: &str = "bench-admins";

/// jitbot's config for the bench: one webhook group whose cards go to the approval channel,
/// its events sent over HTTP/2 (`webhook_http2`) unless `http1`.
pub fn jitbot_config(
    port: u16,
    database: &Path,
    slack_api: &str,
    (webhook, http1): (&str, bool),
    max_duration: &str,
) -> String {
    format!(
        r#"listen = "127.0.0.1:{port}"
database_url = "sqlite://{database}"
[slack]
api_url = "{slack_api}"
[[group]]
name = "bench"
description = "What the bench requests"
provider = "webhook"
webhook_url = "{webhook}"
webhook_http2 = {http2}
target = "{target}"
owners = ["{owner}"]
max_duration = "{max_duration}"
approval_channel = "{channel}"
"#,
        database = database.display(),
        http2 = !http1,
        target = TARGET,
        owner = crate::fake_slack::email_of(crate::fake_slack::OWNER),
        channel = crate::fake_slack::APPROVAL_CHANNEL,
    )
}

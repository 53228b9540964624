//! `jitbot audit export`: the trail as CSV or JSON lines, one event a line, for a SIEM or a
//! spreadsheet.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use super::open_trail;
use crate::store::audit::Event;
use crate::store::audit_export::{self, Filter};

/// The options of `audit export`, as typed.
pub struct ExportArgs<'a> {
    pub format: &'a str,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub group: Option<&'a str>,
}

enum Format {
    Csv,
    Jsonl,
}

pub async fn audit_export(config_path: &Path, args: ExportArgs<'_>) -> anyhow::Result<()> {
    // Every argument is checked before the database is opened.
    let format = match args.format {
        "csv" => Format::Csv,
        "jsonl" => Format::Jsonl,
        other => bail!("unknown export format `{other}`: use csv or jsonl"),
    };
    let filter = Filter {
        since: args.since.map(|t| time("--since", t)).transpose()?,
        until: args.until.map(|t| time("--until", t)).transpose()?,
        group: args.group.map(str::to_owned),
    };
    let dbs = open_trail(config_path).await?;
    let events = dbs
        .trail
        .read_apart(move |conn| audit_export::select(conn, &filter))
        .await?;
    let waiting = crate::store::audit_outbox::count(&*dbs.main.read()?)?;
    if waiting > 0 {
        eprintln!(
            "note: {waiting} recent event(s) wait in the outbox and are not in this export yet"
        );
    }
    let stdout = std::io::stdout().lock();
    match format {
        Format::Csv => write_csv(stdout, &events),
        Format::Jsonl => write_jsonl(stdout, &events),
    }
    .context("writing the export")
}

fn time(option: &str, value: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            anyhow::anyhow!(
                "{option} `{value}` is not an RFC 3339 time, such as 2026-03-02T09:00:00Z"
            )
        })
}

/// One event, flattened: the columns of the CSV, and the keys of a JSON line before `detail`.
#[derive(Serialize)]
struct Row<'a> {
    id: i64,
    time: String,
    request_id: Option<i64>,
    action: &'a str,
    actor: &'a str,
    platform: Option<&'a str>,
    channel: Option<&'a str>,
    group: Option<String>,
    decision: Option<String>,
    justification: Option<String>,
}

/// Decisions are recorded as the action; a detail may also carry its own verdict.
const DECISIONS: &[&str] = &["approved", "denied", "approved_by_policy"];

fn row<'a>(event: &'a Event, detail: &Value) -> Row<'a> {
    let text = |key: &str| detail.get(key).and_then(Value::as_str).map(str::to_owned);
    Row {
        id: event.id,
        time: event.at().to_rfc3339_opts(SecondsFormat::Millis, true),
        request_id: event.request_id,
        action: &event.action,
        actor: &event.actor,
        platform: event.platform.as_deref(),
        channel: event.channel.as_deref(),
        group: text("group"),
        decision: text("verdict").or_else(|| text("decision")).or_else(|| {
            DECISIONS
                .contains(&event.action.as_str())
                .then(|| event.action.clone())
        }),
        justification: text("justification"),
    }
}

/// The detail as stored; one that is not JSON (it always is) is exported as a string.
fn detail(event: &Event) -> Value {
    serde_json::from_str(&event.detail).unwrap_or_else(|_| Value::String(event.detail.clone()))
}

fn write_csv(out: impl Write, events: &[Event]) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    for event in events {
        writer.serialize(row(event, &detail(event)))?;
    }
    if events.is_empty() {
        // serde writes the header with the first row; an empty export still names its columns.
        writer.write_record([
            "id",
            "time",
            "request_id",
            "action",
            "actor",
            "platform",
            "channel",
            "group",
            "decision",
            "justification",
        ])?;
    }
    writer.flush()?;
    Ok(())
}

#[derive(Serialize)]
struct JsonLine<'a> {
    #[serde(flatten)]
    row: Row<'a>,
    detail: Value,
}

fn write_jsonl(mut out: impl Write, events: &[Event]) -> anyhow::Result<()> {
    for event in events {
        let detail = detail(event);
        let line = JsonLine {
            row: row(event, &detail),
            detail,
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

//! `jitbot audit`: print the trail, or check that it is intact.

use std::path::Path;

use anyhow::bail;

use super::{TrailDbs, open_trail};
use crate::secrets::Secrets;
use crate::store::{self, audit};

pub async fn audit(config_path: &Path, request: Option<i64>, verify: bool) -> anyhow::Result<()> {
    let dbs = open_trail(config_path).await?;
    if verify {
        return verify_audit(&dbs).await;
    }
    let events = dbs
        .trail
        .read_apart(move |conn| audit::list(conn, request))
        .await?;
    for event in events {
        println!(
            "{:>6}  {}  request {:<6}  {:<28}  {:<28}  {}  {}",
            event.id,
            event.at().format("%Y-%m-%d %H:%M:%S%.3f"),
            event
                .request_id
                .map(|id| format!("#{id}"))
                .unwrap_or_else(|| "-".into()),
            event.action,
            event.actor,
            [event.platform.as_deref(), event.channel.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("/"),
            event.detail
        );
    }
    Ok(())
}

/// `audit --verify`: the chain, no event missing, and the head to record elsewhere.
async fn verify_audit(dbs: &TrailDbs) -> anyhow::Result<()> {
    let key = Secrets::from_env().audit_key;
    let check = dbs
        .trail
        .read_apart(move |conn| audit::check_trail(conn, key.as_ref()))
        .await?;
    let waiting = store::audit_outbox::count(&*dbs.main.read()?)?;
    if waiting > 0 {
        // Not tampering: committed with their changes, they are moved at the next commit,
        // scheduler pass or start.
        println!(
            "{waiting} event(s) wait in the main database's outbox, not yet moved into the audit \
             database: jitbot moves them right away when running, else when it next starts"
        );
    }
    if !check.is_intact() {
        let mut problems: Vec<String> = describe_chain(&check.chain).into_iter().collect();
        problems.extend(
            check
                .gaps
                .iter()
                .map(|gap| format!("audit trail incomplete: {}", describe_gap(gap))),
        );
        bail!("{}", problems.join("\n"));
    }
    println!(
        "audit trail intact: {} event(s), every hash matches and no event is missing",
        check.events
    );
    if check.base.purged_up_to > 0 {
        println!(
            "events 1–{} were purged (audit_retention); the trail starts after them, from hash {}",
            check.base.purged_up_to, check.base.prev_hash
        );
    }
    match check.head {
        Some(head) => {
            println!(
                "head: event {} {} {}",
                head.id,
                head.kind.as_str(),
                head.hash
            );
            println!(
                "Record this head outside jitbot (in a ticket, another system): a later check that \
                 shows another hash for event {}, or fewer events, means the trail was rewritten.",
                head.id
            );
        }
        None => println!("head: none yet, no event was recorded"),
    }
    Ok(())
}

/// What is wrong with the chain, if anything, naming the first bad event.
fn describe_chain(chain: &audit::ChainCheck) -> Option<String> {
    match *chain {
        audit::ChainCheck::Intact { .. } => None,
        audit::ChainCheck::BrokenAt { id } => Some(format!(
            "audit trail broken at event {id}: it was changed, inserted, moved, or an earlier \
             event was removed"
        )),
        audit::ChainCheck::PlainAfterKeyed { id } => Some(format!(
            "audit trail broken at event {id}: a plain SHA-256 event after a keyed one, which \
             jitbot never writes: the trail was rewritten without the key"
        )),
        audit::ChainCheck::KeyNeeded { first, keyed } => Some(format!(
            "cannot check {keyed} keyed event(s) from event {first} on: set {} to the key jitbot \
             serve uses",
            crate::secrets::AUDIT_KEY_ENV
        )),
    }
}

fn describe_gap(gap: &audit::Gap) -> String {
    match *gap {
        audit::Gap::Events {
            first,
            last,
            at_end: true,
        } if first == last => format!("the last event (id {last}) is missing"),
        audit::Gap::Events {
            first,
            last,
            at_end: true,
        } => format!(
            "the last {} events (ids {first}–{last}) are missing",
            last - first + 1
        ),
        audit::Gap::Events { first, last, .. } if first == last => {
            format!("event {first} is missing")
        }
        audit::Gap::Events { first, last, .. } => format!("events {first}–{last} are missing"),
        audit::Gap::SequenceLowered { sequence, last_id } => format!(
            "event {last_id} exists, but the table's sequence says the last id issued was \
             {sequence}: sqlite_sequence was changed"
        ),
    }
}

//! Where the audit trail lives, and keeping it whole when it lives apart (`audit_database_url`).
//! SQLite cannot commit atomically across two WAL databases, so a change and its event commit
//! together in the main database (the outbox), and the event is then moved, in order, into the
//! audit database: right after the commit, at every scheduler pass, and at start, before serving.
//! A move is idempotent (by the event's id), so a crash anywhere between the two files loses
//! nothing and records nothing twice.

use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::AuditAction;
use crate::store::{self, Db, audit, audit_outbox};

#[derive(Clone)]
pub struct Trail {
    main: Db,
    apart: Option<Db>,
    /// One move at a time in this process, so that events are chained in the order they
    /// committed.
    moving: Arc<tokio::sync::Mutex<()>>,
    /// `audit_retention`: events older than this are purged.
    retention: Option<chrono::Duration>,
}

/// What one move did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// Events chained into the audit database now.
    pub chained: usize,
    /// Events the audit database held already (a move interrupted after its commit).
    pub already_there: usize,
}

/// Refuses an audit database that is not the one this main database's trail was moved into
/// (deleted and created anew, or swapped): its chain would start again and verify as intact.
pub async fn check_pairing(main: &Db, audit: &Db) -> anyhow::Result<()> {
    let expected = audit_outbox::pairing(&*main.read()?)?;
    let found = audit_outbox::pairing(&*audit.read()?)?;
    if expected.is_none() || expected != found {
        bail!(
            "the audit database is not the one this database's audit trail was kept in (it was \
             replaced or deleted): restore it from a backup; refusing to start a new chain"
        );
    }
    Ok(())
}

impl Trail {
    /// The trail in the main database, as without `audit_database_url`. Refused when the main
    /// database says its trail lives apart: starting without the audit database would split it.
    pub async fn together(main: Db) -> anyhow::Result<Trail> {
        if audit_outbox::trail_is_apart(&*main.read()?)? {
            bail!(
                "this database's audit trail lives in its own database: set audit_database_url \
                 to that database again"
            );
        }
        Ok(Self::new(main, None))
    }

    /// The trail in its own database `audit`. The main database is marked so that from now on
    /// its appends wait in the outbox; it must not hold a trail of its own.
    pub async fn apart(main: Db, audit: Db) -> anyhow::Result<Trail> {
        if audit_outbox::trail_is_apart(&*main.read()?)? {
            check_pairing(&main, &audit).await?;
            // Paired but not yet claimed: stopped right after the main file was marked, or
            // paired by an earlier version.
            store::write(&audit, |tx| audit_outbox::claim(tx)).await?;
            return Ok(Self::new(main, Some(audit)));
        }
        let held = audit_outbox::events_in(&*main.read()?)?;
        if held > 0 {
            bail!(
                "audit_database_url is set, but the main database already holds an audit trail \
                 of {held} event(s): keep it in the main database (remove audit_database_url), \
                 or start the separate trail with a new main database"
            );
        }
        // Both files carry one pairing from now on, written in three steps, each a transaction
        // of one file (a write transaction cannot wait for another database's):
        // 1. the audit file takes a pairing drawn afresh, unless a main file has claimed it
        //    (step 3), or it holds events: then it belongs to another main file;
        // 2. the main file takes the same pairing and is marked as kept apart, after checking
        //    again that nothing changed meanwhile (another process could have written to it);
        // 3. the audit file is marked claimed: from then on no other main file may take it,
        //    not even a copy of this one.
        // A stop after step 1 leaves an audit file no main file has claimed, and no event in
        // it: the next start takes it again with a pairing of its own, where a pairing kept
        // would have it refused as "another" main file's. A stop after step 2 leaves the main
        // file apart, and its next start claims the audit file (above). An audit file left
        // behind after step 1 carries a pairing the main file never took, so it is refused
        // should it be put back later.
        let pairing = hex::encode(rand::random::<[u8; 16]>());
        store::write(&audit, |tx| {
            if audit_outbox::pairing(tx)?.is_some()
                && (audit_outbox::is_claimed(tx)? || audit_outbox::events_in(tx)? > 0)
            {
                bail!(
                    "the audit database is already paired with another main database: give \
                     this one an audit database of its own"
                );
            }
            audit_outbox::set_pairing(tx, &pairing)?;
            Ok(())
        })
        .await?;
        store::write(&main, |tx| {
            if audit_outbox::trail_is_apart(tx)? || audit_outbox::events_in(tx)? > 0 {
                bail!(
                    "the main database changed while its audit trail was being paired with the \
                     audit database (another process wrote to it): start again"
                );
            }
            audit_outbox::set_pairing(tx, &pairing)?;
            audit_outbox::mark_apart(tx)?;
            Ok(())
        })
        .await?;
        store::write(&audit, |tx| audit_outbox::claim(tx)).await?;
        Ok(Self::new(main, Some(audit)))
    }

    pub(super) fn new(main: Db, apart: Option<Db>) -> Trail {
        Trail {
            main,
            apart,
            moving: Arc::default(),
            retention: None,
        }
    }

    /// The same trail, purging events older than `keep`.
    pub fn with_retention(self, keep: Option<std::time::Duration>) -> Trail {
        Trail {
            retention: keep.and_then(|keep| chrono::Duration::from_std(keep).ok()),
            ..self
        }
    }

    /// The database the events live in: what verify, export, forwarding and retention read.
    pub fn db(&self) -> &Db {
        self.apart.as_ref().unwrap_or(&self.main)
    }

    pub fn retention(&self) -> Option<chrono::Duration> {
        self.retention
    }

    /// Moves every event waiting in the outbox into the audit database, in order; nothing to do
    /// when the trail lives in the main database. The audit database commits (durably) before
    /// the outbox is emptied: a crash in between leaves events that the next move skips.
    pub async fn flush(&self) -> anyhow::Result<Moved> {
        let Some(audit_db) = &self.apart else {
            return Ok(Moved::default());
        };
        let _one_at_a_time = self.moving.lock().await;
        let waiting = audit_outbox::waiting(&*self.main.read()?)?;
        let Some(last) = waiting.last() else {
            return Ok(Moved::default());
        };
        // People's writes, also on the scheduler's thread: every person's write waits for its
        // own move, and so for the lock held here; as background work these two would wait
        // for the writer behind the scheduler's queue, and hold the lock all that time.
        let (audit_db, main) = (audit_db.for_people(), self.main.for_people());
        let moved = store::write(&audit_db, |tx| {
            let mut moved = Moved::default();
            for event in &waiting {
                if audit_outbox::chain_once(tx, &event.event)? {
                    moved.chained += 1;
                } else {
                    moved.already_there += 1;
                }
            }
            Ok::<_, store::Error>(moved)
        })
        .await
        .context("committing to the audit database")?;
        store::write(&main, |tx| audit_outbox::remove_up_to(tx, last.id)).await?;
        Ok(moved)
    }

    /// At start, before serving: moves what a crash left in the outbox, and says so in the log
    /// and in the trail itself.
    pub async fn repair_at_start(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let moved = self
            .flush()
            .await
            .context("moving the audit outbox into the audit database")?;
        if moved == Moved::default() {
            return Ok(());
        }
        tracing::warn!(
            moved = moved.chained,
            already_there = moved.already_there,
            "jitbot stopped between the main and the audit database: moved the audit events it \
             had left in the outbox"
        );
        let detail = json!({ "moved": moved.chained, "already_there": moved.already_there });
        let event = audit::NewEvent::by_jitbot(None, AuditAction::AuditMovedAtStart, detail, now);
        store::write(&self.main, |tx| audit::append(tx, event)).await?;
        self.flush().await?;
        Ok(())
    }

    /// Moves the outbox after a commit. A failure is logged, not returned: the change and its
    /// event are committed, and the next move (at the latest at start) takes the event along.
    pub async fn flush_after_commit(&self) {
        if let Err(error) = self.flush().await {
            tracing::error!(
                error = format!("{error:#}"),
                "could not move audit events into the audit database; they wait in the outbox"
            );
        }
    }
}

//! Use cases: each one validates against the policy at that moment and changes state in one
//! transaction — the row (compare-and-swap), an audit event, and the jobs for its side effects.
//! `Core` is everything they need; people are reached through the `Chat` port.

pub mod acknowledge;
pub mod act;
pub mod answer;
pub mod approve;
pub mod audit_forward;
pub mod audit_retention;
pub mod audit_trail;
mod behalf;
pub mod break_glass;
pub mod chat;
pub mod check;
pub mod decide;
pub mod directory;
mod effects;
pub mod end_early;
pub mod ends;
pub mod expire;
pub mod extend;
pub mod grant;
pub mod names;
pub mod owners;
pub mod reload;
pub mod requestable;
pub mod shown;
pub mod snapshot;
pub mod status;
pub mod submit;
pub mod sweep;
pub mod timeout;
pub mod view;
pub mod warn;
pub mod withdraw;

use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use crate::audit_sink::AuditSink;
use crate::domain::{Platform, Policy, Refusal};
use crate::graph::Graph;
use crate::metrics::Metrics;
use crate::providers::Providers;
use crate::store::{Db, WriteTx};
pub use audit_trail::Trail;
pub use chat::Chat;
pub use view::RequestView;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The person's request or click is not allowed; nothing changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Something on our side broke.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::store::Error> for AccessError {
    fn from(error: crate::store::Error) -> Self {
        Self::Internal(error.into())
    }
}

/// What every use case needs: the database, the policy, the providers, the directory, the chat
/// platforms, and a way to wake the scheduler. Cheap to clone.
#[derive(Clone)]
pub struct Core {
    pub db: Db,
    /// The policy in force: replaced whole by a reload (SIGHUP), read once per use case with
    /// `policy()` so that one decision sees one policy. A lock around an `Arc` rather than a
    /// lock-free cell: reloads are rare and a read is one clone of a pointer.
    policy: Arc<RwLock<Arc<Policy>>>,
    pub providers: Arc<Providers>,
    /// Microsoft Graph: the directory of record, when connected.
    pub graph: Arc<Graph>,
    chats: Arc<Vec<Arc<dyn Chat>>>,
    wake: Arc<Notify>,
    /// How often the drift sweep comes round.
    pub sweep_every: chrono::Duration,
    /// What operators watch (`GET /metrics`).
    pub metrics: Arc<Metrics>,
    /// Where audit events are forwarded (`audit_webhook`), if anywhere.
    pub audit_sink: Option<Arc<AuditSink>>,
    /// Where the audit trail lives (`audit_database_url`) and how long it is kept.
    pub trail: Trail,
    /// Revocations' ends waiting to be recorded together.
    pub ends: Arc<ends::Ends>,
}

impl Core {
    pub fn new(
        db: Db,
        policy: Policy,
        providers: Providers,
        graph: Arc<Graph>,
        chats: Vec<Arc<dyn Chat>>,
    ) -> Core {
        Core {
            trail: Trail::new(db.clone(), None),
            db,
            policy: Arc::new(RwLock::new(Arc::new(policy))),
            providers: Arc::new(providers),
            graph,
            chats: Arc::new(chats),
            wake: Arc::new(Notify::new()),
            sweep_every: chrono::Duration::hours(1),
            metrics: Arc::new(Metrics::new()),
            audit_sink: None,
            ends: Arc::default(),
        }
    }

    /// The same core with the drift sweep coming round every `every`.
    pub fn with_sweep_every(self, every: chrono::Duration) -> Core {
        Core {
            sweep_every: every,
            ..self
        }
    }

    /// The same core reporting to `metrics`, which the outbound clients already count into.
    pub fn with_metrics(self, metrics: Arc<Metrics>) -> Core {
        Core { metrics, ..self }
    }

    /// The same core forwarding every audit event to `sink`.
    pub fn with_audit_sink(self, sink: Option<AuditSink>) -> Core {
        Core {
            audit_sink: sink.map(Arc::new),
            ..self
        }
    }

    /// The same core keeping its audit trail in `trail`.
    pub fn with_trail(self, trail: Trail) -> Core {
        Core { trail, ..self }
    }

    /// Runs a transition as one write transaction (`store::write`), then moves its audit event
    /// to where the trail lives (nothing to move when it lives in the main database). `work`
    /// runs on this thread and cannot wait: ask other services before.
    pub async fn write<T, E: From<crate::store::Error>>(
        &self,
        work: impl FnOnce(&mut WriteTx) -> Result<T, E>,
    ) -> Result<T, E> {
        let done = crate::store::write(&self.db, work).await?;
        self.trail.flush_after_commit().await;
        Ok(done)
    }

    /// The same core for background work: its write transactions yield to people's requests
    /// (`Db::for_background`).
    pub fn in_background(self) -> Core {
        Core {
            db: self.db.for_background(),
            ..self
        }
    }

    /// The policy in force now. Hold on to it for the whole use case: a reload in between
    /// must not make one decision mix two policies.
    pub fn policy(&self) -> Arc<Policy> {
        // A panic while holding the lock cannot leave a half-written policy: the swap is one
        // pointer assignment, so a poisoned lock still holds a whole policy.
        self.policy
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Puts `policy` in force for every use case that starts from now on.
    pub(crate) fn install_policy(&self, policy: Policy) {
        *self
            .policy
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(policy);
    }

    /// The chat platform an account, a thread or a card is on.
    pub fn chat(&self, platform: Platform) -> anyhow::Result<&dyn Chat> {
        self.chats
            .iter()
            .find(|chat| chat.platform() == platform)
            .map(|chat| chat.as_ref())
            .ok_or_else(|| anyhow::anyhow!("jitbot has no {platform} adapter"))
    }

    pub fn chats(&self) -> impl Iterator<Item = &dyn Chat> {
        self.chats.iter().map(|chat| chat.as_ref())
    }

    /// The platforms where owners can get cards by direct message.
    pub fn platforms_in_use(&self) -> Vec<Platform> {
        self.chats()
            .filter(|chat| chat.reaches_owners())
            .map(|chat| chat.platform())
            .collect()
    }

    /// Tells the scheduler that a job was enqueued, so it runs now rather than at its next poll.
    pub fn wake_scheduler(&self) {
        self.wake.notify_one();
    }

    pub async fn scheduler_woken(&self) {
        self.wake.notified().await;
    }
}

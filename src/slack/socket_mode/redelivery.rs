//! Envelopes Slack delivers more than once. Slack sends an envelope again when it did not get
//! the acknowledgement in time (3 s; then after a minute and after five, `retry_attempt`
//! counting up), and again on a new connection when the one it went out on dropped. Each
//! envelope is answered once: a delivery of one already answered gets the same
//! acknowledgement, and one still being answered waits for it. Otherwise a command that took
//! over 3 s would be filed twice, and the person told twice.

use std::sync::Mutex;

use hashlink::LruCache;
use tokio::sync::watch;

/// Envelopes remembered, the most recent first. Slack's last retry comes five minutes after
/// the first delivery; at a request a second that is 300 envelopes, and an acknowledgement is
/// well under a KiB.
const REMEMBERED: usize = 2048;

/// The acknowledgement of each envelope remembered: `None` while it is being answered.
pub struct Answered {
    envelopes: Mutex<LruCache<String, watch::Receiver<Option<String>>>>,
}

/// What to do with a delivery.
pub enum Delivery {
    /// Not seen before: answer it, and send its acknowledgement through this.
    First(watch::Sender<Option<String>>),
    /// Seen before: its acknowledgement is, or will be, in this.
    Again(watch::Receiver<Option<String>>),
}

impl Default for Answered {
    fn default() -> Self {
        Answered {
            envelopes: Mutex::new(LruCache::new(REMEMBERED)),
        }
    }
}

impl Answered {
    /// Tells a first delivery of `envelope_id` from one seen before.
    pub fn deliver(&self, envelope_id: &str) -> Delivery {
        // A panic while holding it leaves a whole map: each use is one lookup or insert.
        let mut envelopes = self
            .envelopes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(acknowledgement) = envelopes.get(envelope_id) {
            return Delivery::Again(acknowledgement.clone());
        }
        let (answer, acknowledgement) = watch::channel(None);
        envelopes.insert(envelope_id.to_string(), acknowledgement);
        Delivery::First(answer)
    }
}

/// The acknowledgement of an envelope delivered again, once its first delivery is answered;
/// `None` when that answer was given up (its task ended without one): whether it changed
/// anything is unknown, so it is not answered again.
pub async fn acknowledgement(mut first: watch::Receiver<Option<String>>) -> Option<String> {
    let answered = first.wait_for(Option::is_some).await.ok()?;
    answered.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Delivers `e1` twice: what the first delivery answers through, and what the second waits on.
    fn delivered_twice(
        answered: &Answered,
    ) -> (
        watch::Sender<Option<String>>,
        watch::Receiver<Option<String>>,
    ) {
        let Delivery::First(answer) = answered.deliver("e1") else {
            panic!("the first delivery is answered");
        };
        let Delivery::Again(waiting) = answered.deliver("e1") else {
            panic!("the second is not");
        };
        (answer, waiting)
    }

    #[tokio::test]
    async fn a_second_delivery_gets_the_first_one_s_acknowledgement() {
        let answered = Answered::default();
        let (answer, waiting) = delivered_twice(&answered);
        assert!(matches!(answered.deliver("e2"), Delivery::First(_)));
        answer.send_replace(Some("ack".into()));
        assert_eq!(acknowledgement(waiting).await.as_deref(), Some("ack"));
    }

    #[tokio::test]
    async fn a_delivery_whose_first_answer_was_given_up_is_not_answered_again() {
        let (answer, waiting) = delivered_twice(&Answered::default());
        drop(answer);
        assert_eq!(acknowledgement(waiting).await, None);
    }
}

//! What a chat message shows, as a fingerprint: a refresh re-sends a message only when its new
//! rendering differs from what the platform last accepted for it.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::messages::{self, MessageRef};
use crate::store::{self, Db};

/// The SHA-256 (hex) of a payload's JSON, serialised exactly as it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of(payload: &impl Serialize) -> anyhow::Result<Self> {
        let bytes = serde_json::to_vec(payload)?;
        Ok(Self(hex::encode(Sha256::digest(&bytes))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Runs `update` unless `message` already shows `shown`, and records `shown` only once the
/// platform accepted the update: a failed one fails the job, whose retry sends it again.
/// Returns whether anything was sent.
pub async fn update_if_changed<Update, Sent>(
    db: &Db,
    message: &MessageRef,
    shown: &Fingerprint,
    update: Update,
) -> anyhow::Result<bool>
where
    Update: FnOnce() -> Sent,
    Sent: Future<Output = anyhow::Result<()>>,
{
    if message.shown_sha256.as_deref() == Some(shown.as_str()) {
        return Ok(false);
    }
    update().await?;
    store::write(db, |tx| {
        messages::record_shown(tx, message.id, shown.as_str())
    })
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_payload_has_the_same_fingerprint_and_any_change_another() {
        let card = serde_json::json!({ "text": "Request #1 is pending", "blocks": [1, 2] });
        let same = serde_json::json!({ "text": "Request #1 is pending", "blocks": [1, 2] });
        let changed = serde_json::json!({ "text": "Request #1 is approved", "blocks": [1, 2] });
        assert_eq!(
            Fingerprint::of(&card).unwrap(),
            Fingerprint::of(&same).unwrap()
        );
        assert_ne!(
            Fingerprint::of(&card).unwrap(),
            Fingerprint::of(&changed).unwrap()
        );
        assert_eq!(Fingerprint::of(&card).unwrap().as_str().len(), 64);
    }
}

//! How an audit event's hash is computed: plain SHA-256, or HMAC-SHA256 with `JITBOT_AUDIT_KEY`.

use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::secrets::Secret;

/// Which hash an event carries, stored beside it so that plain events from before the key still
/// verify and a keyed trail cannot quietly turn plain again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    Sha256,
    HmacSha256,
}

impl HashKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::HmacSha256 => "hmac-sha256",
        }
    }

    /// An unknown kind is not trusted as plain: it reads as keyed, which only the key can check.
    pub fn parse(kind: &str) -> Self {
        match kind {
            "sha256" => Self::Sha256,
            _ => Self::HmacSha256,
        }
    }
}

/// The key `append` signs with, installed once by `jitbot serve`. A process holds one trail's key;
/// keeping it here spares every transition from carrying it, and tests that never install it
/// keep writing plain events.
static SIGNING_KEY: OnceLock<Secret> = OnceLock::new();

/// Makes every later `append` in this process sign with `key`. A second call is ignored.
pub fn install_key(key: Secret) {
    let _ = SIGNING_KEY.set(key);
}

pub(super) fn installed_key() -> Option<&'static Secret> {
    SIGNING_KEY.get()
}

/// The fields an event's hash covers, in order.
pub(super) struct Content<'a> {
    pub prev_hash: &'a str,
    pub at: i64,
    pub request_id: Option<i64>,
    pub actor: &'a str,
    pub action: &'a str,
    pub platform: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub detail: &'a str,
}

impl Content<'_> {
    /// Fields are length-prefixed so that no two different events can produce the same input.
    fn feed(&self, mut update: impl FnMut(&[u8])) {
        let fields = [
            self.prev_hash.to_string(),
            self.at.to_string(),
            self.request_id.map(|id| id.to_string()).unwrap_or_default(),
            self.actor.to_string(),
            self.action.to_string(),
            self.platform.unwrap_or_default().to_string(),
            self.channel.unwrap_or_default().to_string(),
            self.detail.to_string(),
        ];
        for field in fields {
            update(&(field.len() as u64).to_be_bytes());
            update(field.as_bytes());
        }
    }

    /// The hash to store: keyed when there is a key.
    pub fn hash(&self, key: Option<&Secret>) -> (HashKind, String) {
        match key {
            Some(key) => (
                HashKind::HmacSha256,
                hex::encode(self.mac(key).finalize().into_bytes()),
            ),
            None => (HashKind::Sha256, self.sha256()),
        }
    }

    pub fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        self.feed(|bytes| hasher.update(bytes));
        hex::encode(hasher.finalize())
    }

    /// Whether `hash` is this content's HMAC under `key`, compared in constant time.
    pub fn keyed_matches(&self, key: &Secret, hash: &str) -> bool {
        hex::decode(hash).is_ok_and(|bytes| self.mac(key).verify_slice(&bytes).is_ok())
    }

    fn mac(&self, key: &Secret) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes any key");
        self.feed(|bytes| mac.update(bytes));
        mac
    }
}

//! Bot Framework inbound authentication at `POST /api/messages`: every check of the token
//! (signature, algorithm, issuer, audience, lifetime, key id, serviceurl, endorsement) and of
//! local trial mode, each shown to refuse a request that would otherwise have been stored.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::fake_teams::{APP_ID, KEY_ID, PUBLIC_KEY};
use crate::common::*;
use axum::body::Body;
use axum::extract::ConnectInfo;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jitbot::domain::RequestStatus;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower::ServiceExt;

const REQUEST_TEXT: &str = "jit request prod-db 1h deploy";

/// Alice asks for prod-db in a channel thread: an activity that stores a request when accepted.
fn request_activity(t: &TestApp) -> Value {
    let mut activity = t.activity("message", "alice", TEAMS_THREAD);
    activity["text"] = json!(REQUEST_TEXT);
    activity
}

/// Valid claims for an activity to this app's fake Bot Connector, as the fake signs them.
fn valid_claims(t: &TestApp) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "iss": "https://api.botframework.com",
        "aud": APP_ID,
        "exp": now + 3600,
        "nbf": now - 60,
        "serviceurl": t.teams.service_url(),
    })
}

/// Posts `body` to `/api/messages` with exactly this `Authorization` header (or none).
async fn post_raw(t: &TestApp, authorization: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/messages", t.url))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

/// Sends the activity with `token` and returns the HTTP status.
async fn send(t: &TestApp, activity: &Value, token: &str) -> u16 {
    t.post_activity(activity, Some(token))
        .await
        .status()
        .as_u16()
}

/// Nothing was stored and the Bot Connector was never called, not even by a spawned reply.
async fn assert_nothing_happened(t: &TestApp) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(t.state_counts().await, [0, 0, 0, 0], "something was stored");
    assert!(
        t.teams.calls().is_empty(),
        "the Bot Connector was called: {:#?}",
        t.teams.calls()
    );
}

/// The request alice asked for exists and waits for approval.
async fn assert_request_stored(t: &TestApp) {
    assert_eq!(t.count("requests").await, 1);
    let request = t.request(1).await;
    assert_eq!(request.status, RequestStatus::Pending);
    assert_eq!(request.group, "prod-db");
}

/// Sends alice's request with the default valid token but these claims merged over it.
async fn send_with_claims(t: &TestApp, claims: Value) -> u16 {
    let token = t.teams.token(&t.teams.service_url(), claims);
    send(t, &request_activity(t), &token).await
}

fn unsigned_token(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[tokio::test]
async fn a_valid_token_is_accepted_and_the_request_is_stored() {
    let t = TestApp::spawn().await;

    let status = t.post_activity(&request_activity(&t), None).await.status();

    assert_eq!(status, 200);
    assert_request_stored(&t).await;
    assert_eq!(
        t.teams.key_fetches(),
        1,
        "the first activity fetches the keys"
    );
}

#[tokio::test]
async fn an_unsigned_token_with_alg_none_is_refused() {
    let t = TestApp::spawn().await;
    let token = unsigned_token(
        &json!({ "alg": "none", "typ": "JWT", "kid": KEY_ID }),
        &valid_claims(&t),
    );

    assert_eq!(send(&t, &request_activity(&t), &token).await, 401);
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_public_key_pem_is_refused() {
    let t = TestApp::spawn().await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KEY_ID.into());
    let token = encode(
        &header,
        &valid_claims(&t),
        &EncodingKey::from_secret(PUBLIC_KEY.as_bytes()),
    )
    .unwrap();

    assert_eq!(send(&t, &request_activity(&t), &token).await, 401);
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn a_token_whose_claims_were_changed_after_signing_is_refused() {
    let t = TestApp::spawn().await;
    // Signed for another bot; the audience is then swapped for ours, keeping the signature.
    let signed = t
        .teams
        .token(&t.teams.service_url(), json!({ "aud": "someone-else" }));
    let parts: Vec<&str> = signed.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(valid_claims(&t).to_string()),
        parts[2]
    );

    assert_eq!(send(&t, &request_activity(&t), &forged).await, 401);
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let t = TestApp::spawn().await;

    let status = send_with_claims(&t, json!({ "iss": "https://login.example.com" })).await;

    assert_eq!(status, 401);
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn a_token_for_another_bot_is_refused() {
    let t = TestApp::spawn().await;

    let status =
        send_with_claims(&t, json!({ "aud": "99999999-8888-7777-6666-555555555555" })).await;

    assert_eq!(status, 401);
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn a_token_expired_beyond_the_five_minute_skew_is_refused() {
    let t = TestApp::spawn().await;
    let now = Utc::now().timestamp();

    let status = send_with_claims(&t, json!({ "exp": now - 600, "nbf": now - 3600 })).await;

    assert_eq!(status, 401);
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn a_token_expired_two_minutes_ago_is_within_the_skew_and_accepted() {
    let t = TestApp::spawn().await;
    let now = Utc::now().timestamp();

    let status = send_with_claims(&t, json!({ "exp": now - 120, "nbf": now - 3600 })).await;

    assert_eq!(status, 200);
    assert_request_stored(&t).await;
}

#[tokio::test]
async fn a_token_not_valid_for_another_ten_minutes_is_refused() {
    let t = TestApp::spawn().await;
    let now = Utc::now().timestamp();

    let status = send_with_claims(&t, json!({ "nbf": now + 600 })).await;

    assert_eq!(status, 401);
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn a_token_valid_from_two_minutes_ahead_is_within_the_skew_and_accepted() {
    let t = TestApp::spawn().await;
    let now = Utc::now().timestamp();

    let status = send_with_claims(&t, json!({ "nbf": now + 120 })).await;

    assert_eq!(status, 200);
    assert_request_stored(&t).await;
}

#[tokio::test]
async fn an_unknown_key_id_is_refused_after_fetching_the_keys_once_more() {
    let t = TestApp::spawn().await;
    // A refused token signed with the known key: jitbot has fetched the keys once.
    assert_eq!(
        send_with_claims(&t, json!({ "aud": "someone-else" })).await,
        401
    );
    assert_eq!(t.teams.key_fetches(), 1);

    let token = t
        .teams
        .token_with_kid(&t.teams.service_url(), "never-published");
    assert_eq!(send(&t, &request_activity(&t), &token).await, 401);
    assert_eq!(
        t.teams.key_fetches(),
        2,
        "an unknown kid fetches the key set exactly once more"
    );

    // Another unknown kid right after does not make jitbot fetch again.
    let token = t.teams.token_with_kid(&t.teams.service_url(), "random-kid");
    assert_eq!(send(&t, &request_activity(&t), &token).await, 401);
    assert_eq!(t.teams.key_fetches(), 2, "unknown kids are rate limited");
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn a_key_published_after_the_first_fetch_is_accepted_on_first_use() {
    let t = TestApp::spawn().await;
    assert_eq!(
        t.post_activity(&request_activity(&t), None).await.status(),
        200
    );
    assert_eq!(t.teams.key_fetches(), 1);

    t.teams
        .publish_keys(&[(KEY_ID, &["msteams"]), ("test-key-2", &["msteams"])]);
    let token = t.teams.token_with_kid(&t.teams.service_url(), "test-key-2");
    let mut activity = t.activity("message", "mallory", TEAMS_THREAD);
    activity["text"] = json!(REQUEST_TEXT);

    assert_eq!(send(&t, &activity, &token).await, 200);
    assert_eq!(t.teams.key_fetches(), 2);
    assert_eq!(t.count("requests").await, 2, "the second request is stored");
    assert_eq!(t.request(2).await.status, RequestStatus::Pending);
}

#[tokio::test]
async fn a_token_for_another_service_url_is_refused() {
    let t = TestApp::spawn().await;

    let status = send_with_claims(
        &t,
        json!({ "serviceurl": "https://smba.trafficmanager.net/emea/" }),
    )
    .await;

    assert_eq!(status, 401);
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn a_token_without_a_serviceurl_claim_is_refused() {
    let t = TestApp::spawn().await;

    let status = send_with_claims(&t, json!({ "serviceurl": null })).await;

    assert_eq!(status, 401);
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn a_key_endorsed_for_another_channel_only_is_forbidden() {
    let t = TestApp::spawn().await;
    t.teams.publish_keys(&[(KEY_ID, &["skype"])]);

    let status = t.post_activity(&request_activity(&t), None).await.status();

    assert_eq!(status, 403);
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn a_key_without_any_endorsement_is_forbidden() {
    let t = TestApp::spawn().await;
    t.teams.publish_keys(&[(KEY_ID, &[])]);

    let status = t.post_activity(&request_activity(&t), None).await.status();

    assert_eq!(status, 403);
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn an_activity_without_authorization_is_refused_whatever_its_body() {
    let t = TestApp::spawn().await;

    let valid_body = request_activity(&t).to_string();
    assert_eq!(post_raw(&t, None, &valid_body).await.status(), 401);
    assert_eq!(
        post_raw(&t, None, "{ this is not an activity")
            .await
            .status(),
        401,
        "the token is checked before the body is read"
    );
    assert_eq!(t.teams.key_fetches(), 0);
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn basic_authorization_is_refused() {
    let t = TestApp::spawn().await;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{APP_ID}:test-app-password"));

    let status = post_raw(
        &t,
        Some(&format!("Basic {credentials}")),
        &request_activity(&t).to_string(),
    )
    .await
    .status();

    assert_eq!(status, 401);
    assert_nothing_happened(&t).await;
}

#[tokio::test]
async fn a_malformed_activity_with_a_valid_token_is_a_bad_request() {
    let t = TestApp::spawn().await;
    let token = t.teams.token(&t.teams.service_url(), json!({}));
    let authorization = format!("Bearer {token}");

    // Not JSON, and JSON that lacks what every activity has (serviceUrl, conversation …).
    assert_eq!(
        post_raw(&t, Some(&authorization), "{ this is not an activity")
            .await
            .status(),
        400
    );
    let missing_fields = json!({ "type": "message", "text": REQUEST_TEXT }).to_string();
    assert_eq!(
        post_raw(&t, Some(&authorization), &missing_fields)
            .await
            .status(),
        400
    );
    assert_nothing_happened(&t).await;
}

mod trial_mode {
    use super::*;

    async fn spawn_trial() -> TestApp {
        let options = Options {
            teams_app: false,
            teams_trial: true,
            ..Default::default()
        };
        let t = TestApp::spawn_with_options(DEFAULT_GROUPS, options).await;
        assert!(!t.has_teams_app());
        t
    }

    /// Sends an activity straight into the router, as if it came from `peer`.
    async fn from_peer(t: &TestApp, peer: Option<SocketAddr>, activity: &Value) -> u16 {
        let mut request = axum::http::Request::builder()
            .method("POST")
            .uri("/api/messages")
            .header("content-type", "application/json");
        if let Some(peer) = peer {
            request = request.extension(ConnectInfo(peer));
        }
        let request = request.body(Body::from(activity.to_string())).unwrap();
        jitbot::http::router(t.app.clone())
            .oneshot(request)
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn a_tokenless_activity_from_this_machine_is_accepted() {
        let t = spawn_trial().await;

        let status = post_raw(&t, None, &request_activity(&t).to_string())
            .await
            .status();

        assert_eq!(status, 200);
        assert_request_stored(&t).await;
        assert_eq!(t.teams.key_fetches(), 0, "no keys without an app id");
    }

    #[tokio::test]
    async fn a_tokenless_activity_from_loopback_is_accepted_through_the_router_too() {
        // The control for the refusal below: the same path, only the peer differs.
        let t = spawn_trial().await;
        let peer = SocketAddr::from(([127, 0, 0, 1], 50000));

        assert_eq!(from_peer(&t, Some(peer), &request_activity(&t)).await, 200);
        assert_request_stored(&t).await;
    }

    #[tokio::test]
    async fn a_tokenless_activity_from_another_machine_is_refused() {
        let t = spawn_trial().await;
        let peer = SocketAddr::from(([10, 1, 2, 3], 50000));

        assert_eq!(from_peer(&t, Some(peer), &request_activity(&t)).await, 401);
        assert_nothing_happened(&t).await;
    }

    #[tokio::test]
    async fn a_tokenless_activity_from_an_unknown_peer_is_refused() {
        let t = spawn_trial().await;

        assert_eq!(from_peer(&t, None, &request_activity(&t)).await, 401);
        assert_nothing_happened(&t).await;
    }

    #[tokio::test]
    async fn an_activity_with_a_token_is_refused_since_it_cannot_be_checked() {
        let t = spawn_trial().await;
        let token = t.teams.token(&t.teams.service_url(), json!({}));

        assert_eq!(send(&t, &request_activity(&t), &token).await, 401);
        assert_eq!(t.teams.key_fetches(), 0);
        assert_nothing_happened(&t).await;
    }
}

//! Webhook events and audit events to this machine never go through a proxy the environment
//! names: it would carry them, signature and all, unencrypted over the network. A test binary of
//! its own, because it sets `HTTP_PROXY` and `ALL_PROXY` for the whole process before any client
//! is built.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{StatusCode, Version};
use axum::routing::post;
use chrono::Utc;
use jitbot::audit_sink::AuditSink;
use jitbot::domain::{GrantTarget, GroupPolicy, ProviderKind};
use jitbot::providers::{Grant, Provider, WebhookProvider};
use jitbot::secrets::{Secret, WEBHOOK_SECRET_ENV};
use jitbot::store::audit::Event;

#[test]
fn events_to_this_machine_bypass_a_proxy_named_in_the_environment() {
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    // SAFETY: the only test in this binary, and no other thread runs yet.
    unsafe {
        std::env::set_var("HTTP_PROXY", &proxy_url);
        std::env::set_var("ALL_PROXY", &proxy_url);
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
    }
    proxy.set_nonblocking(true).unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let received = runtime.block_on(async {
        let received: Arc<Mutex<Vec<Version>>> = Arc::default();
        let seen = received.clone();
        let app = Router::new().route(
            "/hook",
            post(move |version: Version| {
                seen.lock().unwrap().push(version);
                async { StatusCode::OK }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let secrets = HashMap::from([(WEBHOOK_SECRET_ENV.to_string(), Secret::new("secret"))]);
        let provider = WebhookProvider::new(secrets).unwrap();
        for http2 in [false, true] {
            let target = GrantTarget {
                provider: ProviderKind::Webhook {
                    url: url.clone(),
                    secret_env: None,
                },
                target: "billing-admins".into(),
            };
            let group = GroupPolicy {
                webhook_http2: http2,
                ..GroupPolicy::retired("billing", &target)
            };
            let grant = Grant {
                request_id: 7,
                group: &group,
                user_key: "slack:U0ALICE",
                user_email: None,
                directory_id: None,
                justification: "month-end close",
                granted_at: Utc::now(),
                expires_at: None,
            };
            provider.revoke(&grant).await.unwrap();
        }
        let sink = AuditSink::new(url, Secret::new("audit-secret")).unwrap();
        let event = Event {
            id: 1,
            at: Utc::now().timestamp_millis(),
            request_id: Some(7),
            actor: "jitbot".into(),
            action: "revoked".into(),
            platform: None,
            channel: None,
            detail: "{}".into(),
            prev_hash: String::new(),
            hash: "00".into(),
            hash_kind: "sha256".into(),
        };
        sink.send(&event).await.unwrap();
        received.lock().unwrap().clone()
    });
    assert_eq!(
        received,
        [Version::HTTP_11, Version::HTTP_2, Version::HTTP_11],
        "two webhook events, one audit event"
    );
    assert!(
        proxy.accept().is_err(),
        "nothing reached the proxy: the events went straight to this machine"
    );
}

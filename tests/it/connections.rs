//! The listener against slow and multiplexed connections, over raw TCP: HTTP/1.1 only, a bound on
//! how long headers may take (also between requests on a kept-alive connection), and a shutdown
//! that answers the request in hand but waits for no staller beyond its grace period.

use std::time::{Duration, Instant};

use chrono::Utc;
use jitbot::http::serve::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// A header timeout short enough for a test, with the places for connections shown.
fn quick(max_open: usize, header_read_timeout: Duration, drain_timeout: Duration) -> Options {
    Options {
        connections: ConnectionLimits {
            max_open,
            header_read_timeout,
            drain_timeout,
            ..ConnectionLimits::default()
        },
        ..Options::default()
    }
}

fn address(t: &TestApp) -> String {
    t.url.trim_start_matches("http://").to_string()
}

async fn connect(t: &TestApp) -> TcpStream {
    TcpStream::connect(address(t)).await.unwrap()
}

/// Reads until the server closes the connection or `within` passes: what came, and whether it
/// was closed (an end of stream or a reset).
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return (received, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (received, true),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Reads one whole response (head and `content-length` body) from a connection left open.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .expect("the response has a content-length");
            if body.len() >= length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("the response came within 10 s")
            .unwrap();
        assert!(n > 0, "closed mid-response after {text:?}");
        received.extend_from_slice(&buffer[..n]);
    }
}

#[tokio::test]
async fn an_http2_prior_knowledge_connection_is_closed_without_being_served() {
    let t = TestApp::spawn().await;
    let mut h2 = connect(&t).await;
    // The client preface, then an empty SETTINGS frame, as an h2c client with prior knowledge
    // opens.
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    h2.write_all(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]).await.unwrap();
    let (received, closed) = read_until_closed(&mut h2, Duration::from_secs(5)).await;
    assert!(closed, "the HTTP/2 connection was left open");
    // An HTTP/2 server's first bytes are its own SETTINGS frame.
    assert!(
        received.is_empty(),
        "the server answered HTTP/2 with {received:?}"
    );
    // HTTP/1.1 is served as ever.
    let health = reqwest::get(format!("{}/healthz", t.url)).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), reqwest::Version::HTTP_11);
}

#[tokio::test]
async fn connections_that_stall_before_their_headers_end_are_closed_and_slack_gets_in() {
    let timeout = Duration::from_secs(1);
    let t = TestApp::spawn_with_options(DEFAULT_GROUPS, quick(2, timeout, Duration::from_secs(20)))
        .await;
    let started = Instant::now();
    // Both places taken: one connection says nothing, the other stops half-way through its headers.
    let mut silent = connect(&t).await;
    let mut halfway = connect(&t).await;
    halfway
        .write_all(b"POST /slack/commands HTTP/1.1\r\nHost: jitbot\r\nContent-Type: applic")
        .await
        .unwrap();
    // A signed command waits for a place, and gets one once the stallers are closed.
    let reply = tokio::time::timeout(Duration::from_secs(10), t.say("U0ALICE", "help"))
        .await
        .expect("the stalled connections kept a signed command out");
    assert!(!reply.is_empty());
    for (name, stalled) in [("silent", &mut silent), ("halfway", &mut halfway)] {
        let (_, closed) = read_until_closed(stalled, Duration::from_secs(5)).await;
        assert!(closed, "the {name} connection was left open");
    }
    assert!(
        started.elapsed() >= timeout,
        "closed before the header timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(t.state_counts().await, [0, 0, 0, 0]);
}

#[tokio::test]
async fn a_kept_alive_connection_that_sends_no_next_request_is_closed_after_the_header_timeout() {
    let timeout = Duration::from_secs(1);
    let t =
        TestApp::spawn_with_options(DEFAULT_GROUPS, quick(512, timeout, Duration::from_secs(20)))
            .await;
    let mut connection = connect(&t).await;
    connection
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: jitbot\r\n\r\n")
        .await
        .unwrap();
    let response = read_response(&mut connection).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        !response.to_ascii_lowercase().contains("connection: close"),
        "the connection was not kept alive: {response}"
    );
    let answered = Instant::now();
    let (rest, closed) = read_until_closed(&mut connection, Duration::from_secs(5)).await;
    assert!(closed, "an idle kept-alive connection was left open");
    assert!(rest.is_empty(), "{rest:?}");
    assert!(
        answered.elapsed() >= timeout - Duration::from_millis(100),
        "closed before the header timeout: {:?}",
        answered.elapsed()
    );
}

#[tokio::test]
async fn a_request_in_hand_at_shutdown_is_answered_then_the_listener_is_gone() {
    let mut t = TestApp::spawn().await;
    let address = address(&t);
    let body = slash_command_body("U0ALICE", REQUEST_CHANNEL, "help");
    let timestamp = Utc::now().timestamp().to_string();
    let signature = jitbot::slack::verify::sign(SIGNING_SECRET, &timestamp, body.as_bytes());
    let head = format!(
        "POST /slack/commands HTTP/1.1\r\nHost: jitbot\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         X-Slack-Request-Timestamp: {timestamp}\r\nX-Slack-Signature: {signature}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let mut connection = connect(&t).await;
    connection.write_all(head.as_bytes()).await.unwrap();
    connection.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = tokio::spawn(async move {
        let took = t.shut_down().await;
        (t, took)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !stopping.is_finished(),
        "the server stopped with a request in hand"
    );
    connection.write_all(&body.as_bytes()[10..]).await.unwrap();
    let (response, closed) = read_until_closed(&mut connection, Duration::from_secs(5)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(closed, "the connection was kept alive through a shutdown");
    let (_t, took) = stopping.await.unwrap();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        TcpStream::connect(&address).await.is_err(),
        "a stopped server still accepts connections"
    );
}

#[tokio::test]
async fn a_connection_stalled_at_shutdown_holds_it_no_longer_than_the_grace_period() {
    let grace = Duration::from_secs(1);
    let mut t =
        TestApp::spawn_with_options(DEFAULT_GROUPS, quick(512, Duration::from_secs(60), grace))
            .await;
    let mut halfway = connect(&t).await;
    halfway
        .write_all(b"POST /slack/commands HTTP/1.1\r\nHost: jitbot\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let took = t.shut_down().await;
    assert!(
        took >= grace,
        "took {took:?}: the staller was not waited for"
    );
    assert!(took < grace * 4, "took {took:?}");
    let (_, closed) = read_until_closed(&mut halfway, Duration::from_secs(5)).await;
    assert!(closed, "the stalled connection outlived the shutdown");
}

#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_closed_and_frees_its_place() {
    // One place only: while the staller holds it, nobody else gets in.
    let options = Options {
        connections: ConnectionLimits {
            max_open: 1,
            write_stall_timeout: Duration::from_secs(1),
            ..ConnectionLimits::default()
        },
        ..Options::default()
    };
    let t = TestApp::spawn_with_options(DEFAULT_GROUPS, options).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    // A small receive window, so the answers it never reads fill the buffers quickly.
    socket.set_recv_buffer_size(4096).unwrap();
    let staller = socket.connect(address(&t).parse().unwrap()).await.unwrap();
    let (_unread, mut sending) = staller.into_split();
    let requests = b"GET /healthz HTTP/1.1\r\nHost: jitbot\r\n\r\n".repeat(1024);
    let pipelining = tokio::spawn(async move {
        // Sends until the server stops taking requests, then until it closes the connection.
        for _ in 0..1024 {
            if sending.write_all(&requests).await.is_err() {
                return;
            }
        }
    });

    let started = tokio::time::Instant::now();
    let served = tokio::time::timeout(Duration::from_secs(30), async {
        reqwest::get(format!("{}/healthz", t.url)).await
    })
    .await
    .expect("the place held by a client that reads nothing is freed")
    .unwrap();
    assert!(served.status().is_success());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "not before the stall timeout"
    );
    pipelining.abort();
}

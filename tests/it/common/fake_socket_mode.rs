//! A fake Slack Socket Mode server on 127.0.0.1: says `hello` on each connection, sends the
//! envelopes a test gives it, records every acknowledgement, and can drop a connection or ask
//! for a new one (`disconnect`) as Slack does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// What the server can be told to do on the live connection.
enum Command {
    Send(String),
    /// Close the socket without a word.
    Drop,
}

#[derive(Default)]
struct State_ {
    connections: usize,
    live: Option<mpsc::UnboundedSender<Command>>,
    acks: Vec<Value>,
    next_envelope: u64,
    /// Every envelope sent, by id: Slack delivers one again as it was.
    sent: std::collections::HashMap<String, Value>,
}

#[derive(Clone)]
pub struct FakeSocketMode {
    /// What `apps.connections.open` hands out.
    pub url: String,
    state: Arc<Mutex<State_>>,
}

impl FakeSocketMode {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "ws://{}/link/?ticket=test-ticket",
            listener.local_addr().unwrap()
        );
        let state = Arc::new(Mutex::new(State_::default()));
        let accepting = state.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(tcp, accepting.clone()));
            }
        });
        Self { url, state }
    }

    /// How many connections jitbot has opened so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Waits (up to 5 s) until jitbot has opened `count` connections, the last one live.
    pub async fn wait_for_connections(&self, count: usize) {
        for _ in 0..500 {
            if self.connections() >= count && self.state.lock().unwrap().live.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "jitbot opened {} connection(s), not {count}",
            self.connections()
        );
    }

    /// Sends an envelope of `kind` (`slash_commands`, `interactive`) on the live connection;
    /// returns its id.
    pub fn send_envelope(&self, kind: &str, payload: Value) -> String {
        let mut state = self.state.lock().unwrap();
        state.next_envelope += 1;
        let id = format!("envelope-{}", state.next_envelope);
        let frame = json!({ "envelope_id": id, "type": kind, "payload": payload,
                            "accepts_response_payload": true, "retry_attempt": 0 });
        send(&state, Command::Send(frame.to_string()));
        state.sent.insert(id.clone(), frame);
        id
    }

    /// Sends envelope `id` again on the live connection, as Slack does when it did not get the
    /// acknowledgement in time, or after the connection it went out on dropped.
    pub fn deliver_again(&self, id: &str) {
        let mut state = self.state.lock().unwrap();
        let frame = state.sent.get_mut(id).expect("an envelope sent before");
        let attempt = frame["retry_attempt"].as_u64().unwrap_or(0) + 1;
        frame["retry_attempt"] = json!(attempt);
        frame["retry_reason"] = json!("timeout");
        let text = frame.to_string();
        send(&state, Command::Send(text));
    }

    /// Waits (up to 5 s) for `count` acknowledgements of envelope `id`.
    pub async fn acks_of(&self, id: &str, count: usize) -> Vec<Value> {
        for _ in 0..500 {
            let found: Vec<Value> = (self.acks().into_iter())
                .filter(|a| a["envelope_id"] == id)
                .collect();
            if found.len() >= count {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "envelope {id} was not acknowledged {count} times; acks: {:#?}",
            self.acks()
        );
    }

    /// Sends `{"type": "disconnect"}`: Slack wants jitbot to connect again.
    pub fn ask_to_reconnect(&self) {
        let frame = json!({ "type": "disconnect", "reason": "refresh_requested" });
        send(
            &self.state.lock().unwrap(),
            Command::Send(frame.to_string()),
        );
    }

    /// Closes the live connection without a word, as a network failure would.
    pub fn drop_connection(&self) {
        let mut state = self.state.lock().unwrap();
        send(&state, Command::Drop);
        state.live = None;
    }

    /// Waits (up to 5 s) for the acknowledgement of envelope `id`.
    pub async fn ack_of(&self, id: &str) -> Value {
        self.acks_of(id, 1).await.remove(0)
    }

    pub fn acks(&self) -> Vec<Value> {
        self.state.lock().unwrap().acks.clone()
    }
}

fn send(state: &State_, command: Command) {
    state
        .live
        .as_ref()
        .expect("jitbot is connected")
        .send(command)
        .unwrap();
}

async fn serve(tcp: tokio::net::TcpStream, state: Arc<Mutex<State_>>) {
    let Ok(socket) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (mut sink, mut stream) = socket.split();
    let (commands, mut pending) = mpsc::unbounded_channel();
    let hello = json!({ "type": "hello", "num_connections": 1,
                        "connection_info": { "app_id": "A0JITBOT" } });
    if sink.send(Message::text(hello.to_string())).await.is_err() {
        return;
    }
    {
        let mut state = state.lock().unwrap();
        state.connections += 1;
        state.live = Some(commands);
    }
    loop {
        tokio::select! {
            command = pending.recv() => match command {
                Some(Command::Send(text)) => {
                    if sink.send(Message::text(text)).await.is_err() {
                        return;
                    }
                }
                Some(Command::Drop) | None => return,
            },
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let ack = serde_json::from_str(&text).unwrap_or(json!({ "unreadable": text.as_str() }));
                    state.lock().unwrap().acks.push(ack);
                }
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}

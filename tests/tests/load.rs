//! Load, bounded: 10 sessions with running static previews (html5-boilerplate copies), 100
//! WebSocket subscribers spread over them from seq 0, and builtin instructions sent at 10/s
//! for 5 s on a fixed schedule that never waits for a command to finish. Every subscriber
//! must hold every event of its session exactly once, in seq order, the same as the other
//! subscribers of that session, and every command must end READY or FAILED. No timing is
//! asserted: the figures are `devflow-bench load`'s (BENCHMARKS.md, "Load").

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use devflow_tests::daemon::{eventually, TOKEN};
use devflow_tests::fixtures::copy_site;
use devflow_tests::{Client, Daemon, RestClient, WsClient};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const SESSIONS: usize = 10;
const SUBSCRIBERS: usize = 100;
const RATE_PER_SECOND: u32 = 10;
const COMMANDS: usize = 50; // 5 s at 10/s
/// Two instructions the builtin proposer reads on html5-boilerplate; alternated per
/// session, each changes the site.
const INSTRUCTIONS: [&str; 2] = ["make the text color #112233", "make the text color #445566"];
/// Liveness bounds only (a debug build on a shared machine), never asserted as speed.
const WAIT: Duration = Duration::from_secs(180);

/// A subscriber: keeps every event of its session until it has reached the target seq its
/// session is given (or nothing has arrived for a long while).
async fn subscriber(
    daemon_ws: String,
    session_id: String,
    session: usize,
    mut targets: watch::Receiver<Vec<Option<u64>>>,
) -> Vec<Value> {
    let url = format!("{daemon_ws}?token={TOKEN}");
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("a subscriber connects");
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "session/subscribe",
                         "params": {"sessionId": session_id, "afterSeq": 0}});
    socket
        .send(Message::Text(request.to_string().into()))
        .await
        .expect("subscribe is sent");
    let mut events: Vec<Value> = Vec::new();
    let reached = |events: &[Value], targets: &[Option<u64>]| match targets[session] {
        Some(target) => events.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0) >= target,
        None => false,
    };
    loop {
        if reached(&events, &targets.borrow()) {
            return events;
        }
        tokio::select! {
            changed = targets.changed() => {
                if changed.is_err() {
                    return events;
                }
            }
            frame = tokio::time::timeout(WAIT, socket.next()) => {
                let text = match frame {
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(_))) => continue,
                    // Closed or silent: the assertions below say what is missing.
                    _ => return events,
                };
                let message: Value = serde_json::from_str(text.as_str()).expect("frames are JSON");
                if let Some(error) = message.get("error") {
                    panic!("session/subscribe failed: {error}");
                }
                if message["method"] == "event" {
                    events.push(message["params"].clone());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_gets_every_event_once_in_order_while_commands_stream_in() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut rest = RestClient::new(&daemon);

    let mut session_ids = Vec::new();
    for s in 0..SESSIONS {
        let site = copy_site("html5-boilerplate", &temp.path().join(format!("site-{s}")));
        let created = rest
            .call(
                "session/create",
                json!({"name": format!("load {s}"), "source": {"kind": "dir", "path": site}}),
            )
            .await
            .expect("session/create");
        let id = created["sessionId"].as_str().unwrap().to_string();
        rest.call(
            "session/updateSettings",
            json!({"sessionId": id, "proposer": "builtin"}),
        )
        .await
        .expect("the builtin proposer is chosen");
        session_ids.push(id);
    }

    // Start every preview and wait for each SESSION_READY.
    let mut control = WsClient::connect(&daemon).await;
    for id in &session_ids {
        control.subscribe(id, 0).await.expect("control subscribes");
    }
    for id in &session_ids {
        rest.call("session/start", json!({ "sessionId": id }))
            .await
            .expect("session/start");
    }
    let mut waiting: HashSet<String> = session_ids.iter().cloned().collect();
    while !waiting.is_empty() {
        let event = control.next_event().await;
        let session = event["sessionId"].as_str().unwrap_or("").to_string();
        match event["type"].as_str() {
            Some("SESSION_READY") => {
                waiting.remove(&session);
            }
            Some("SESSION_STATUS") if event["data"]["status"] == "ERROR" => {
                panic!("session {session} failed to start: {event}")
            }
            _ => {}
        }
    }

    // The subscribers, subscriber i on session i mod N, each from seq 0.
    let (targets_tx, targets) = watch::channel(vec![None; SESSIONS]);
    let subscribers: Vec<(usize, tokio::task::JoinHandle<Vec<Value>>)> = (0..SUBSCRIBERS)
        .map(|i| {
            let session = i % SESSIONS;
            let task = tokio::spawn(subscriber(
                daemon.ws_url(),
                session_ids[session].clone(),
                session,
                targets.clone(),
            ));
            (session, task)
        })
        .collect();

    // Open loop: command k to session k mod N at k / rate, whatever the earlier ones did.
    let http = reqwest::Client::new();
    let period = Duration::from_secs(1) / RATE_PER_SECOND;
    let start = Instant::now();
    let mut posts = Vec::new();
    for k in 0..COMMANDS {
        tokio::time::sleep_until((start + period * k as u32).into()).await;
        let session = k % SESSIONS;
        let instruction = INSTRUCTIONS[(k / SESSIONS) % 2];
        let (http, url) = (
            http.clone(),
            format!(
                "{}/sessions/{}/commands",
                daemon.base_url, session_ids[session]
            ),
        );
        posts.push((
            session,
            tokio::spawn(async move {
                let response = http
                    .post(url)
                    .bearer_auth(TOKEN)
                    .json(&json!({ "instruction": instruction }))
                    .send()
                    .await
                    .expect("POST /commands");
                assert_eq!(response.status(), 202, "a command is accepted");
                let body: Value = response.json().await.expect("JSON body");
                body["commandId"].as_str().unwrap().to_string()
            }),
        ));
    }
    let mut commands: Vec<(usize, String)> = Vec::new();
    for (session, post) in posts {
        commands.push((session, post.await.expect("the POST task")));
    }

    // Every command ends, as the store sees it.
    let mut outcomes: HashMap<String, (String, Option<String>)> = HashMap::new();
    for (session, command_id) in &commands {
        let session_id = &session_ids[*session];
        let command = eventually(WAIT, "a command to end READY or FAILED", || {
            let http = http.clone();
            let url = format!(
                "{}/sessions/{session_id}/commands/{command_id}",
                daemon.base_url
            );
            async move {
                let command: Value = http
                    .get(url)
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                matches!(command["status"].as_str(), Some("READY" | "FAILED")).then_some(command)
            }
        })
        .await;
        let status = command["status"].as_str().unwrap().to_string();
        let summary = command["errorSummary"].as_str().map(str::to_string);
        if status == "FAILED" {
            assert!(
                summary.as_deref().is_some_and(|s| !s.is_empty()),
                "a FAILED command says why: {command}"
            );
        }
        outcomes.insert(command_id.clone(), (status, summary));
    }
    let ready = outcomes.values().filter(|(s, _)| s == "READY").count();
    eprintln!(
        "{} commands: {ready} READY, {} FAILED {:?}",
        commands.len(),
        commands.len() - ready,
        outcomes
            .values()
            .filter_map(|(_, s)| s.as_ref())
            .collect::<HashSet<_>>()
    );

    // Each session's newest seq now; every subscriber must get that far.
    let mut last_seqs = Vec::new();
    for id in &session_ids {
        let reply = control
            .subscribe(id, 1 << 53)
            .await
            .expect("session/subscribe");
        last_seqs.push(reply["lastSeq"].as_u64().expect("lastSeq"));
    }
    targets_tx
        .send(last_seqs.iter().map(|s| Some(*s)).collect())
        .unwrap();

    let mut streams: Vec<Vec<Vec<Value>>> = vec![Vec::new(); SESSIONS];
    for (session, task) in subscribers {
        streams[session].push(task.await.expect("a subscriber task"));
    }
    let commands_of = |session: usize| -> Vec<&String> {
        commands
            .iter()
            .filter(|(s, _)| *s == session)
            .map(|(_, id)| id)
            .collect()
    };
    for (session, subscribers) in streams.iter().enumerate() {
        let last_seq = last_seqs[session] as usize;
        let first = &subscribers[0];
        for (i, events) in subscribers.iter().enumerate() {
            let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
            let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
            assert_eq!(
                seqs, expected,
                "session {session}, subscriber {i}: seqs must run 1, 2, 3, … with no gap, repeat or reordering"
            );
            assert!(
                events.len() >= last_seq,
                "session {session}, subscriber {i}: {} events; the session's last seq is {last_seq}",
                events.len()
            );
            assert_eq!(
                &events[..last_seq],
                &first[..last_seq],
                "session {session}, subscriber {i}: the same events as subscriber 0"
            );
            for command_id in commands_of(session) {
                let finals: Vec<&Value> = events
                    .iter()
                    .filter(|e| {
                        e["commandId"] == command_id.as_str()
                            && e["type"] == "COMMAND_STATUS"
                            && matches!(e["data"]["status"].as_str(), Some("READY" | "FAILED"))
                    })
                    .collect();
                assert_eq!(
                    finals.len(),
                    1,
                    "session {session}, subscriber {i}: command {command_id} ends exactly once"
                );
                assert_eq!(
                    finals[0]["data"]["status"].as_str(),
                    Some(outcomes[command_id].0.as_str()),
                    "the event stream and the store agree on how {command_id} ended"
                );
            }
        }
    }
}

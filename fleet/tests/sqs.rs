//! The SQS transport against moto's server mode with the real SDK client: two daemons' queues
//! on one server, envelopes from A's sender to B's queue in batches, acks that remove them, a
//! large event as a pointer, a dead daemon's queue reported as gone, idempotent creation, and
//! the errors a person sees for a bad daemon id or an endpoint nobody answers on.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use devflow_fleet::{
    DaemonQueue, Envelope, FanoutSender, FleetError, GateDecision, Received, SeqGate, SqsClient,
    SqsOptions,
};
use devflow_protocol::{Event, EventBody};
use devflow_tests::moto::{self, Moto};

fn options(moto: &Moto) -> SqsOptions {
    SqsOptions {
        endpoint: Some(moto.endpoint.clone()),
        region: Some(moto::REGION.into()),
        credentials: Some((moto::ACCESS_KEY_ID.into(), moto::SECRET_ACCESS_KEY.into())),
        wait_seconds: 1,
        ..SqsOptions::default()
    }
}

fn event(session: &str, seq: u64, message: &str) -> Event {
    Event {
        session_id: session.into(),
        seq,
        at: 1_700_000_000_000 + seq as i64,
        command_id: None,
        body: EventBody::Log {
            level: "info".into(),
            message: message.into(),
        },
    }
}

/// Receives until `count` messages arrived or a minute passed (a bound, not a measurement).
async fn receive_at_least(queue: &DaemonQueue, count: usize) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut received = Vec::new();
    while received.len() < count && Instant::now() < deadline {
        received.extend(queue.receive().await.expect("receive"));
    }
    received
}

/// (visible, in flight) messages of a queue, as SQS counts them.
async fn message_counts(queue: &DaemonQueue) -> (String, String) {
    let attributes = queue
        .client()
        .client()
        .get_queue_attributes()
        .queue_url(queue.url())
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("queue attributes");
    let attributes = attributes.attributes().cloned().unwrap_or_default();
    let get = |name: QueueAttributeName| attributes.get(&name).cloned().unwrap_or_default();
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

#[tokio::test]
async fn twenty_five_envelopes_reach_the_other_daemon_once_and_acked_ones_are_gone() {
    let moto = Moto::start();
    let a = DaemonQueue::create(&options(&moto), "a")
        .await
        .expect("queue A");
    let b = DaemonQueue::create_with(a.client(), "b")
        .await
        .expect("queue B");
    assert_ne!(a.url(), b.url());
    let envelopes: Vec<Envelope> = (1..=25)
        .map(|seq| Envelope::from_event(&event("s-1", seq, &format!("step {seq}")), "a"))
        .collect();
    // 25 entries: SQS (and moto) refuse a batch of more than 10, so this needs three. Sent
    // from a spawned task, as a daemon does: the future must be `Send`.
    let report = tokio::spawn({
        let (sender, urls, envelopes) = (a.sender(), vec![b.url().to_string()], envelopes.clone());
        async move { sender.send(&urls, &envelopes).await }
    })
    .await
    .expect("the send task");
    assert_eq!(
        (report.sent, report.gone_queues.len(), report.failed.len()),
        (25, 0, 0),
        "{report:?}"
    );

    let received = receive_at_least(&b, 25).await;
    let seqs: Vec<u64> = received.iter().map(|r| r.envelope.seq()).collect();
    assert_eq!(
        seqs.iter().copied().collect::<BTreeSet<_>>(),
        (1..=25).collect::<BTreeSet<_>>(),
        "{seqs:?}"
    );
    assert_eq!(seqs.len(), 25, "each once: {seqs:?}");
    for r in &received {
        let expected = &envelopes[(r.envelope.seq() - 1) as usize];
        assert_eq!(&r.envelope, expected, "the envelope arrives as it was sent");
    }
    // Received but not acked: in flight, still SQS's.
    assert_eq!(message_counts(&b).await, ("0".into(), "25".into()));

    // The receiver's gate hands them on in seq order once each (SQS promises no order).
    let mut gate = SeqGate::new();
    gate.advance("s-1", 0);
    let mut by_seq = received.clone();
    by_seq.sort_by_key(|r| r.envelope.seq());
    for r in by_seq.iter().chain(by_seq.iter()) {
        match gate.check(r.envelope.clone()) {
            GateDecision::Deliver(_) | GateDecision::Duplicate => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(gate.last("s-1"), Some(25));

    // Acked and received again from a spawned task, as a daemon's receive loop does.
    let again = tokio::spawn({
        let b = b.clone();
        async move {
            b.ack(&received).await.expect("ack");
            b.receive().await.expect("receive")
        }
    })
    .await
    .expect("the receive task");
    assert_eq!(again.len(), 0);
    assert_eq!(message_counts(&b).await, ("0".into(), "0".into()));
    // Nothing went to A's own queue.
    assert_eq!(message_counts(&a).await, ("0".into(), "0".into()));
}

#[tokio::test]
async fn an_event_too_large_for_sqs_travels_as_a_pointer() {
    let moto = Moto::start();
    let b = DaemonQueue::create(&options(&moto), "b")
        .await
        .expect("queue B");
    let sender = FanoutSender::connect(&options(&moto))
        .await
        .expect("sender");
    let large = event("s-2", 7, &"x".repeat(300 * 1024));
    let pointer = Envelope::from_event(&large, "a");
    assert!(matches!(pointer, Envelope::Pointer { .. }), "{pointer:?}");
    // Two events that fit alone (150 KiB) but not together in one 256 KiB batch, and an
    // inline envelope made by hand around the large event: it goes as the pointer too.
    let medium = |seq| Envelope::from_event(&event("s-2", seq, &"m".repeat(150 * 1024)), "a");
    let sent = vec![
        medium(5),
        medium(6),
        Envelope::Event {
            event: large,
            from: "a".into(),
        },
    ];
    assert!(matches!(sent[0], Envelope::Event { .. }));
    let report = sender.send(&[b.url().to_string()], &sent).await;
    assert_eq!((report.sent, report.failed.len()), (3, 0), "{report:?}");

    let mut received = receive_at_least(&b, 3).await;
    received.sort_by_key(|r| r.envelope.seq());
    let envelopes: Vec<&Envelope> = received.iter().map(|r| &r.envelope).collect();
    assert_eq!(envelopes, vec![&sent[0], &sent[1], &pointer]);
    b.ack(&received).await.expect("ack");

    let mut gate = SeqGate::new();
    gate.advance("s-2", 6);
    assert_eq!(gate.check(pointer), GateDecision::Gap { after: 6, upto: 7 });
}

#[tokio::test]
async fn a_deleted_queue_is_reported_as_gone_and_deleting_it_again_is_fine() {
    let moto = Moto::start();
    let b = DaemonQueue::create(&options(&moto), "b")
        .await
        .expect("queue B");
    let c = DaemonQueue::create_with(b.client(), "c")
        .await
        .expect("queue C");
    let c_url = c.url().to_string();
    let sender = b.sender();
    assert_eq!(
        sender.queue_url("c").await.expect("GetQueueUrl"),
        Some(c_url.clone())
    );
    c.delete().await.expect("delete C");
    sender
        .delete_queue(&c_url)
        .await
        .expect("deleting a deleted queue is fine");
    assert_eq!(sender.queue_url("c").await.expect("GetQueueUrl"), None);

    let envelopes: Vec<Envelope> = (1..=3)
        .map(|seq| Envelope::from_event(&event("s-3", seq, "x"), "a"))
        .collect();
    let report = sender
        .send(&[c_url.clone(), b.url().to_string()], &envelopes)
        .await;
    assert_eq!(report.gone_queues, vec![c_url], "{report:?}");
    assert_eq!((report.sent, report.failed.len()), (3, 0), "{report:?}");
    assert_eq!(receive_at_least(&b, 3).await.len(), 3);
}

#[tokio::test]
async fn create_is_idempotent_and_takes_over_a_queue_with_other_settings() {
    let moto = Moto::start();
    let first = DaemonQueue::create(&options(&moto), "a")
        .await
        .expect("create");
    let again = DaemonQueue::create(&options(&moto), "a")
        .await
        .expect("create again");
    assert_eq!(first.url(), again.url());
    assert_eq!(first.name(), "devflow-daemon-a");
    assert!(
        first.url().ends_with("/devflow-daemon-a"),
        "{}",
        first.url()
    );

    // A restart with another long poll keeps the queue and updates it.
    let longer = DaemonQueue::create(
        &SqsOptions {
            wait_seconds: 2,
            ..options(&moto)
        },
        "a",
    )
    .await
    .expect("create with other settings");
    assert_eq!(longer.url(), first.url());
    let attributes = first
        .client()
        .client()
        .get_queue_attributes()
        .queue_url(first.url())
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes")
        .attributes()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        attributes
            .get(&QueueAttributeName::ReceiveMessageWaitTimeSeconds)
            .map(String::as_str),
        Some("2")
    );
    assert_eq!(
        attributes
            .get(&QueueAttributeName::MessageRetentionPeriod)
            .map(String::as_str),
        Some("300")
    );
    let tags = first
        .client()
        .client()
        .list_queue_tags()
        .queue_url(first.url())
        .send()
        .await
        .expect("tags");
    assert_eq!(
        tags.tags()
            .and_then(|t| t.get("devflow:daemon"))
            .map(String::as_str),
        Some("a")
    );

    let listed = first.sender().daemon_queues().await.expect("ListQueues");
    assert_eq!(listed, vec![("a".to_string(), first.url().to_string())]);
}

#[tokio::test]
async fn a_body_that_is_not_an_envelope_is_deleted_not_returned() {
    let moto = Moto::start();
    let b = DaemonQueue::create(&options(&moto), "b")
        .await
        .expect("queue B");
    b.client()
        .client()
        .send_message()
        .queue_url(b.url())
        .message_body("not an envelope")
        .send()
        .await
        .expect("a foreign message");
    let envelope = Envelope::from_event(&event("s-4", 1, "x"), "a");
    let report = b
        .sender()
        .send(&[b.url().to_string()], std::slice::from_ref(&envelope))
        .await;
    assert_eq!(report.sent, 1, "{report:?}");
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Until both were handed out: the foreign one is deleted, the envelope waits for its ack.
    while message_counts(&b).await != ("0".into(), "1".into()) && Instant::now() < deadline {
        received.extend(b.receive().await.expect("receive"));
    }
    assert_eq!(
        received.iter().map(|r| &r.envelope).collect::<Vec<_>>(),
        vec![&envelope]
    );
    b.ack(&received).await.expect("ack");
    assert_eq!(message_counts(&b).await, ("0".into(), "0".into()));
}

#[tokio::test]
async fn a_bad_daemon_id_is_refused_before_any_call() {
    // No server at all: the id is checked first.
    let options = SqsOptions {
        endpoint: Some("http://127.0.0.1:9".into()),
        credentials: Some(("id".into(), "secret".into())),
        ..SqsOptions::default()
    };
    for id in ["", "has space", "dots.are.not.allowed", &"x".repeat(61)] {
        match DaemonQueue::create(&options, id).await {
            Err(FleetError::InvalidDaemonId { id: named, .. }) => assert_eq!(named, id),
            other => panic!("{id:?}: expected InvalidDaemonId, got {other:?}"),
        }
    }
    let sender = FanoutSender::connect(&options).await.expect("sender");
    assert!(matches!(
        sender.queue_url("a/b").await,
        Err(FleetError::InvalidDaemonId { .. })
    ));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_named_in_the_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let endpoint = format!("http://127.0.0.1:{port}");
    let options = SqsOptions {
        endpoint: Some(endpoint.clone()),
        region: Some(moto::REGION.into()),
        credentials: Some(("id".into(), "secret".into())),
        max_attempts: 1,
        wait_seconds: 1,
        ..SqsOptions::default()
    };
    let error = DaemonQueue::create(&options, "a")
        .await
        .expect_err("nobody answers");
    assert!(matches!(error, FleetError::Unreachable { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains(&endpoint), "{text}");
    assert!(text.contains("devflow-daemon-a"), "{text}");
    assert!(text.contains("sqs:CreateQueue"), "{text}");

    // A send to an unreachable queue is a failure in the report, not a gone queue.
    let client = SqsClient::connect(&options).await.expect("client");
    let url = format!("{endpoint}/123456789012/devflow-daemon-b");
    let report = FanoutSender::new(client)
        .send(
            std::slice::from_ref(&url),
            &[Envelope::from_event(&event("s-5", 1, "x"), "a")],
        )
        .await;
    assert_eq!(report.sent, 0);
    assert!(report.gone_queues.is_empty(), "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].0, url);
    assert!(report.failed[0].1.contains(&endpoint), "{report:?}");
    assert!(report.failed[0].1.contains("sqs:SendMessage"), "{report:?}");
}

#[tokio::test]
async fn open_uses_a_queue_made_ahead_and_makes_a_missing_one() {
    let moto = Moto::start();
    let options = options(&moto);
    let ahead = DaemonQueue::create(&options, "made-ahead")
        .await
        .expect("made ahead");
    let opened = DaemonQueue::open(&options, "made-ahead")
        .await
        .expect("open");
    assert_eq!(opened.url(), ahead.url());
    let sender = opened.sender();
    assert_eq!(sender.queue_url("fresh").await.expect("lookup"), None);
    let fresh = DaemonQueue::open(&options, "fresh")
        .await
        .expect("made now");
    assert_eq!(
        sender.queue_url("fresh").await.expect("lookup").as_deref(),
        Some(fresh.url())
    );
    assert!(DaemonQueue::open(&options, "bad id").await.is_err());
}

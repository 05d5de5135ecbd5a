//! [`FanoutSender`]: puts envelopes on other daemons' queues. Every envelope goes to every
//! queue given, in `SendMessageBatch` calls of at most 10 entries and 256 KiB, the queues in
//! parallel. A queue that no longer exists is reported, not failed on, so the caller can
//! forget that daemon; an entry SQS refuses for its own reasons is retried once. Sending is
//! only ever a copy: nothing here decides what the store holds.

use std::ops::Range;

use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchRequestEntry};
use futures::StreamExt;
use tracing::Instrument;

use crate::client::queue_name_of;
use crate::error::{chain, is_queue_gone, sdk_error};
use crate::{Envelope, FleetError, SqsClient, SqsOptions};

/// SQS's most entries per batch.
const MAX_BATCH_ENTRIES: usize = 10;

/// SQS's largest batch payload (the sum of the bodies).
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Queues written at once by one [`FanoutSender::send`].
const QUEUES_IN_FLIGHT: usize = 16;

/// What one [`FanoutSender::send`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SendReport {
    /// Messages SQS accepted, over all queues (envelopes × queues when all went well).
    pub sent: usize,
    /// Queue URLs that no longer exist: their daemons are gone.
    pub gone_queues: Vec<String>,
    /// (queue URL, what failed): entries refused after one retry, or a queue's whole send.
    pub failed: Vec<(String, String)>,
}

/// Sends envelopes to other daemons' queues. Cheap to clone; clones share the client.
///
/// [`FanoutSender::connect`] opens its own client; a daemon that also has a
/// [`DaemonQueue`](crate::DaemonQueue) takes [`DaemonQueue::sender`](crate::DaemonQueue::sender)
/// (or [`FanoutSender::new`] with the same [`SqsClient`]) to share one connection pool.
#[derive(Debug, Clone)]
pub struct FanoutSender {
    client: SqsClient,
}

/// How one queue's part of a send went.
#[derive(Debug, Default)]
struct QueueOutcome {
    sent: usize,
    gone: bool,
    failed: Vec<String>,
}

/// A batch call's answer: SQS accepted `sent`; `retryable` and `refused` are positions (into
/// the envelopes) SQS did not take, for reasons of its own or of the entry.
#[derive(Debug, Default)]
struct BatchAnswer {
    sent: usize,
    retryable: EntryFailures,
    refused: EntryFailures,
}

/// (position in the envelopes, what SQS said) of entries a batch did not take.
type EntryFailures = Vec<(usize, String)>;

/// Why a whole batch call failed.
enum BatchFailure {
    Gone,
    Failed(String),
}

impl FanoutSender {
    /// A sender with its own client from `options` (touches no network).
    pub async fn connect(options: &SqsOptions) -> Result<FanoutSender, FleetError> {
        Ok(FanoutSender::new(SqsClient::connect(options).await?))
    }

    /// A sender on `client`.
    pub fn new(client: SqsClient) -> FanoutSender {
        FanoutSender { client }
    }

    /// The client this sender uses.
    pub fn client(&self) -> &SqsClient {
        &self.client
    }

    /// Sends every envelope to every queue URL. An envelope whose body would exceed
    /// [`MAX_INLINE_BODY_BYTES`](crate::MAX_INLINE_BODY_BYTES) goes as its pointer. The
    /// report counts the messages SQS took, lists the queues that no longer exist, and the
    /// failures (an entry refused twice, or a queue's whole send with how much of it was
    /// left unsent); this call itself never fails.
    pub async fn send(&self, queue_urls: &[String], envelopes: &[Envelope]) -> SendReport {
        if queue_urls.is_empty() || envelopes.is_empty() {
            return SendReport::default();
        }
        let span = tracing::debug_span!(
            "fleet_send",
            queues = queue_urls.len(),
            envelopes = envelopes.len()
        );
        let bodies: Vec<String> = envelopes.iter().map(Envelope::to_body).collect();
        let sizes: Vec<usize> = bodies.iter().map(String::len).collect();
        let plan = batches(&sizes);
        let (bodies, plan) = (&bodies, &plan);
        // Owned URLs: a stream of `&String` makes this future not `Send` for every lifetime,
        // which a caller's `tokio::spawn` needs.
        let outcomes: Vec<(String, QueueOutcome)> = futures::stream::iter(queue_urls.to_vec())
            .map(|url| async move {
                let outcome = self.send_to_queue(&url, envelopes, bodies, plan).await;
                (url, outcome)
            })
            .buffered(QUEUES_IN_FLIGHT)
            .collect()
            .instrument(span)
            .await;
        let mut report = SendReport::default();
        for (url, outcome) in outcomes {
            report.sent += outcome.sent;
            if outcome.gone {
                tracing::info!(
                    queue = queue_name_of(&url),
                    "SQS queue is gone; its daemon left"
                );
                report.gone_queues.push(url.clone());
            }
            report
                .failed
                .extend(outcome.failed.into_iter().map(|why| (url.clone(), why)));
        }
        report
    }

    /// Deletes another (dead) daemon's queue. A queue already gone is fine. (SQS gives the
    /// name out again only after 60 s, and may take that long to stop accepting messages.)
    pub async fn delete_queue(&self, queue_url: &str) -> Result<(), FleetError> {
        match self
            .client
            .client()
            .delete_queue()
            .queue_url(queue_url)
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(queue = queue_name_of(queue_url), "SQS queue deleted");
                Ok(())
            }
            Err(error) if is_queue_gone(&error) => Ok(()),
            Err(error) => Err(sdk_error(&self.client, "sqs:DeleteQueue", queue_url, error)),
        }
    }

    /// The URL of `daemon_id`'s queue, `None` when it has none (GetQueueUrl).
    pub async fn queue_url(&self, daemon_id: &str) -> Result<Option<String>, FleetError> {
        let name = self.client.queue_name(daemon_id)?;
        match self
            .client
            .client()
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
        {
            Ok(found) => Ok(found.queue_url().map(str::to_string)),
            Err(error) if is_queue_gone(&error) => Ok(None),
            Err(error) => Err(sdk_error(&self.client, "sqs:GetQueueUrl", &name, error)),
        }
    }

    /// Every daemon queue of this prefix, as (daemon id, queue URL) (ListQueues). SQS lists a
    /// new queue only after a short while, so this is for finding leftovers of dead daemons,
    /// not for learning about a daemon that just started.
    pub async fn daemon_queues(&self) -> Result<Vec<(String, String)>, FleetError> {
        let prefix = self.client.daemon_queue_prefix();
        let mut queues = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let page = self
                .client
                .client()
                .list_queues()
                .queue_name_prefix(&prefix)
                .max_results(1000)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| sdk_error(&self.client, "sqs:ListQueues", &format!("{prefix}*"), e))?;
            queues.extend(page.queue_urls().iter().filter_map(|url| {
                self.client
                    .daemon_id_of(url)
                    .map(|daemon_id| (daemon_id, url.clone()))
            }));
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(queues),
            }
        }
    }

    /// All of `plan`'s batches to one queue, in order; stops at the first whole-call failure.
    async fn send_to_queue(
        &self,
        queue_url: &str,
        envelopes: &[Envelope],
        bodies: &[String],
        plan: &[Range<usize>],
    ) -> QueueOutcome {
        let mut outcome = QueueOutcome::default();
        for (at, range) in plan.iter().enumerate() {
            let positions: Vec<usize> = range.clone().collect();
            let answer = match self.send_batch(queue_url, bodies, &positions).await {
                Ok(answer) => answer,
                Err(failure) => {
                    let unsent = plan[at..].iter().map(|r| r.len()).sum::<usize>();
                    outcome.fail_queue(failure, unsent, envelopes.len());
                    return outcome;
                }
            };
            outcome.sent += answer.sent;
            let mut refused = answer.refused;
            if !answer.retryable.is_empty() {
                let again: Vec<usize> = answer.retryable.iter().map(|(at, _)| *at).collect();
                match self.send_batch(queue_url, bodies, &again).await {
                    Ok(retried) => {
                        outcome.sent += retried.sent;
                        refused.extend(retried.retryable);
                        refused.extend(retried.refused);
                    }
                    Err(failure) => {
                        let unsent =
                            again.len() + plan[at + 1..].iter().map(|r| r.len()).sum::<usize>();
                        outcome.fail_queue(failure, unsent, envelopes.len());
                        return outcome;
                    }
                }
            }
            for (position, why) in refused {
                let envelope = &envelopes[position];
                tracing::warn!(
                    queue = queue_name_of(queue_url),
                    session_id = envelope.session_id(),
                    seq = envelope.seq(),
                    reason = %why,
                    "SQS refused an event copy"
                );
                outcome.failed.push(format!(
                    "session {} seq {}: {why}",
                    envelope.session_id(),
                    envelope.seq()
                ));
            }
        }
        outcome
    }

    /// One SendMessageBatch of the bodies at `positions` (≤ 10, ≤ 256 KiB together).
    async fn send_batch(
        &self,
        queue_url: &str,
        bodies: &[String],
        positions: &[usize],
    ) -> Result<BatchAnswer, BatchFailure> {
        let mut entries = Vec::with_capacity(positions.len());
        for (n, position) in positions.iter().enumerate() {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(n.to_string())
                .message_body(&bodies[*position])
                .build()
                .map_err(|e| {
                    BatchFailure::Failed(format!("cannot build the request: {}", chain(&e)))
                })?;
            entries.push(entry);
        }
        let output = self
            .client
            .client()
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|error| {
                if is_queue_gone(&error) {
                    BatchFailure::Gone
                } else {
                    BatchFailure::Failed(
                        sdk_error(&self.client, "sqs:SendMessage", queue_url, error).to_string(),
                    )
                }
            })?;
        let (retryable, refused) = sort_failures(output.failed(), positions);
        Ok(BatchAnswer {
            sent: output.successful().len(),
            retryable,
            refused,
        })
    }
}

/// A batch's failed entries as (position, why), split into those worth one retry (SQS's own
/// trouble) and those that would fail the same way again (a sender fault: the entry itself).
/// An entry's id is its index in the batch, `positions` maps it back to the envelopes.
fn sort_failures(
    failed: &[BatchResultErrorEntry],
    positions: &[usize],
) -> (EntryFailures, EntryFailures) {
    let mut retryable = Vec::new();
    let mut refused = Vec::new();
    for entry in failed {
        let Some(position) = entry
            .id()
            .parse::<usize>()
            .ok()
            .and_then(|n| positions.get(n).copied())
        else {
            tracing::warn!(
                id = entry.id(),
                "SQS reported a failed entry this batch did not have"
            );
            continue;
        };
        let why = match entry.message() {
            Some(message) => format!("{}: {message}", entry.code()),
            None => entry.code().to_string(),
        };
        if entry.sender_fault() {
            refused.push((position, why));
        } else {
            retryable.push((position, why));
        }
    }
    (retryable, refused)
}

impl QueueOutcome {
    fn fail_queue(&mut self, failure: BatchFailure, unsent: usize, total: usize) {
        match failure {
            BatchFailure::Gone => self.gone = true,
            BatchFailure::Failed(why) => {
                tracing::warn!(reason = %why, unsent, "SQS send to a queue failed");
                self.failed
                    .push(format!("{why} ({unsent} of {total} envelopes not sent)"));
            }
        }
    }
}

/// Consecutive ranges of the bodies (by size) that make one SendMessageBatch each: at most 10
/// entries and 256 KiB together. A body larger than that alone still gets a batch of its own
/// (SQS refuses it and the report says so; [`Envelope::to_body`] never makes one).
fn batches(sizes: &[usize]) -> Vec<Range<usize>> {
    let mut plan = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (at, size) in sizes.iter().enumerate() {
        let full = at - start == MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES;
        if at > start && full {
            plan.push(start..at);
            start = at;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        plan.push(start..sizes.len());
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(id: &str, sender_fault: bool, code: &str) -> BatchResultErrorEntry {
        BatchResultErrorEntry::builder()
            .id(id)
            .sender_fault(sender_fault)
            .code(code)
            .message("why")
            .build()
            .expect("all required fields")
    }

    #[test]
    fn sqs_side_failures_are_retried_and_sender_faults_are_not() {
        // A retry batch of envelopes 4, 7 and 9: entry ids 0, 1, 2.
        let (retryable, refused) = sort_failures(
            &[
                failure("0", false, "InternalError"),
                failure("2", true, "InvalidMessageContents"),
                failure("5", false, "InternalError"),
            ],
            &[4, 7, 9],
        );
        assert_eq!(retryable, vec![(4, "InternalError: why".to_string())]);
        assert_eq!(
            refused,
            vec![(9, "InvalidMessageContents: why".to_string())]
        );
    }

    #[test]
    fn batches_hold_at_most_ten_entries() {
        assert_eq!(batches(&[100; 25]), vec![0..10, 10..20, 20..25]);
        assert_eq!(batches(&[100; 10]), vec![0..10]);
        assert_eq!(batches(&[]), Vec::<Range<usize>>::new());
    }

    #[test]
    fn batches_hold_at_most_256_kib() {
        let big = 100 * 1024;
        // Two 100 KiB bodies fit, a third does not; the small one joins the third.
        assert_eq!(batches(&[big, big, big, 10]), vec![0..2, 2..4]);
        // Exactly 256 KiB fits.
        assert_eq!(batches(&[MAX_BATCH_BYTES - 10, 10, 1]), vec![0..2, 2..3]);
    }

    #[test]
    fn an_oversized_body_gets_a_batch_of_its_own() {
        assert_eq!(
            batches(&[10, MAX_BATCH_BYTES + 1, 10]),
            vec![0..1, 1..2, 2..3]
        );
    }

    #[test]
    fn every_body_is_in_exactly_one_batch_in_order() {
        let sizes: Vec<usize> = (0..57).map(|n| (n * 7919) % (90 * 1024) + 1).collect();
        let plan = batches(&sizes);
        let flattened: Vec<usize> = plan.iter().flat_map(|r| r.clone()).collect();
        assert_eq!(flattened, (0..sizes.len()).collect::<Vec<_>>());
        for range in &plan {
            assert!(range.len() <= MAX_BATCH_ENTRIES, "{range:?}");
            assert!(
                sizes[range.clone()].iter().sum::<usize>() <= MAX_BATCH_BYTES,
                "{range:?}"
            );
        }
    }
}

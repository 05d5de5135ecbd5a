//! [`DaemonQueue`]: this daemon's own SQS queue, `<prefix>daemon-<id>`, where every other
//! daemon puts copies of the events it appends. Made idempotently at start-up, long-polled,
//! acked (deleted) only after the caller has delivered what it received, deleted at shutdown.
//! Messages live 300 s: anything older is read from the store anyway.

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};

use crate::error::{chain, code, is_queue_gone, sdk_error};
use crate::{Envelope, FanoutSender, FleetError, SqsClient, SqsOptions};

/// The longest daemon id (so that `<prefix>daemon-<id>` fits SQS's 80 characters).
pub const MAX_DAEMON_ID_LEN: usize = 60;

/// How long SQS keeps a message nobody received (SQS's shortest is 60 s). A daemon that
/// could not receive for longer has lost track anyway and reads the store.
const RETENTION_SECONDS: u32 = 300;

/// The tag that says which daemon a queue belongs to (for the console and cost reports).
const DAEMON_TAG: &str = "devflow:daemon";

/// SQS's most messages per receive and per delete batch.
const MAX_BATCH_ENTRIES: usize = 10;

/// Checks a daemon id: 1 to [`MAX_DAEMON_ID_LEN`] characters of A–Z, a–z, 0–9, `-`, `_`.
pub fn validate_daemon_id(id: &str) -> Result<(), FleetError> {
    let refuse = |reason: String| {
        Err(FleetError::InvalidDaemonId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return refuse("it is empty".into());
    }
    if id.len() > MAX_DAEMON_ID_LEN {
        return refuse(format!("it is {} characters long", id.len()));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return refuse(format!("it contains {bad:?}"));
    }
    Ok(())
}

/// One message taken from this daemon's queue: ack it with [`DaemonQueue::ack`] once its
/// event has been delivered (or found to be a duplicate).
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub envelope: Envelope,
    pub receipt_handle: String,
}

/// This daemon's own queue.
#[derive(Debug, Clone)]
pub struct DaemonQueue {
    client: SqsClient,
    url: String,
    name: String,
    daemon_id: String,
}

impl DaemonQueue {
    /// Connects with `options` and makes this daemon's queue: see [`DaemonQueue::create_with`].
    pub async fn create(options: &SqsOptions, daemon_id: &str) -> Result<DaemonQueue, FleetError> {
        validate_daemon_id(daemon_id)?;
        let client = SqsClient::connect(options).await?;
        DaemonQueue::create_with(&client, daemon_id).await
    }

    /// This daemon's queue as a daemon starts: the one `devflow aws init` made ahead when it
    /// exists (only `sqs:GetQueueUrl` needed), else made now ([`DaemonQueue::create_with`]).
    pub async fn open(options: &SqsOptions, daemon_id: &str) -> Result<DaemonQueue, FleetError> {
        validate_daemon_id(daemon_id)?;
        let client = SqsClient::connect(options).await?;
        match FanoutSender::new(client.clone())
            .queue_url(daemon_id)
            .await?
        {
            Some(url) => {
                let name = client.queue_name(daemon_id)?;
                tracing::info!(queue = %name, %url, "this daemon's SQS queue is ready (made ahead)");
                Ok(DaemonQueue {
                    client,
                    url,
                    name,
                    daemon_id: daemon_id.to_string(),
                })
            }
            None => DaemonQueue::create_with(&client, daemon_id).await,
        }
    }

    /// Makes `<prefix>daemon-<daemon_id>` (CreateQueue, which returns the existing queue when
    /// its settings match) with a 300 s retention, the client's long poll as the queue's
    /// default and the tag `devflow:daemon=<id>`, and returns it. A queue of that name with
    /// other settings (a restart with another long poll) is taken over and set to these.
    pub async fn create_with(
        client: &SqsClient,
        daemon_id: &str,
    ) -> Result<DaemonQueue, FleetError> {
        let name = client.queue_name(daemon_id)?;
        let attributes = [
            (
                QueueAttributeName::MessageRetentionPeriod,
                RETENTION_SECONDS.to_string(),
            ),
            (
                QueueAttributeName::ReceiveMessageWaitTimeSeconds,
                client.wait_seconds().to_string(),
            ),
        ];
        let mut create = client
            .client()
            .create_queue()
            .queue_name(&name)
            .tags(DAEMON_TAG, daemon_id);
        for (key, value) in &attributes {
            create = create.attributes(key.clone(), value.clone());
        }
        let url = match create.send().await {
            Ok(created) => created.queue_url().map(str::to_string),
            Err(error)
                if matches!(
                    code(&error),
                    Some(
                        "QueueAlreadyExists"
                            | "QueueNameExists"
                            | "AWS.SimpleQueueService.QueueNameExists"
                    )
                ) =>
            {
                let url = client
                    .client()
                    .get_queue_url()
                    .queue_name(&name)
                    .send()
                    .await
                    .map_err(|e| sdk_error(client, "sqs:GetQueueUrl", &name, e))?
                    .queue_url()
                    .map(str::to_string);
                if let Some(url) = &url {
                    let mut update = client.client().set_queue_attributes().queue_url(url);
                    for (key, value) in &attributes {
                        update = update.attributes(key.clone(), value.clone());
                    }
                    update
                        .send()
                        .await
                        .map_err(|e| sdk_error(client, "sqs:SetQueueAttributes", &name, e))?;
                }
                url
            }
            Err(error) => {
                // Tagging at creation needs sqs:TagQueue besides sqs:CreateQueue.
                return Err(sdk_error(
                    client,
                    "sqs:CreateQueue and sqs:TagQueue",
                    &name,
                    error,
                ));
            }
        };
        let url = url.ok_or_else(|| FleetError::Service {
            queue: name.clone(),
            action: "sqs:CreateQueue",
            detail: "the answer carries no QueueUrl".into(),
        })?;
        tracing::info!(queue = %name, %url, "this daemon's SQS queue is ready");
        Ok(DaemonQueue {
            client: client.clone(),
            url,
            name,
            daemon_id: daemon_id.to_string(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn daemon_id(&self) -> &str {
        &self.daemon_id
    }

    /// The queue's name, `<prefix>daemon-<id>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client this queue uses.
    pub fn client(&self) -> &SqsClient {
        &self.client
    }

    /// A sender on the same client (one connection pool per daemon).
    pub fn sender(&self) -> FanoutSender {
        FanoutSender::new(self.client.clone())
    }

    /// One long poll (the client's `wait_seconds`) for up to 10 messages. A body that is not
    /// an [`Envelope`] (another program's message, a newer daemon's shape) is logged and
    /// deleted, not returned: the store has whatever it was about.
    pub async fn receive(&self) -> Result<Vec<Received>, FleetError> {
        let output = self
            .client
            .client()
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(MAX_BATCH_ENTRIES as i32)
            .wait_time_seconds(self.client.wait_seconds())
            .send()
            .await
            .map_err(|e| sdk_error(&self.client, "sqs:ReceiveMessage", &self.url, e))?;
        let mut received = Vec::with_capacity(output.messages().len());
        let mut unreadable = Vec::new();
        for message in output.messages() {
            let message_id = message.message_id().unwrap_or_default();
            let Some(receipt_handle) = message.receipt_handle() else {
                tracing::warn!(queue = %self.name, message_id, "SQS message without a receipt handle; skipped");
                continue;
            };
            match Envelope::from_body(message.body().unwrap_or_default()) {
                Ok(envelope) => received.push(Received {
                    envelope,
                    receipt_handle: receipt_handle.to_string(),
                }),
                Err(error) => {
                    tracing::warn!(
                        queue = %self.name,
                        message_id,
                        %error,
                        "SQS message body is not a devflow envelope; deleting it"
                    );
                    unreadable.push(receipt_handle.to_string());
                }
            }
        }
        if !unreadable.is_empty() {
            if let Err(error) = self.delete_messages(&unreadable).await {
                tracing::warn!(queue = %self.name, %error, "could not delete unreadable SQS messages");
            }
        }
        Ok(received)
    }

    /// Deletes delivered messages (DeleteMessageBatch, 10 per call). Call it only once their
    /// events reached the subscribers: a message not acked comes again after its visibility
    /// timeout, which is what makes a daemon that dies mid-delivery lose nothing.
    pub async fn ack(&self, receipts: &[Received]) -> Result<(), FleetError> {
        let handles: Vec<String> = receipts.iter().map(|r| r.receipt_handle.clone()).collect();
        self.delete_messages(&handles).await
    }

    /// Deletes this queue (shutdown). A queue already gone is fine.
    pub async fn delete(self) -> Result<(), FleetError> {
        self.sender().delete_queue(&self.url).await
    }

    async fn delete_messages(&self, handles: &[String]) -> Result<(), FleetError> {
        let mut failures = Vec::new();
        for chunk in handles.chunks(MAX_BATCH_ENTRIES) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (n, handle) in chunk.iter().enumerate() {
                let entry = DeleteMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .receipt_handle(handle)
                    .build()
                    .map_err(|e| FleetError::Service {
                        queue: self.name.clone(),
                        action: "sqs:DeleteMessage",
                        detail: format!("cannot build the request: {}", chain(&e)),
                    })?;
                entries.push(entry);
            }
            let output = self
                .client
                .client()
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    if is_queue_gone(&e) {
                        tracing::warn!(queue = %self.name, "this daemon's SQS queue is gone");
                    }
                    sdk_error(&self.client, "sqs:DeleteMessage", &self.url, e)
                })?;
            failures.extend(
                output
                    .failed()
                    .iter()
                    .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or_default())),
            );
        }
        if failures.is_empty() {
            return Ok(());
        }
        Err(FleetError::AckIncomplete {
            queue: self.name.clone(),
            failed: failures.len(),
            total: handles.len(),
            detail: failures.join("; "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_ids_are_short_plain_names() {
        assert!(validate_daemon_id("host-1_a").is_ok());
        assert!(validate_daemon_id(&"a".repeat(MAX_DAEMON_ID_LEN)).is_ok());
        let too_long = validate_daemon_id(&"a".repeat(MAX_DAEMON_ID_LEN + 1)).unwrap_err();
        assert!(too_long.to_string().contains("61 characters"), "{too_long}");
        let empty = validate_daemon_id("").unwrap_err();
        assert!(empty.to_string().contains("empty"), "{empty}");
        let dotted = validate_daemon_id("host.example").unwrap_err();
        expect_test::expect![[r#"'host.example' is not a usable daemon id: it contains '.' (a daemon id is 1 to 60 characters of A-Z, a-z, 0-9, '-' and '_')"#]]
        .assert_eq(&dotted.to_string());
        assert!(validate_daemon_id("é").is_err());
    }
}

//! [`Store`] for [`DynamoStore`]. Every item keeps the full wire struct as JSON beside the
//! attributes it is looked up or ordered by; reads that must see the latest write are
//! strongly consistent.
//!
//! **Event seq.** `append_event` reads the session's newest seq (a consistent `Query`, newest
//! first, limit 1) and puts the event at seq + 1 with `attribute_not_exists(seq)`. The put is
//! one conditional single-item write, so it is atomic: of two writers that read the same
//! newest seq, exactly one gets that slot; the other sees `ConditionalCheckFailed`, reads
//! again and takes the next. A read can be stale only downwards (seqs only grow), and a
//! stale seq + 1 is a slot that exists, so a put can never land past a gap; a seq is never
//! stored twice because the condition forbids it. Chosen over a per-session counter item
//! because a counter needs a second write per event in a transaction (4 write units instead
//! of 1) and can drift from the events; here the events are the only truth. Each event
//! carries a `writeId`, so an SDK retry of a put that in fact succeeded is recognised as our
//! own event instead of being appended again.
//!
//! **Idempotency keys** (seed 003): a command with a key is stored in one transaction with
//! its key record (`attribute_not_exists` on both); the loser of a race reads the key record
//! and returns the command it names. The SDK's idempotency token makes a retried transaction
//! safe.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, Put, PutRequest, TransactWriteItem, WriteRequest,
};
use devflow_protocol::{Command, CommandStatus, Event, Patch, Session};
use devflow_store::cursor::HistoryCursor;
use devflow_store::{
    CommandPage, Inserted, JournalState, Lease, LeaseClaim, NewEvent, PatchRecord, Store,
    StoreError,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{built, code, sdk_error};
use crate::journal::{self, Chunk, FileEntry};
use crate::tables::BY_SUBMITTED;
use crate::DynamoStore;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// How often a write that lost a race (a seq, a transaction) is tried again before failing.
const RACE_ATTEMPTS: u32 = 64;

/// History cursors count `submitted` instants of the `bySubmitted` index ("submitted
/// before N").
const CURSOR: HistoryCursor = HistoryCursor::new("d1.");

/// BatchWriteItem takes at most 25 requests.
const BATCH: usize = 25;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn text<'a>(item: &'a Item, name: &str, what: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(StoreError::Corrupt(format!("{what} has no string {name}"))),
    }
}

pub(crate) fn number<T: std::str::FromStr>(
    item: &Item,
    name: &str,
    what: &str,
) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("{what} has {name} = {value}"))),
        _ => Err(StoreError::Corrupt(format!("{what} has no number {name}"))),
    }
}

/// The key of an item in a table partitioned by session: `sessionId` and the sort key `sort`.
fn session_key(session_id: &str, sort: &str, value: AttributeValue) -> Item {
    Item::from([
        ("sessionId".to_string(), s(session_id)),
        (sort.to_string(), value),
    ])
}

/// What [`DynamoStore::put_new`] found.
enum PutNew {
    /// Our item is stored (perhaps by an SDK retry of a put whose answer was lost).
    Stored,
    /// Another writer's item is there.
    Taken,
}

fn to_json<T: Serialize>(value: &T, what: &str, id: &str) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Database(format!("cannot encode {what} {id}: {e}")))
}

fn from_item<T: DeserializeOwned>(item: &Item, what: &str, id: &str) -> Result<T, StoreError> {
    let json = text(item, "json", &format!("{what} {id}"))?;
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("{what} {id}: {e}")))
}

fn is_unfinished(status: CommandStatus) -> bool {
    matches!(
        status,
        CommandStatus::Queued | CommandStatus::Analyzing | CommandStatus::Patching
    )
}

/// A short, growing, jittered pause between attempts of a write that lost a race.
async fn back_off(attempt: u32) {
    let ceiling_ms = 2u64.saturating_pow(attempt.min(7));
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % ceiling_ms.max(1);
    tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
}

/// One Query, all its pages (or `limit` items).
struct QuerySpec<'a> {
    table: &'a str,
    index: Option<&'static str>,
    condition: &'static str,
    names: &'a [(&'static str, &'static str)],
    values: Vec<(&'static str, AttributeValue)>,
    forward: bool,
    limit: Option<usize>,
    projection: Option<&'static str>,
}

impl DynamoStore {
    async fn query(&self, spec: QuerySpec<'_>) -> Result<Vec<Item>, StoreError> {
        let mut items: Vec<Item> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(spec.table)
                .key_condition_expression(spec.condition)
                .scan_index_forward(spec.forward)
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if let Some(index) = spec.index {
                request = request.index_name(index);
            }
            for (name, attribute) in spec.names {
                request = request.expression_attribute_names(*name, *attribute);
            }
            for (name, value) in &spec.values {
                request = request.expression_attribute_values(*name, value.clone());
            }
            if let Some(projection) = spec.projection {
                request = request.projection_expression(projection);
            }
            if let Some(limit) = spec.limit {
                let left = limit.saturating_sub(items.len()).max(1);
                request = request.limit(i32::try_from(left).unwrap_or(i32::MAX));
            }
            let page = request
                .send()
                .await
                .map_err(|e| sdk_error(self, "Query", spec.table, e))?;
            items.extend(page.items().iter().cloned());
            if spec.limit.is_some_and(|limit| items.len() >= limit) {
                break;
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        if let Some(limit) = spec.limit {
            items.truncate(limit);
        }
        Ok(items)
    }

    /// Every item of `table` that passes `filter`, all pages, strongly consistent.
    pub(crate) async fn scan(
        &self,
        table: &str,
        filter: &'static str,
        names: &[(&'static str, &'static str)],
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .scan()
                .table_name(table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if !filter.is_empty() {
                request = request.filter_expression(filter);
            }
            for (name, attribute) in names {
                request = request.expression_attribute_names(*name, *attribute);
            }
            for (name, value) in &values {
                request = request.expression_attribute_values(*name, value.clone());
            }
            let page = request
                .send()
                .await
                .map_err(|e| sdk_error(self, "Scan", table, e))?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        Ok(items)
    }

    async fn get_item(&self, table: &str, key: Item) -> Result<Option<Item>, StoreError> {
        let answer = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(self, "GetItem", table, e))?;
        Ok(answer.item)
    }

    /// Writes `requests` 25 at a time, sending what DynamoDB left unprocessed again.
    async fn batch_write(
        &self,
        table: &str,
        requests: Vec<WriteRequest>,
        action: &'static str,
    ) -> Result<(), StoreError> {
        for batch in requests.chunks(BATCH) {
            let mut pending = batch.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                let answer = self
                    .client
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .map_err(|e| sdk_error(self, action, table, e))?;
                pending = answer
                    .unprocessed_items()
                    .and_then(|left| left.get(table))
                    .cloned()
                    .unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > RACE_ATTEMPTS {
                        return Err(StoreError::Database(format!(
                            "DynamoDB kept leaving {} writes to table {table} unprocessed; \
                             try again later",
                            pending.len()
                        )));
                    }
                    back_off(attempt).await;
                }
            }
        }
        Ok(())
    }

    /// Deletes every item of one session in `table` (sort key `sort`).
    async fn delete_partition(
        &self,
        table: &str,
        sort: &'static str,
        session_id: &str,
    ) -> Result<(), StoreError> {
        let names = [("#pk", "sessionId"), ("#sk", sort)];
        let keys = self
            .query(QuerySpec {
                table,
                index: None,
                condition: "#pk = :s",
                names: &names,
                values: vec![(":s", s(session_id))],
                forward: true,
                limit: None,
                projection: Some("#pk, #sk"),
            })
            .await?;
        self.delete_keys(table, keys).await
    }

    /// Deletes the items of `table` at `keys`.
    async fn delete_keys(&self, table: &str, keys: Vec<Item>) -> Result<(), StoreError> {
        let requests = keys
            .into_iter()
            .map(|key| {
                built(DeleteRequest::builder().set_key(Some(key)).build())
                    .map(|delete| WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(table, requests, "BatchWriteItem").await
    }

    /// The journal pieces of one generation of a patch's journal, in key order; only their
    /// keys when `keys_only`.
    async fn journal_pieces(
        &self,
        session_id: &str,
        patch_id: &str,
        generation: &str,
        keys_only: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let names = [("#pk", "sessionId"), ("#sk", "chunk")];
        self.query(QuerySpec {
            table: &self.tables.journals,
            index: None,
            condition: "#pk = :s AND begins_with(#sk, :prefix)",
            names: &names,
            values: vec![
                (":s", s(session_id)),
                (":prefix", s(journal::prefix(patch_id, generation))),
            ],
            forward: true,
            limit: None,
            projection: keys_only.then_some("#pk, #sk"),
        })
        .await
    }

    async fn newest_seq(&self, session_id: &str) -> Result<u64, StoreError> {
        let names = [("#pk", "sessionId"), ("#seq", "seq")];
        let newest = self
            .query(QuerySpec {
                table: &self.tables.events,
                index: None,
                condition: "#pk = :s",
                names: &names,
                values: vec![(":s", s(session_id))],
                forward: false,
                limit: Some(1),
                projection: Some("#seq"),
            })
            .await?;
        match newest.first() {
            Some(item) => number(item, "seq", &format!("an event of session {session_id}")),
            None => Ok(0),
        }
    }

    /// The patch record of a patch item, its journal read from the journals table.
    async fn patch_from_item(&self, item: &Item) -> Result<PatchRecord, StoreError> {
        let patch_id = text(item, "patchId", "a patch")?.to_string();
        let what = format!("patch {patch_id}");
        let patch: Patch = from_item(item, "patch", &patch_id)?;
        let state_name = text(item, "journalState", &what)?;
        let journal_state = JournalState::from_name(state_name).ok_or_else(|| {
            StoreError::Corrupt(format!("{what} has journal state {state_name:?}"))
        })?;
        let generation = text(item, "generation", &what)?;
        let entries: Vec<FileEntry> = serde_json::from_str(text(item, "files", &what)?)
            .map_err(|e| StoreError::Corrupt(format!("{what}: file list: {e}")))?;
        let chunks = if entries.is_empty() {
            Vec::new()
        } else {
            self.journal_pieces(&patch.session_id, &patch_id, generation, false)
                .await?
        };
        let chunks = chunks
            .into_iter()
            .map(|chunk| {
                let key = text(&chunk, "chunk", &what)?.to_string();
                match chunk.get("data") {
                    Some(AttributeValue::B(data)) => Ok(Chunk {
                        key,
                        data: data.clone().into_inner(),
                    }),
                    _ => Err(StoreError::Corrupt(format!(
                        "{what}: piece {key} has no data"
                    ))),
                }
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let files = journal::join(&patch_id, generation, &entries, chunks)
            .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))?;
        Ok(PatchRecord {
            patch,
            journal_state,
            files,
        })
    }

    async fn patches_from_items(
        &self,
        mut items: Vec<Item>,
    ) -> Result<Vec<PatchRecord>, StoreError> {
        let mut order = Vec::with_capacity(items.len());
        for item in &items {
            order.push(number::<u64>(item, "firstStored", "a patch")?);
        }
        let mut indexed: Vec<(u64, Item)> = order.into_iter().zip(items.drain(..)).collect();
        indexed.sort_by_key(|(first, _)| *first);
        let mut records = Vec::with_capacity(indexed.len());
        for (_, item) in indexed {
            records.push(self.patch_from_item(&item).await?);
        }
        Ok(records)
    }

    /// Puts `item` (whose `writeId` is `write_id`, its key `key`) if `condition` holds. When
    /// it does not, the stored item says whose it is: ours after an SDK retry of a put that
    /// had in fact succeeded, else another writer's.
    async fn put_new(
        &self,
        table: &str,
        item: Item,
        condition: &'static str,
        key: Item,
        write_id: &str,
    ) -> Result<PutNew, StoreError> {
        let sent = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(condition)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(PutNew::Stored),
            Err(error) if code(&error) == Some("ConditionalCheckFailedException") => {
                let ours = self.get_item(table, key).await?.is_some_and(|item| {
                    matches!(item.get("writeId"), Some(AttributeValue::S(w)) if w == write_id)
                });
                Ok(if ours { PutNew::Stored } else { PutNew::Taken })
            }
            Err(error) => Err(sdk_error(self, "PutItem", table, error)),
        }
    }

    fn command_item(&self, command: &Command, json: String, write_id: &str) -> Item {
        let mut item = Item::from([
            ("sessionId".to_string(), s(&command.session_id)),
            ("commandId".to_string(), s(&command.command_id)),
            ("json".to_string(), s(json)),
            ("status".to_string(), s(command.status.as_str())),
            ("submitted".to_string(), n(self.clock.next())),
            ("writeId".to_string(), s(write_id)),
        ]);
        if let Some(key) = &command.idempotency_key {
            item.insert("idempotencyKey".into(), s(key));
        }
        item
    }

    /// The command an idempotency key names (after a transaction found the key taken).
    async fn command_of_key(
        &self,
        session_id: &str,
        key: &str,
    ) -> Result<Option<Command>, StoreError> {
        let record = self
            .get_item(
                &self.tables.idempotency,
                session_key(session_id, "idempotencyKey", s(key)),
            )
            .await?;
        let Some(record) = record else {
            return Ok(None);
        };
        let command_id = text(&record, "commandId", "an idempotency record")?;
        // The key and its command were written in one transaction, and GetItem is
        // serializable with transactions: the command is there.
        match self.get_command(session_id, command_id).await? {
            Some(command) => Ok(Some(command)),
            None => Err(StoreError::Corrupt(format!(
                "idempotency key {key:?} of session {session_id} names command {command_id}, \
                 which is not stored"
            ))),
        }
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        let json = to_json(session, "session", &session.session_id)?;
        let table = &self.tables.sessions;
        let mut expression = String::from(
            "SET #json = :json, #createdAt = :createdAt, #updatedAt = :updatedAt, \
             #expiresAt = :expiresAt, #ttl = :expiresAt, #status = :status, #userId = :userId, \
             #firstStored = if_not_exists(#firstStored, :now)",
        );
        let mut request = self
            .client
            .update_item()
            .table_name(table)
            .key("sessionId", s(&session.session_id))
            .expression_attribute_values(":json", s(json))
            .expression_attribute_values(":createdAt", n(session.created_at))
            .expression_attribute_values(":updatedAt", n(session.updated_at))
            .expression_attribute_values(":expiresAt", n(session.expires_at))
            .expression_attribute_values(":status", s(session.status.as_str()))
            .expression_attribute_values(":userId", s(&session.user_id))
            .expression_attribute_values(":now", n(self.clock.next()));
        match &session.owner {
            Some(owner) => {
                expression.push_str(", #owner = :owner");
                request = request.expression_attribute_values(":owner", s(owner));
            }
            None => expression.push_str(" REMOVE #owner"),
        }
        for name in [
            "json",
            "createdAt",
            "updatedAt",
            "expiresAt",
            "ttl",
            "status",
            "userId",
            "firstStored",
            "owner",
        ] {
            request = request.expression_attribute_names(format!("#{name}"), name);
        }
        request
            .update_expression(expression)
            .send()
            .await
            .map_err(|e| sdk_error(self, "UpdateItem", table, e))?;
        Ok(())
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
        self.get_item(
            &self.tables.sessions,
            Item::from([("sessionId".to_string(), s(session_id))]),
        )
        .await?
        .map(|item| from_item(&item, "session", session_id))
        .transpose()
    }

    async fn list_sessions(&self) -> Result<Vec<Session>, StoreError> {
        let items = self
            .scan(&self.tables.sessions, "", &[], Vec::new())
            .await?;
        let mut sessions = Vec::with_capacity(items.len());
        for item in items {
            let session: Session =
                from_item(&item, "session", text(&item, "sessionId", "a session")?)?;
            let first: u64 = number(
                &item,
                "firstStored",
                &format!("session {}", session.session_id),
            )?;
            sessions.push(((session.created_at, first), session));
        }
        sessions.sort_by_key(|(order, _)| *order);
        Ok(sessions.into_iter().map(|(_, session)| session).collect())
    }

    async fn delete_session(&self, session_id: &str) -> Result<(), StoreError> {
        let t = &self.tables;
        // The session item goes last, so an interrupted delete is still listed and can be
        // deleted again. Patches go before their journal pieces: a reader meanwhile sees a
        // patch whole or not at all, never one whose journal is half gone.
        self.delete_partition(&t.patches, "patchId", session_id)
            .await?;
        self.delete_partition(&t.journals, "chunk", session_id)
            .await?;
        self.delete_partition(&t.events, "seq", session_id).await?;
        self.delete_partition(&t.idempotency, "idempotencyKey", session_id)
            .await?;
        self.delete_partition(&t.commands, "commandId", session_id)
            .await?;
        self.client
            .delete_item()
            .table_name(&t.leases)
            .key("sessionId", s(session_id))
            .send()
            .await
            .map_err(|e| sdk_error(self, "DeleteItem", &t.leases, e))?;
        self.client
            .delete_item()
            .table_name(&t.sessions)
            .key("sessionId", s(session_id))
            .send()
            .await
            .map_err(|e| sdk_error(self, "DeleteItem", &t.sessions, e))?;
        Ok(())
    }

    async fn insert_command(&self, command: &Command) -> Result<Inserted, StoreError> {
        let json = to_json(command, "command", &command.command_id)?;
        let write_id = uuid::Uuid::new_v4().to_string();
        let table = &self.tables.commands;
        let already = || {
            StoreError::Database(format!(
                "command {} of session {} is already stored",
                command.command_id, command.session_id
            ))
        };
        let Some(key) = &command.idempotency_key else {
            let put = self
                .put_new(
                    table,
                    self.command_item(command, json, &write_id),
                    "attribute_not_exists(commandId)",
                    session_key(&command.session_id, "commandId", s(&command.command_id)),
                    &write_id,
                )
                .await?;
            return match put {
                PutNew::Stored => Ok(Inserted::New(command.clone())),
                PutNew::Taken => Err(already()),
            };
        };
        for attempt in 1..=RACE_ATTEMPTS {
            let record = Item::from([
                ("sessionId".to_string(), s(&command.session_id)),
                ("idempotencyKey".to_string(), s(key)),
                ("commandId".to_string(), s(&command.command_id)),
            ]);
            let put_record = built(
                Put::builder()
                    .table_name(&self.tables.idempotency)
                    .set_item(Some(record))
                    .condition_expression("attribute_not_exists(idempotencyKey)")
                    .build(),
            )?;
            let put_command = built(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(self.command_item(command, json.clone(), &write_id)))
                    .condition_expression("attribute_not_exists(commandId)")
                    .build(),
            )?;
            let sent = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put_record).build())
                .transact_items(TransactWriteItem::builder().put(put_command).build())
                .send()
                .await;
            let error = match sent {
                Ok(_) => return Ok(Inserted::New(command.clone())),
                Err(error) => error,
            };
            let reasons: Vec<Option<String>> = match &error {
                SdkError::ServiceError(service) => match service.err() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            let failed = |i: usize| {
                reasons
                    .get(i)
                    .and_then(|r| r.as_deref())
                    .is_some_and(|c| c == "ConditionalCheckFailed")
            };
            if failed(0) {
                // The key is taken: by an earlier command, or by this very insert whose
                // answer was lost (its retry then finds its own command).
                if let Some(earlier) = self.command_of_key(&command.session_id, key).await? {
                    if earlier.command_id == command.command_id {
                        return Ok(Inserted::New(earlier));
                    }
                    return Ok(Inserted::Existing(earlier));
                }
            } else if failed(1) {
                return Err(already());
            } else if !matches!(
                code(&error),
                Some("TransactionCanceledException" | "TransactionConflictException")
            ) {
                return Err(sdk_error(self, "TransactWriteItems", table, error));
            }
            // Another transaction touched the same key at the same moment: try again.
            back_off(attempt).await;
        }
        Err(StoreError::Database(format!(
            "could not store command {} of session {}: other writers kept using its \
             idempotency key; try again",
            command.command_id, command.session_id
        )))
    }

    async fn update_command(&self, command: &Command) -> Result<(), StoreError> {
        let json = to_json(command, "command", &command.command_id)?;
        let table = &self.tables.commands;
        let mut request = self
            .client
            .update_item()
            .table_name(table)
            .key("sessionId", s(&command.session_id))
            .key("commandId", s(&command.command_id))
            .condition_expression("attribute_exists(commandId)")
            .expression_attribute_names("#json", "json")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#key", "idempotencyKey")
            .expression_attribute_values(":json", s(json))
            .expression_attribute_values(":status", s(command.status.as_str()));
        request = match &command.idempotency_key {
            Some(key) => request
                .update_expression("SET #json = :json, #status = :status, #key = :key")
                .expression_attribute_values(":key", s(key)),
            None => request.update_expression("SET #json = :json, #status = :status REMOVE #key"),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            // Succeeding silently would lose the update (e.g. a READY status) without a trace.
            Err(error) if code(&error) == Some("ConditionalCheckFailedException") => {
                Err(StoreError::Database(format!(
                    "cannot update command {} of session {}: it is not stored (insert it \
                     first, or the session was deleted)",
                    command.command_id, command.session_id
                )))
            }
            Err(error) => Err(sdk_error(self, "UpdateItem", table, error)),
        }
    }

    async fn get_command(
        &self,
        session_id: &str,
        command_id: &str,
    ) -> Result<Option<Command>, StoreError> {
        self.get_item(
            &self.tables.commands,
            session_key(session_id, "commandId", s(command_id)),
        )
        .await?
        .map(|item| from_item(&item, "command", command_id))
        .transpose()
    }

    async fn unfinished_commands(&self) -> Result<Vec<Command>, StoreError> {
        // A scan: this runs once at start-up (recovery); a fleet's owner-scoped recovery
        // will want an index instead (ARCHITECTURE.md, store-dynamodb).
        let items = self
            .scan(
                &self.tables.commands,
                "#status IN (:queued, :analyzing, :patching)",
                &[("#status", "status")],
                vec![
                    (":queued", s(CommandStatus::Queued.as_str())),
                    (":analyzing", s(CommandStatus::Analyzing.as_str())),
                    (":patching", s(CommandStatus::Patching.as_str())),
                ],
            )
            .await?;
        let mut commands = Vec::with_capacity(items.len());
        for item in items {
            let command_id = text(&item, "commandId", "a command")?;
            let command: Command = from_item(&item, "command", command_id)?;
            let submitted: u64 = number(&item, "submitted", &format!("command {command_id}"))?;
            if is_unfinished(command.status) {
                commands.push((submitted, command));
            }
        }
        commands.sort_by_key(|(submitted, _)| *submitted);
        Ok(commands.into_iter().map(|(_, command)| command).collect())
    }

    async fn command_page(
        &self,
        session_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<CommandPage, StoreError> {
        let before = match cursor {
            Some(cursor) => CURSOR.decode(session_id, cursor)?,
            None => u64::MAX,
        };
        let names = [("#pk", "sessionId"), ("#submitted", "submitted")];
        // One item more than asked tells whether another page follows, so the last page
        // never carries a cursor to an empty page.
        let items = self
            .query(QuerySpec {
                table: &self.tables.commands,
                index: Some(BY_SUBMITTED),
                condition: "#pk = :s AND #submitted < :before",
                names: &names,
                values: vec![(":s", s(session_id)), (":before", n(before))],
                forward: false,
                limit: Some(limit as usize + 1),
                projection: None,
            })
            .await?;
        let more = items.len() > limit as usize;
        let mut last = before;
        let mut commands = Vec::with_capacity(limit as usize);
        for item in items.iter().take(limit as usize) {
            let command_id = text(item, "commandId", "a command")?;
            commands.push(from_item(item, "command", command_id)?);
            last = number(item, "submitted", &format!("command {command_id}"))?;
        }
        Ok(CommandPage {
            commands,
            next_cursor: more.then(|| CURSOR.encode(session_id, last)),
        })
    }

    async fn append_event(&self, event: NewEvent) -> Result<Event, StoreError> {
        let table = &self.tables.events;
        let write_id = uuid::Uuid::new_v4().to_string();
        for attempt in 1..=RACE_ATTEMPTS {
            let last = self.newest_seq(&event.session_id).await?;
            let seq = last.checked_add(1).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "session {} has an event with seq {last}",
                    event.session_id
                ))
            })?;
            let stored = Event {
                session_id: event.session_id.clone(),
                seq,
                at: event.at,
                command_id: event.command_id.clone(),
                body: event.body.clone(),
            };
            let json = to_json(&stored, "event of session", &stored.session_id)?;
            let key = session_key(&stored.session_id, "seq", n(seq));
            let mut item = key.clone();
            item.extend([
                ("json".to_string(), s(json)),
                ("type".to_string(), s(stored.body.type_name())),
                ("at".to_string(), n(stored.at)),
                ("writeId".to_string(), s(&write_id)),
            ]);
            if let Some(command_id) = &stored.command_id {
                item.insert("commandId".into(), s(command_id));
            }
            let put = self
                .put_new(table, item, "attribute_not_exists(seq)", key, &write_id)
                .await?;
            match put {
                PutNew::Stored => return Ok(stored),
                // Another writer took this seq between our read and our put.
                PutNew::Taken => back_off(attempt).await,
            }
        }
        Err(StoreError::Database(format!(
            "could not append an event to session {} after {RACE_ATTEMPTS} attempts: other \
             writers kept taking the next seq",
            event.session_id
        )))
    }

    async fn events_after(
        &self,
        session_id: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let names = [("#pk", "sessionId"), ("#seq", "seq")];
        let items = self
            .query(QuerySpec {
                table: &self.tables.events,
                index: None,
                condition: "#pk = :s AND #seq > :after",
                names: &names,
                values: vec![(":s", s(session_id)), (":after", n(after_seq))],
                forward: true,
                limit: Some(limit as usize),
                projection: None,
            })
            .await?;
        items
            .iter()
            .map(|item| from_item(item, "event of session", session_id))
            .collect()
    }

    async fn last_seq(&self, session_id: &str) -> Result<u64, StoreError> {
        self.newest_seq(session_id).await
    }

    async fn put_patch(&self, record: &PatchRecord) -> Result<(), StoreError> {
        let patch = &record.patch;
        let json = to_json(patch, "patch", &patch.patch_id)?;
        let generation = uuid::Uuid::new_v4().simple().to_string();
        let (entries, chunks) = journal::split(&patch.patch_id, &generation, &record.files);
        let files = serde_json::to_string(&entries).map_err(|e| {
            StoreError::Database(format!(
                "cannot encode the journal of patch {}: {e}",
                patch.patch_id
            ))
        })?;
        let journals = &self.tables.journals;
        // The new journal first, under its own generation; the patch item then points at it
        // in one write, so a reader sees the old journal or the new one, never a mix.
        let puts = chunks
            .into_iter()
            .map(|chunk| {
                let item = Item::from([
                    ("sessionId".to_string(), s(&patch.session_id)),
                    ("chunk".to_string(), s(chunk.key)),
                    ("data".to_string(), AttributeValue::B(Blob::new(chunk.data))),
                ]);
                built(PutRequest::builder().set_item(Some(item)).build())
                    .map(|put| WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(journals, puts, "BatchWriteItem").await?;
        let table = &self.tables.patches;
        let previous = self
            .client
            .update_item()
            .table_name(table)
            .key("sessionId", s(&patch.session_id))
            .key("patchId", s(&patch.patch_id))
            .update_expression(
                "SET #json = :json, #state = :state, #generation = :generation, #files = :files, \
                 #firstStored = if_not_exists(#firstStored, :now)",
            )
            .expression_attribute_names("#json", "json")
            .expression_attribute_names("#state", "journalState")
            .expression_attribute_names("#generation", "generation")
            .expression_attribute_names("#files", "files")
            .expression_attribute_names("#firstStored", "firstStored")
            .expression_attribute_values(":json", s(json))
            .expression_attribute_values(":state", s(record.journal_state.as_str()))
            .expression_attribute_values(":generation", s(&generation))
            .expression_attribute_values(":files", s(files))
            .expression_attribute_values(":now", n(self.clock.next()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedOld)
            .send()
            .await
            .map_err(|e| sdk_error(self, "UpdateItem", table, e))?;
        // The replaced generation's pieces are unreachable now; remove them. A failure here
        // leaves only garbage that delete_session removes with the session.
        if let Some(AttributeValue::S(old)) =
            previous.attributes().and_then(|a| a.get("generation"))
        {
            let keys = self
                .journal_pieces(&patch.session_id, &patch.patch_id, old, true)
                .await?;
            if let Err(error) = self.delete_keys(journals, keys).await {
                tracing::warn!(session_id = %patch.session_id, patch_id = %patch.patch_id, %error, "could not remove a replaced patch journal");
            }
        }
        Ok(())
    }

    async fn get_patch(
        &self,
        session_id: &str,
        patch_id: &str,
    ) -> Result<Option<PatchRecord>, StoreError> {
        let item = self
            .get_item(
                &self.tables.patches,
                session_key(session_id, "patchId", s(patch_id)),
            )
            .await?;
        match item {
            Some(item) => Ok(Some(self.patch_from_item(&item).await?)),
            None => Ok(None),
        }
    }

    async fn list_patches(&self, session_id: &str) -> Result<Vec<PatchRecord>, StoreError> {
        let names = [("#pk", "sessionId")];
        let items = self
            .query(QuerySpec {
                table: &self.tables.patches,
                index: None,
                condition: "#pk = :s",
                names: &names,
                values: vec![(":s", s(session_id))],
                forward: true,
                limit: None,
                projection: None,
            })
            .await?;
        self.patches_from_items(items).await
    }

    async fn claim_lease(
        &self,
        session_id: &str,
        owner: &str,
        now: i64,
        duration_ms: i64,
    ) -> Result<LeaseClaim, StoreError> {
        self.claim_lease_item(session_id, owner, now, duration_ms)
            .await
    }

    async fn release_lease(&self, session_id: &str, owner: &str) -> Result<bool, StoreError> {
        self.release_lease_item(session_id, owner).await
    }

    async fn get_lease(&self, session_id: &str) -> Result<Option<Lease>, StoreError> {
        self.get_lease_item(session_id).await
    }

    async fn list_leases(&self) -> Result<Vec<Lease>, StoreError> {
        self.list_lease_items().await
    }

    async fn interrupted_patches(&self) -> Result<Vec<PatchRecord>, StoreError> {
        let items = self
            .scan(
                &self.tables.patches,
                "#state = :applying",
                &[("#state", "journalState")],
                vec![(":applying", s(JournalState::Applying.as_str()))],
            )
            .await?;
        self.patches_from_items(items).await
    }
}

//! Session leases and the daemon registry on DynamoDB: the two things a fleet needs beyond
//! the [`Store`](devflow_store::Store)'s records.
//!
//! **Lease.** One item per session in `leases`. The holder renews with one conditional
//! update (`owner = :me`), no read. Claiming is a single conditional put —
//! `attribute_not_exists(sessionId) OR expiresAt <= :now OR owner = :me` — so of two daemons
//! claiming at once exactly one wins, and a live holder is never displaced. `generation`
//! grows when the lease changes hands (a fencing number for logs and checks), not when the
//! holder renews. Expiry compares wall clocks of different machines: the lease (15 s) is far
//! longer than the skew NTP leaves, and a renewal comes every 5 s.
//!
//! **Registry.** One item per daemon in `daemons`: its queue URL and the instant its
//! registration lapses (renewed with the leases; `ttl` lets DynamoDB drop what a dead daemon
//! left). Senders read it to know whose queues to fan events out to.

use aws_sdk_dynamodb::types::AttributeValue;
use devflow_store::{Lease, LeaseClaim, StoreError};

use crate::error::{code, sdk_error};
use crate::store::{n, number, s, text, Item};
use crate::DynamoStore;

/// One daemon of the fleet, as the registry has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonRecord {
    pub daemon_id: String,
    /// Its SQS queue: where other daemons send it events and requests.
    pub queue_url: String,
    /// Unix milliseconds; a record past this belongs to a daemon that stopped renewing.
    pub expires_at: i64,
}

const LEASE: &str = "a lease item";
const DAEMON: &str = "a daemon record";

fn lease_from_item(item: &Item) -> Result<Lease, StoreError> {
    Ok(Lease {
        session_id: text(item, "sessionId", LEASE)?.to_string(),
        owner: text(item, "owner", LEASE)?.to_string(),
        expires_at: number(item, "expiresAt", LEASE)?,
        generation: number(item, "generation", LEASE)?,
    })
}

fn daemon_from_item(item: &Item) -> Result<DaemonRecord, StoreError> {
    Ok(DaemonRecord {
        daemon_id: text(item, "daemonId", DAEMON)?.to_string(),
        queue_url: text(item, "queueUrl", DAEMON)?.to_string(),
        expires_at: number(item, "expiresAt", DAEMON)?,
    })
}

impl DynamoStore {
    pub(crate) async fn claim_lease_item(
        &self,
        session_id: &str,
        owner: &str,
        now: i64,
        duration_ms: i64,
    ) -> Result<LeaseClaim, StoreError> {
        let table = &self.tables.leases;
        // The common case, the holder renewing: one conditional write, no read.
        let renewed = self
            .client
            .update_item()
            .table_name(table)
            .key("sessionId", s(session_id))
            .update_expression("SET expiresAt = :until")
            .condition_expression("#owner = :me")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":until", n(now.saturating_add(duration_ms)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match renewed {
            Ok(answer) => {
                if let Some(item) = answer.attributes() {
                    return Ok(LeaseClaim::Granted(lease_from_item(item)?));
                }
            }
            Err(error) if code(&error) == Some("ConditionalCheckFailedException") => {}
            Err(error) => return Err(sdk_error(self, "UpdateItem", table, error)),
        }
        // The read gives the generation to write; a lost race re-reads (each lost round means
        // another claimant won one, so a few rounds settle it: the result is Held or ours).
        for _ in 0..8 {
            let current = self.get_lease_item(session_id).await?;
            let generation = match &current {
                Some(lease) if lease.owner != owner && lease.expires_at > now => {
                    return Ok(LeaseClaim::Held(lease.clone()));
                }
                Some(lease) if lease.owner == owner => lease.generation,
                Some(lease) => lease.generation + 1,
                None => 1,
            };
            let lease = Lease {
                session_id: session_id.to_string(),
                owner: owner.to_string(),
                expires_at: now.saturating_add(duration_ms),
                generation,
            };
            // The condition pins what was read: nobody else claimed between read and put.
            let (condition, values): (&str, Vec<(&str, AttributeValue)>) = match &current {
                None => ("attribute_not_exists(sessionId)", Vec::new()),
                Some(seen) => (
                    "#owner = :seenOwner AND generation = :seenGeneration AND expiresAt = :seenExpiry",
                    vec![
                        (":seenOwner", s(seen.owner.clone())),
                        (":seenGeneration", n(seen.generation)),
                        (":seenExpiry", n(seen.expires_at)),
                    ],
                ),
            };
            let mut request = self
                .client
                .put_item()
                .table_name(table)
                .item("sessionId", s(session_id))
                .item("owner", s(owner))
                .item("expiresAt", n(lease.expires_at))
                .item("generation", n(lease.generation))
                .condition_expression(condition);
            if current.is_some() {
                request = request.expression_attribute_names("#owner", "owner");
            }
            for (name, value) in values {
                request = request.expression_attribute_values(name, value);
            }
            match request.send().await {
                Ok(_) => return Ok(LeaseClaim::Granted(lease)),
                Err(error) if code(&error) == Some("ConditionalCheckFailedException") => continue,
                Err(error) => return Err(sdk_error(self, "PutItem", table, error)),
            }
        }
        match self.get_lease_item(session_id).await? {
            Some(lease) => Ok(LeaseClaim::Held(lease)),
            None => Err(StoreError::Database(format!(
                "the lease of session {session_id} kept changing while it was claimed; try again"
            ))),
        }
    }

    pub(crate) async fn release_lease_item(
        &self,
        session_id: &str,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.leases;
        let answer = self
            .client
            .delete_item()
            .table_name(table)
            .key("sessionId", s(session_id))
            .condition_expression("#owner = :me")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(error) if code(&error) == Some("ConditionalCheckFailedException") => Ok(false),
            Err(error) => Err(sdk_error(self, "DeleteItem", table, error)),
        }
    }

    pub(crate) async fn get_lease_item(
        &self,
        session_id: &str,
    ) -> Result<Option<Lease>, StoreError> {
        let table = &self.tables.leases;
        let answer = self
            .client
            .get_item()
            .table_name(table)
            .key("sessionId", s(session_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(self, "GetItem", table, e))?;
        answer.item.as_ref().map(lease_from_item).transpose()
    }

    pub(crate) async fn list_lease_items(&self) -> Result<Vec<Lease>, StoreError> {
        let items = self.scan(&self.tables.leases, "", &[], Vec::new()).await?;
        let mut leases = items
            .iter()
            .map(lease_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        leases.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        Ok(leases)
    }

    /// Records (or renews) a daemon of the fleet.
    pub async fn register_daemon(&self, record: &DaemonRecord) -> Result<(), StoreError> {
        let table = &self.tables.daemons;
        self.client
            .put_item()
            .table_name(table)
            .item("daemonId", s(record.daemon_id.clone()))
            .item("queueUrl", s(record.queue_url.clone()))
            .item("expiresAt", n(record.expires_at))
            // DynamoDB's TTL is in seconds; an hour's grace keeps a daemon that is merely
            // late visible to the sweeper that deletes its queue.
            .item("ttl", n(record.expires_at / 1000 + 3600))
            .send()
            .await
            .map_err(|e| sdk_error(self, "PutItem", table, e))?;
        Ok(())
    }

    /// Every registered daemon, lapsed or not, by id.
    pub async fn list_daemons(&self) -> Result<Vec<DaemonRecord>, StoreError> {
        let items = self.scan(&self.tables.daemons, "", &[], Vec::new()).await?;
        let mut daemons = items
            .iter()
            .map(daemon_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        daemons.sort_by(|a, b| a.daemon_id.cmp(&b.daemon_id));
        Ok(daemons)
    }

    /// Removes a daemon's record: its own (a clean stop, `lapsed_before = None`), or another's
    /// only if it lapsed before that instant, so a sweeper never removes a live daemon and
    /// two sweepers remove it once.
    pub async fn remove_daemon(
        &self,
        daemon_id: &str,
        lapsed_before: Option<i64>,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.daemons;
        let mut request = self
            .client
            .delete_item()
            .table_name(table)
            .key("daemonId", s(daemon_id));
        if let Some(instant) = lapsed_before {
            request = request
                .condition_expression("expiresAt < :instant")
                .expression_attribute_values(":instant", n(instant));
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) if code(&error) == Some("ConditionalCheckFailedException") => Ok(false),
            Err(error) => Err(sdk_error(self, "DeleteItem", table, error)),
        }
    }
}

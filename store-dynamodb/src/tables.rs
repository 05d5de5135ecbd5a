//! The DynamoDB tables and `devflow aws init`. Every table is keyed by `sessionId` first, so
//! everything of one session is one partition and a session is deleted by querying it.
//! Tables are on-demand (no capacity to plan); `sessions` has TTL on its `ttl` attribute
//! (epoch seconds = the session's `expiresAt`, seed 001). Creating is idempotent: a table
//! that exists is reported as [`TableInit::Exists`] and left as it is.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, LocalSecondaryIndex, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use devflow_store::StoreError;

use crate::error::{built, sdk_error};
use crate::DynamoStore;

/// The index of `commands` ordered by first-stored instant (history paging).
pub(crate) const BY_SUBMITTED: &str = "bySubmitted";

/// The table names, each `<prefix><name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// pk `sessionId`: the session (seed 004 fields), `ttl`.
    pub sessions: String,
    /// pk `sessionId`, sk `commandId`; LSI `bySubmitted` (sk `submitted`).
    pub commands: String,
    /// pk `sessionId`, sk `seq` (number).
    pub events: String,
    /// pk `sessionId`, sk `patchId`: the patch, its journal state and file list.
    pub patches: String,
    /// pk `sessionId`, sk `chunk`: the journals' file contents (see `journal.rs`).
    pub journals: String,
    /// pk `sessionId`, sk `idempotencyKey` → `commandId` (seed 003).
    pub idempotency: String,
    /// pk `sessionId`: the session's lease (`owner`, `expiresAt` ms, `generation`).
    pub leases: String,
    /// pk `daemonId`: the daemons of the fleet (`queueUrl`, `expiresAt` ms, `ttl`).
    pub daemons: String,
}

impl Tables {
    pub fn new(prefix: &str) -> Tables {
        let name = |table: &str| format!("{prefix}{table}");
        Tables {
            sessions: name("sessions"),
            commands: name("commands"),
            events: name("events"),
            patches: name("patches"),
            journals: name("journals"),
            idempotency: name("idempotency"),
            leases: name("leases"),
            daemons: name("daemons"),
        }
    }

    /// Every table name, in creation order.
    pub fn all(&self) -> [&str; 8] {
        [
            &self.sessions,
            &self.commands,
            &self.events,
            &self.patches,
            &self.journals,
            &self.idempotency,
            &self.leases,
            &self.daemons,
        ]
    }
}

/// What `init_tables` did to one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableInit {
    Created,
    Exists,
}

/// A table's key: partition key (`sessionId` unless said otherwise, a string) and an
/// optional sort key.
struct Shape {
    partition: &'static str,
    sort: Option<(&'static str, ScalarAttributeType)>,
    /// (index name, sort attribute) of a local secondary index, all attributes projected.
    local_index: Option<(&'static str, &'static str, ScalarAttributeType)>,
}

impl DynamoStore {
    /// Creates the missing tables (on-demand billing), waits until they are active and
    /// turns TTL on for `sessions`. Safe to run again and from several machines at once.
    pub async fn init_tables(&self) -> Result<Vec<(String, TableInit)>, StoreError> {
        let t = &self.tables;
        let shapes = [
            (
                &t.sessions,
                Shape {
                    partition: "sessionId",
                    sort: None,
                    local_index: None,
                },
            ),
            (
                &t.commands,
                Shape {
                    partition: "sessionId",
                    sort: Some(("commandId", ScalarAttributeType::S)),
                    local_index: Some((BY_SUBMITTED, "submitted", ScalarAttributeType::N)),
                },
            ),
            (
                &t.events,
                Shape {
                    partition: "sessionId",
                    sort: Some(("seq", ScalarAttributeType::N)),
                    local_index: None,
                },
            ),
            (
                &t.patches,
                Shape {
                    partition: "sessionId",
                    sort: Some(("patchId", ScalarAttributeType::S)),
                    local_index: None,
                },
            ),
            (
                &t.journals,
                Shape {
                    partition: "sessionId",
                    sort: Some(("chunk", ScalarAttributeType::S)),
                    local_index: None,
                },
            ),
            (
                &t.idempotency,
                Shape {
                    partition: "sessionId",
                    sort: Some(("idempotencyKey", ScalarAttributeType::S)),
                    local_index: None,
                },
            ),
            (
                &t.leases,
                Shape {
                    partition: "sessionId",
                    sort: None,
                    local_index: None,
                },
            ),
            (
                &t.daemons,
                Shape {
                    partition: "daemonId",
                    sort: None,
                    local_index: None,
                },
            ),
        ];
        let mut report = Vec::new();
        for (table, shape) in shapes {
            let outcome = self.create_table(table, &shape).await?;
            report.push((table.clone(), outcome));
        }
        for table in t.all() {
            self.wait_active(table).await?;
        }
        self.enable_ttl(&t.sessions).await?;
        // A daemon that died without saying goodbye leaves its item; TTL removes it.
        self.enable_ttl(&t.daemons).await?;
        Ok(report)
    }

    async fn create_table(&self, table: &str, shape: &Shape) -> Result<TableInit, StoreError> {
        let key = |name: &str, kind: KeyType| {
            built(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kind)
                    .build(),
            )
        };
        let attribute = |name: &str, kind: ScalarAttributeType| {
            built(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(kind)
                    .build(),
            )
        };
        let mut request = self
            .client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(shape.partition, KeyType::Hash)?)
            .attribute_definitions(attribute(shape.partition, ScalarAttributeType::S)?);
        if let Some((name, kind)) = &shape.sort {
            request = request
                .key_schema(key(name, KeyType::Range)?)
                .attribute_definitions(attribute(name, kind.clone())?);
        }
        if let Some((index, name, kind)) = &shape.local_index {
            request = request
                .attribute_definitions(attribute(name, kind.clone())?)
                .local_secondary_indexes(built(
                    LocalSecondaryIndex::builder()
                        .index_name(*index)
                        .key_schema(key("sessionId", KeyType::Hash)?)
                        .key_schema(key(name, KeyType::Range)?)
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::All)
                                .build(),
                        )
                        .build(),
                )?);
        }
        match request.send().await {
            Ok(_) => Ok(TableInit::Created),
            Err(error) if crate::error::code(&error) == Some("ResourceInUseException") => {
                Ok(TableInit::Exists)
            }
            Err(error) => Err(sdk_error(self, "CreateTable", table, error)),
        }
    }

    async fn wait_active(&self, table: &str) -> Result<(), StoreError> {
        // A new table is CREATING for a few seconds on AWS (moto: none).
        for _ in 0..120 {
            let described = self
                .client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(|e| sdk_error(self, "DescribeTable", table, e))?;
            if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err(StoreError::Database(format!(
            "table {table} at {} did not become ACTIVE within 2 minutes; run `devflow aws init` again",
            self.endpoint
        )))
    }

    async fn enable_ttl(&self, table: &str) -> Result<(), StoreError> {
        let described = self
            .client
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .map_err(|e| sdk_error(self, "DescribeTimeToLive", table, e))?;
        let status = described
            .time_to_live_description()
            .and_then(|d| d.time_to_live_status());
        if matches!(
            status,
            Some(TimeToLiveStatus::Enabled) | Some(TimeToLiveStatus::Enabling)
        ) {
            return Ok(());
        }
        self.client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(built(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("ttl")
                    .build(),
            )?)
            .send()
            .await
            .map_err(|e| sdk_error(self, "UpdateTimeToLive", table, e))?;
        Ok(())
    }

    /// Fails with the missing or unreadable table and the fix when a table cannot be used;
    /// the daemon calls it at start so a missing `devflow aws init` shows at once.
    pub async fn check_tables(&self) -> Result<(), StoreError> {
        for table in self.tables.all() {
            self.client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(|e| sdk_error(self, "DescribeTable", table, e))?;
        }
        Ok(())
    }
}

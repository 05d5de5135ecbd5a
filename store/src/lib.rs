//! Where devflow keeps what it must not lose: sessions, commands, the append-only event log,
//! patches with their journals, and idempotency keys. [`Store`] is the boundary; the
//! embedded default is [`SqliteStore`] (one file in the state dir). Every write is durable
//! against a killed process once the call returns. Events get `seq` = previous + 1 inside
//! the same transaction that stores them, so a session's seqs have no gaps and no duplicates.
//! [`cursor::HistoryCursor`] is the history-cursor format every backend gives out; the
//! `conformance` module (feature `conformance`, for tests) is the suite every backend runs.

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod cursor;
mod sqlite;

pub use sqlite::SqliteStore;

use async_trait::async_trait;
use devflow_protocol::{Command, Event, EventBody, Patch, Session};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the history cursor is not one this daemon gave out")]
    InvalidCursor,
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

/// An event to append; the store assigns its `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub session_id: String,
    pub command_id: Option<String>,
    /// Unix milliseconds.
    pub at: i64,
    pub body: EventBody,
}

/// What [`Store::insert_command`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// The command is new and was stored.
    New(Command),
    /// A command with the same session and idempotency key exists; it is returned instead.
    Existing(Command),
}

/// A page of a session's commands, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandPage {
    pub commands: Vec<Command>,
    /// Opaque; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Journal state of a patch (see [`PatchRecord`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalState {
    /// Written before any file is touched; a patch still in this state on start-up was
    /// interrupted and must be restored from `before`.
    Applying,
    /// Every file was written.
    Applied,
    /// Restored to `before` by a rollback (or by recovery).
    RolledBack,
}

impl JournalState {
    /// The name every backend stores the state under.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalState::Applying => "APPLYING",
            JournalState::Applied => "APPLIED",
            JournalState::RolledBack => "ROLLED_BACK",
        }
    }

    /// The state [`JournalState::as_str`] named; `None` for any other name.
    pub fn from_name(name: &str) -> Option<JournalState> {
        Some(match name {
            "APPLYING" => JournalState::Applying,
            "APPLIED" => JournalState::Applied,
            "ROLLED_BACK" => JournalState::RolledBack,
            _ => return None,
        })
    }
}

/// One file's contents before and after a patch (`None` = did not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalFile {
    pub path: String,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
}

/// A patch with its journal: enough to restore the workspace exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRecord {
    pub patch: Patch,
    pub journal_state: JournalState,
    pub files: Vec<JournalFile>,
}

/// Which daemon runs a session's pipeline, and until when (fleet mode; see
/// [`Store::claim_lease`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub session_id: String,
    /// The daemon id holding it.
    pub owner: String,
    /// Unix milliseconds; the lease is free from this instant on.
    pub expires_at: i64,
    /// Grows by one each time the lease changes hands (not on renewal): a fencing number.
    pub generation: u64,
}

/// What [`Store::claim_lease`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseClaim {
    /// The caller holds the lease until `expires_at` (newly taken, taken over or renewed).
    Granted(Lease),
    /// Another daemon holds it and it has not expired.
    Held(Lease),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts or replaces the session.
    async fn put_session(&self, session: &Session) -> Result<(), StoreError>;
    async fn get_session(&self, session_id: &str) -> Result<Option<Session>, StoreError>;
    /// All sessions, oldest first.
    async fn list_sessions(&self) -> Result<Vec<Session>, StoreError>;
    /// Removes the session and everything stored for it (commands, events, patches, keys).
    async fn delete_session(&self, session_id: &str) -> Result<(), StoreError>;

    /// Stores a new command. When it carries an idempotency key that this session already
    /// used, nothing is written and the earlier command is returned (seed 003).
    async fn insert_command(&self, command: &Command) -> Result<Inserted, StoreError>;
    /// Replaces a stored command (status changes, proposals, timings).
    async fn update_command(&self, command: &Command) -> Result<(), StoreError>;
    async fn get_command(
        &self,
        session_id: &str,
        command_id: &str,
    ) -> Result<Option<Command>, StoreError>;
    /// Commands whose status is not final (QUEUED, ANALYZING, PATCHING), of every session,
    /// in submission order.
    async fn unfinished_commands(&self) -> Result<Vec<Command>, StoreError>;
    /// A session's commands newest first, `limit` at a time, continuing after `cursor`.
    async fn command_page(
        &self,
        session_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<CommandPage, StoreError>;

    /// Appends an event, assigning the session's next seq (1 for the first).
    async fn append_event(&self, event: NewEvent) -> Result<Event, StoreError>;
    /// Events with seq > `after_seq`, ascending, at most `limit`.
    async fn events_after(
        &self,
        session_id: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;
    /// The session's newest seq (0 when it has none).
    async fn last_seq(&self, session_id: &str) -> Result<u64, StoreError>;

    /// Inserts or replaces a patch and its journal.
    async fn put_patch(&self, record: &PatchRecord) -> Result<(), StoreError>;
    async fn get_patch(
        &self,
        session_id: &str,
        patch_id: &str,
    ) -> Result<Option<PatchRecord>, StoreError>;
    /// A session's patches in the order they were first stored.
    async fn list_patches(&self, session_id: &str) -> Result<Vec<PatchRecord>, StoreError>;
    /// Patches of every session whose journal is still [`JournalState::Applying`].
    async fn interrupted_patches(&self) -> Result<Vec<PatchRecord>, StoreError>;

    /// Takes or renews the session's lease for `owner` until `now + duration_ms`, in one
    /// atomic step: granted when there is no lease, when it expired (`expires_at <= now`) or
    /// when `owner` already holds it; otherwise the holder's lease is returned untouched.
    async fn claim_lease(
        &self,
        session_id: &str,
        owner: &str,
        now: i64,
        duration_ms: i64,
    ) -> Result<LeaseClaim, StoreError>;
    /// Gives the lease up if `owner` holds it (a clean stop); `false` when it did not.
    async fn release_lease(&self, session_id: &str, owner: &str) -> Result<bool, StoreError>;
    async fn get_lease(&self, session_id: &str) -> Result<Option<Lease>, StoreError>;
    /// Every lease, expired or not.
    async fn list_leases(&self) -> Result<Vec<Lease>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_state_names_round_trip() {
        for state in [
            JournalState::Applying,
            JournalState::Applied,
            JournalState::RolledBack,
        ] {
            assert_eq!(JournalState::from_name(state.as_str()), Some(state));
        }
        assert_eq!(JournalState::from_name("applying"), None);
    }
}

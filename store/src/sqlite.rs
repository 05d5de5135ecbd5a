//! [`SqliteStore`]: the embedded store, one SQLite file in the state dir (schema in
//! [`migrations`]). Every row keeps the full wire struct as JSON beside the columns it is looked
//! up by. One connection behind a mutex serialises all calls of this process; writes that read
//! before they write (event seq, idempotency key) also run in `BEGIN IMMEDIATE`, so they stay
//! atomic against another process that opens the same file.

mod migrations;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use devflow_protocol::{Command, Event, Patch, Session};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cursor::HistoryCursor;
use crate::{
    CommandPage, Inserted, JournalFile, JournalState, Lease, LeaseClaim, NewEvent, PatchRecord,
    Store, StoreError,
};

/// History cursors count row ids of `commands` ("before row N").
const CURSOR: HistoryCursor = HistoryCursor::new("c1.");

/// How long a call waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded [`Store`]: one SQLite file, WAL journal.
/// How often the WAL is copied into the database file (see `checkpoint_in_background`).
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// WAL frames (pages) past which the checkpointer also restarts the WAL: 64 MiB of 4 KiB
/// pages. It is the WAL file's size limit too.
const WAL_RESTART_FRAMES: i64 = 16_384;
const WAL_SIZE_LIMIT_BYTES: i64 = WAL_RESTART_FRAMES * 4096;

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Database(error.to_string())
    }
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) the database at `path` and
    /// brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Database(format!(
                    "cannot create the directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let location = path.display().to_string();
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Database(format!("cannot open {location}: {e}")))?;
        // Before anything else, so that even switching to WAL waits for another process.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!(
                "{location} cannot use SQLite's write-ahead log (journal mode stayed {mode}); \
                 put the state dir on a local file system"
            )));
        }
        let store = Self::configure(conn, &location)?;
        store.checkpoint_in_background(path)?;
        Ok(store)
    }

    /// SQLite's automatic checkpoint runs inside whichever commit crosses the WAL size, and
    /// fsyncs there, with our one connection's lock held: every ~45 commands an event append
    /// waited 3–10 ms (BENCHMARKS.md). Instead a second connection checkpoints passively,
    /// once a second, on its own thread; it never blocks a writer. It ends with the store.
    ///
    /// A passive checkpoint never lets the WAL start over while commits keep coming: the
    /// writer rewinds only when it finds every frame copied, and by then new ones are there.
    /// Under a steady stream (50 commands/s, BENCHMARKS.md "Load") the WAL grew without
    /// bound, 1.8 GB in 150 s. So past [`WAL_RESTART_FRAMES`] the checkpointer runs a RESTART,
    /// which waits for the writer (briefly: the passive pass has just copied nearly
    /// everything), and the next commit writes the WAL from its start, truncated to
    /// [`WAL_SIZE_LIMIT_BYTES`].
    fn checkpoint_in_background(&self, path: &Path) -> Result<(), StoreError> {
        {
            let conn = self
                .conn
                .lock()
                .map_err(|_| StoreError::Database("the database connection is poisoned".into()))?;
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
        }
        let checkpointer = Connection::open(path)?;
        checkpointer.busy_timeout(BUSY_TIMEOUT)?;
        let alive = Arc::downgrade(&self.conn);
        std::thread::Builder::new()
            .name("devflow-checkpoint".into())
            .spawn(move || {
                while alive.strong_count() > 0 {
                    std::thread::sleep(CHECKPOINT_INTERVAL);
                    // A failed checkpoint is retried on the next tick; the WAL keeps every
                    // commit meanwhile. The second column is the WAL's length in frames.
                    let frames: i64 = checkpointer
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
                        .unwrap_or(0);
                    if frames > WAL_RESTART_FRAMES {
                        let _ = checkpointer.query_row(
                            "PRAGMA wal_checkpoint(RESTART)",
                            [],
                            |_| Ok(()),
                        );
                    }
                }
            })
            .map_err(|e| {
                StoreError::Database(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(())
    }

    /// A private database that lives as long as the store; for tests.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        Self::configure(Connection::open_in_memory()?, ":memory:")
    }

    fn configure(mut conn: Connection, location: &str) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // What we promise is that an acknowledged write survives a killed daemon (kill -9,
        // panic, OOM kill). In WAL mode, NORMAL does exactly that: a commit is in the WAL file
        // (the OS page cache) before the call returns, and the next open replays it. It gives
        // up only the last few commits on power loss or an OS crash, and never the database's
        // integrity. FULL would add an fsync to every event append, on every pipeline step.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // patch_files rows go with their patch by ON DELETE CASCADE.
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrations::apply(&mut conn, migrations::MIGRATIONS, location)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `work` with the connection on tokio's blocking pool. Most calls take well under a
    /// millisecond, but a WAL checkpoint fsyncs the database file and a patch journal may carry
    /// megabytes of file contents; run on the caller's worker thread, either would stall every
    /// other task there (event fan-out, the preview proxy). The hop costs microseconds.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| {
                StoreError::Database(
                    "an earlier store call panicked while holding the database connection; \
                     restart the daemon"
                        .into(),
                )
            })?;
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Database(format!("the store call did not finish: {e}")))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        let json = to_json(session, "session", &session.session_id)?;
        let (session_id, created_at) = (session.session_id.clone(), session.created_at);
        self.run(move |conn| {
            // An upsert, not INSERT OR REPLACE, which would delete the row and give it a new
            // rowid, the tie-breaker of the listing order.
            conn.execute(
                "INSERT INTO sessions (session_id, created_at, json) VALUES (?1, ?2, ?3)
                 ON CONFLICT (session_id)
                 DO UPDATE SET created_at = excluded.created_at, json = excluded.json",
                params![session_id, created_at, json],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
        let session_id = session_id.to_owned();
        self.run(move |conn| {
            conn.query_row(
                "SELECT json FROM sessions WHERE session_id = ?1",
                [&session_id],
                |row| row.get::<_, String>(0),
            )
            .optional()?
            .map(|json| from_json(&json, "session", &session_id))
            .transpose()
        })
        .await
    }

    async fn list_sessions(&self) -> Result<Vec<Session>, StoreError> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT session_id, json FROM sessions ORDER BY created_at, rowid",
            )?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.map(|row| {
                let (session_id, json): (String, String) = row?;
                from_json(&json, "session", &session_id)
            })
            .collect()
        })
        .await
    }

    async fn delete_session(&self, session_id: &str) -> Result<(), StoreError> {
        let session_id = session_id.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for sql in [
                "DELETE FROM patches WHERE session_id = ?1",
                "DELETE FROM leases WHERE session_id = ?1",
                "DELETE FROM events WHERE session_id = ?1",
                "DELETE FROM commands WHERE session_id = ?1",
                "DELETE FROM sessions WHERE session_id = ?1",
            ] {
                tx.execute(sql, [&session_id])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn insert_command(&self, command: &Command) -> Result<Inserted, StoreError> {
        let json = to_json(command, "command", &command.command_id)?;
        let command = command.clone();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(key) = &command.idempotency_key {
                let earlier: Option<(String, String)> = tx
                    .query_row(
                        "SELECT command_id, json FROM commands
                         WHERE session_id = ?1 AND idempotency_key = ?2",
                        params![command.session_id, key],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()?;
                if let Some((command_id, json)) = earlier {
                    return Ok(Inserted::Existing(from_json(
                        &json,
                        "command",
                        &command_id,
                    )?));
                }
            }
            tx.execute(
                "INSERT INTO commands (session_id, command_id, status, idempotency_key, json)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    command.session_id,
                    command.command_id,
                    command.status.as_str(),
                    command.idempotency_key,
                    json
                ],
            )?;
            tx.commit()?;
            Ok(Inserted::New(command))
        })
        .await
    }

    async fn update_command(&self, command: &Command) -> Result<(), StoreError> {
        let json = to_json(command, "command", &command.command_id)?;
        let (session_id, command_id) = (command.session_id.clone(), command.command_id.clone());
        let (status, key) = (command.status.as_str(), command.idempotency_key.clone());
        self.run(move |conn| {
            let changed = conn.execute(
                "UPDATE commands SET status = ?3, idempotency_key = ?4, json = ?5
                 WHERE session_id = ?1 AND command_id = ?2",
                params![session_id, command_id, status, key, json],
            )?;
            // Succeeding silently would lose the update (e.g. a READY status) without a trace.
            if changed == 0 {
                return Err(StoreError::Database(format!(
                    "cannot update command {command_id} of session {session_id}: it is not stored \
                     (insert it first, or the session was deleted)"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn get_command(
        &self,
        session_id: &str,
        command_id: &str,
    ) -> Result<Option<Command>, StoreError> {
        let (session_id, command_id) = (session_id.to_owned(), command_id.to_owned());
        self.run(move |conn| {
            conn.query_row(
                "SELECT json FROM commands WHERE session_id = ?1 AND command_id = ?2",
                [&session_id, &command_id],
                |row| row.get::<_, String>(0),
            )
            .optional()?
            .map(|json| from_json(&json, "command", &command_id))
            .transpose()
        })
        .await
    }

    async fn unfinished_commands(&self) -> Result<Vec<Command>, StoreError> {
        self.run(|conn| {
            // The status list matches the partial index commands_unfinished word for word, so
            // SQLite can use it.
            let mut stmt = conn.prepare_cached(
                "SELECT command_id, json FROM commands
                 WHERE status IN ('QUEUED', 'ANALYZING', 'PATCHING') ORDER BY id",
            )?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.map(|row| {
                let (command_id, json): (String, String) = row?;
                from_json(&json, "command", &command_id)
            })
            .collect()
        })
        .await
    }

    async fn command_page(
        &self,
        session_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<CommandPage, StoreError> {
        let before = match cursor {
            // Row ids are positive i64s; a larger position was never given out.
            Some(cursor) => i64::try_from(CURSOR.decode(session_id, cursor)?)
                .map_err(|_| StoreError::InvalidCursor)?,
            None => i64::MAX,
        };
        let session_id = session_id.to_owned();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, command_id, json FROM commands
                 WHERE session_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            )?;
            // One row more than asked tells whether another page follows, so the last page
            // never carries a cursor to an empty page.
            let rows = stmt
                .query_map(params![session_id, before, i64::from(limit) + 1], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?;
            let mut last_id = before;
            let mut commands = Vec::new();
            let mut more = false;
            for row in rows {
                let (id, command_id, json): (i64, String, String) = row?;
                if commands.len() == limit as usize {
                    more = true;
                    break;
                }
                commands.push(from_json(&json, "command", &command_id)?);
                last_id = id;
            }
            let next_cursor = match more {
                true => Some(CURSOR.encode(&session_id, row_position(last_id)?)),
                false => None,
            };
            Ok(CommandPage {
                commands,
                next_cursor,
            })
        })
        .await
    }

    async fn append_event(&self, event: NewEvent) -> Result<Event, StoreError> {
        self.run(move |conn| {
            // IMMEDIATE takes the write lock before the read, so no other writer (another task
            // of ours is already excluded by the mutex; another process is not) can take the
            // same seq between the MAX and the INSERT.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let last: i64 = tx.query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?1",
                [&event.session_id],
                |row| row.get(0),
            )?;
            let seq = last
                .checked_add(1)
                .and_then(|seq| u64::try_from(seq).ok())
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "session {} has an event with seq {last}",
                        event.session_id
                    ))
                })?;
            let stored = Event {
                session_id: event.session_id,
                seq,
                at: event.at,
                command_id: event.command_id,
                body: event.body,
            };
            let json = to_json(&stored, "event of session", &stored.session_id)?;
            tx.execute(
                "INSERT INTO events (session_id, seq, command_id, type, at, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    stored.session_id,
                    last + 1,
                    stored.command_id,
                    stored.body.type_name(),
                    stored.at,
                    json
                ],
            )?;
            tx.commit()?;
            Ok(stored)
        })
        .await
    }

    async fn events_after(
        &self,
        session_id: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        // Beyond i64::MAX no seq can exist, so clamping gives the right (empty) answer.
        let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
        let session_id = session_id.to_owned();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT json FROM events WHERE session_id = ?1 AND seq > ?2
                 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![session_id, after, i64::from(limit)], |row| {
                row.get::<_, String>(0)
            })?;
            rows.map(|json| from_json(&json?, "event of session", &session_id))
                .collect()
        })
        .await
    }

    async fn last_seq(&self, session_id: &str) -> Result<u64, StoreError> {
        let session_id = session_id.to_owned();
        self.run(move |conn| {
            let last: i64 = conn.query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?1",
                [&session_id],
                |row| row.get(0),
            )?;
            u64::try_from(last).map_err(|_| {
                StoreError::Corrupt(format!("session {session_id} has an event with seq {last}"))
            })
        })
        .await
    }

    async fn put_patch(&self, record: &PatchRecord) -> Result<(), StoreError> {
        let json = to_json(&record.patch, "patch", &record.patch.patch_id)?;
        let record = record.clone();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // An upsert keeps the row id, which is the order patches were first stored in.
            let id: i64 = tx.query_row(
                "INSERT INTO patches (session_id, patch_id, journal_state, json)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (session_id, patch_id)
                 DO UPDATE SET journal_state = excluded.journal_state, json = excluded.json
                 RETURNING id",
                params![
                    record.patch.session_id,
                    record.patch.patch_id,
                    record.journal_state.as_str(),
                    json
                ],
                |row| row.get(0),
            )?;
            tx.execute("DELETE FROM patch_files WHERE patch = ?1", [id])?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO patch_files (patch, position, path, before, after)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for (position, file) in record.files.iter().enumerate() {
                    let position = i64::try_from(position).unwrap_or(i64::MAX);
                    insert.execute(params![id, position, file.path, file.before, file.after])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn get_patch(
        &self,
        session_id: &str,
        patch_id: &str,
    ) -> Result<Option<PatchRecord>, StoreError> {
        let (session_id, patch_id) = (session_id.to_owned(), patch_id.to_owned());
        self.run(move |conn| {
            // One read transaction so the patch and its files are one snapshot.
            let tx = conn.transaction()?;
            let found = read_patches(
                &tx,
                "SELECT id, patch_id, journal_state, json FROM patches
                 WHERE session_id = ?1 AND patch_id = ?2",
                [&session_id, &patch_id],
            )?;
            Ok(found.into_iter().next())
        })
        .await
    }

    async fn list_patches(&self, session_id: &str) -> Result<Vec<PatchRecord>, StoreError> {
        let session_id = session_id.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction()?;
            read_patches(
                &tx,
                "SELECT id, patch_id, journal_state, json FROM patches
                 WHERE session_id = ?1 ORDER BY id",
                [&session_id],
            )
        })
        .await
    }

    async fn interrupted_patches(&self) -> Result<Vec<PatchRecord>, StoreError> {
        self.run(|conn| {
            let tx = conn.transaction()?;
            read_patches(
                &tx,
                "SELECT id, patch_id, journal_state, json FROM patches
                 WHERE journal_state = 'APPLYING' ORDER BY id",
                [],
            )
        })
        .await
    }

    async fn claim_lease(
        &self,
        session_id: &str,
        owner: &str,
        now: i64,
        duration_ms: i64,
    ) -> Result<LeaseClaim, StoreError> {
        let session_id = session_id.to_owned();
        let owner = owner.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current = read_lease(&tx, &session_id)?;
            let generation = match &current {
                Some(lease) if lease.owner != owner && lease.expires_at > now => {
                    return Ok(LeaseClaim::Held(lease.clone()));
                }
                Some(lease) if lease.owner == owner => lease.generation,
                Some(lease) => lease.generation + 1,
                None => 1,
            };
            let lease = Lease {
                session_id,
                owner,
                expires_at: now.saturating_add(duration_ms),
                generation,
            };
            tx.execute(
                "INSERT INTO leases (session_id, owner, expires_at, generation)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (session_id) DO UPDATE SET
                   owner = excluded.owner, expires_at = excluded.expires_at,
                   generation = excluded.generation",
                params![
                    lease.session_id,
                    lease.owner,
                    lease.expires_at,
                    lease.generation as i64
                ],
            )?;
            tx.commit()?;
            Ok(LeaseClaim::Granted(lease))
        })
        .await
    }

    async fn release_lease(&self, session_id: &str, owner: &str) -> Result<bool, StoreError> {
        let session_id = session_id.to_owned();
        let owner = owner.to_owned();
        self.run(move |conn| {
            let removed = conn.execute(
                "DELETE FROM leases WHERE session_id = ?1 AND owner = ?2",
                params![session_id, owner],
            )?;
            Ok(removed > 0)
        })
        .await
    }

    async fn get_lease(&self, session_id: &str) -> Result<Option<Lease>, StoreError> {
        let session_id = session_id.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction()?;
            read_lease(&tx, &session_id)
        })
        .await
    }

    async fn list_leases(&self) -> Result<Vec<Lease>, StoreError> {
        self.run(|conn| {
            let mut statement = conn.prepare(
                "SELECT session_id, owner, expires_at, generation FROM leases ORDER BY session_id",
            )?;
            let leases = statement
                .query_map([], lease_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(leases)
        })
        .await
    }
}

fn lease_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Lease> {
    Ok(Lease {
        session_id: row.get(0)?,
        owner: row.get(1)?,
        expires_at: row.get(2)?,
        generation: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
    })
}

fn read_lease(
    tx: &rusqlite::Transaction<'_>,
    session_id: &str,
) -> Result<Option<Lease>, StoreError> {
    Ok(tx
        .query_row(
            "SELECT session_id, owner, expires_at, generation FROM leases WHERE session_id = ?1",
            [session_id],
            lease_from_row,
        )
        .optional()?)
}

/// Patches selected by `sql` (columns: id, patch_id, journal_state, json) with their files.
fn read_patches(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<PatchRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })?;
    let mut files = conn.prepare_cached(
        "SELECT path, before, after FROM patch_files WHERE patch = ?1 ORDER BY position",
    )?;
    let mut records = Vec::new();
    for row in rows {
        let (id, patch_id, state, json): (i64, String, String, String) = row?;
        let patch: Patch = from_json(&json, "patch", &patch_id)?;
        let journal_state = JournalState::from_name(&state).ok_or_else(|| {
            StoreError::Corrupt(format!("patch {patch_id} has journal state {state:?}"))
        })?;
        let files = files
            .query_map([id], |row| {
                Ok(JournalFile {
                    path: row.get(0)?,
                    before: row.get(1)?,
                    after: row.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        records.push(PatchRecord {
            patch,
            journal_state,
            files,
        });
    }
    Ok(records)
}

/// A command row id as a cursor position (SQLite gives out row ids from 1).
fn row_position(id: i64) -> Result<u64, StoreError> {
    u64::try_from(id).map_err(|_| StoreError::Corrupt(format!("a command has row id {id}")))
}

fn to_json<T: Serialize>(value: &T, what: &str, id: &str) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Database(format!("cannot encode {what} {id}: {e}")))
}

fn from_json<T: DeserializeOwned>(json: &str, what: &str, id: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("{what} {id}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn poisoned_connection_is_an_error_not_a_panic() {
        let store = SqliteStore::open_in_memory().expect("open");
        let conn = Arc::clone(&store.conn);
        let poisoner = std::thread::spawn(move || {
            let _guard = conn.lock();
            panic!("poisoning the connection mutex on purpose");
        });
        assert!(poisoner.join().is_err());
        let err = store
            .last_seq("s")
            .await
            .expect_err("must report the poisoned mutex");
        assert!(
            matches!(&err, StoreError::Database(m) if m.contains("panicked")),
            "{err:?}"
        );
    }
}

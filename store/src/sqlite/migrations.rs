//! Schema migrations: numbered SQL scripts applied in order, the number applied kept in
//! `PRAGMA user_version`. A released migration is never edited; a schema change is a new entry
//! at the end of [`MIGRATIONS`]. Each one runs in its own transaction together with its version
//! bump, so a crash part-way leaves the database at the previous version, whole.

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

/// Migration `n` (1-based) is `MIGRATIONS[n - 1]`.
pub(super) const MIGRATIONS: &[&str] = &[V1_INITIAL, V2_LEASES];

/// The session lease (fleet mode; one daemon per SQLite file holds them all, but the store
/// keeps them like any other so the trait means the same on every backend).
const V2_LEASES: &str = "
CREATE TABLE leases (
    session_id TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    generation INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Every table keeps the full wire struct as JSON beside the columns we look rows up by, so a
/// new field on a wire type needs no migration.
const V1_INITIAL: &str = "
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL,
    json TEXT NOT NULL
);

-- `id` aliases the rowid. A new row always gets an id above every existing row, so id order
-- is submission order; it is also what a history cursor points at.
CREATE TABLE commands (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    command_id TEXT NOT NULL,
    status TEXT NOT NULL,
    idempotency_key TEXT,
    json TEXT NOT NULL,
    UNIQUE (session_id, command_id)
);
CREATE UNIQUE INDEX commands_by_idempotency_key
    ON commands (session_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX commands_by_session ON commands (session_id, id);
CREATE INDEX commands_unfinished
    ON commands (id) WHERE status IN ('QUEUED', 'ANALYZING', 'PATCHING');

CREATE TABLE events (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    command_id TEXT,
    type TEXT NOT NULL,
    at INTEGER NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;

-- `id` order is the order patches were first stored; an upsert keeps it.
CREATE TABLE patches (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    patch_id TEXT NOT NULL,
    journal_state TEXT NOT NULL,
    json TEXT NOT NULL,
    UNIQUE (session_id, patch_id)
);
CREATE INDEX patches_applying ON patches (id) WHERE journal_state = 'APPLYING';

-- File contents are BLOBs, not JSON: they are raw bytes (not always UTF-8), and NULL (the file
-- did not exist) must stay distinct from an empty file.
CREATE TABLE patch_files (
    patch INTEGER NOT NULL REFERENCES patches (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    path TEXT NOT NULL,
    before BLOB,
    after BLOB,
    PRIMARY KEY (patch, position)
) WITHOUT ROWID;
";

/// Brings the database at `location` (only used in messages) up to `migrations.len()`.
pub(super) fn apply(
    conn: &mut Connection,
    migrations: &[&str],
    location: &str,
) -> Result<(), StoreError> {
    let known = migrations.len();
    check_not_newer(user_version(conn)?, known, location)?;
    for (index, sql) in migrations.iter().enumerate() {
        let version = index + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read again under the write lock: another process may have migrated meanwhile.
        let found = user_version(&tx)?;
        check_not_newer(found, known, location)?;
        if found >= version {
            continue;
        }
        tx.execute_batch(sql).map_err(|e| {
            StoreError::Database(format!(
                "{location}: schema migration {version} failed, nothing of it was applied: {e}"
            ))
        })?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(version).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}

fn user_version(conn: &Connection) -> Result<usize, StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    usize::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("schema version {version} is negative")))
}

fn check_not_newer(found: usize, known: usize, location: &str) -> Result<(), StoreError> {
    if found > known {
        return Err(StoreError::Database(format!(
            "{location} has schema version {found}, but this devflow knows versions up to \
             {known}: it was written by a newer devflow. Run that version, or use another \
             state dir"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE_A: &str = "CREATE TABLE a (x INTEGER);";
    // Fails on its second statement, after it created a table.
    const CREATE_B_THEN_FAIL: &str = "CREATE TABLE b (x INTEGER); INSERT INTO missing VALUES (1);";
    const CREATE_C: &str = "CREATE TABLE c (x INTEGER);";

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .expect("prepare");
        let names = stmt
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<Vec<String>, _>>()
            .expect("rows");
        names
    }

    #[test]
    fn fresh_database_gets_every_migration_and_their_count_as_version() {
        let mut conn = Connection::open_in_memory().expect("open");
        apply(&mut conn, MIGRATIONS, "test").expect("migrate");
        assert_eq!(user_version(&conn).expect("version"), MIGRATIONS.len());
        for table in ["commands", "events", "patch_files", "patches", "sessions"] {
            assert!(
                tables(&conn).contains(&table.to_string()),
                "{table} missing"
            );
        }
    }

    #[test]
    fn reopening_applies_only_the_missing_migrations() {
        let mut conn = Connection::open_in_memory().expect("open");
        apply(&mut conn, &[CREATE_A], "test").expect("first");
        // CREATE_A would fail with "table a already exists" if it ran again.
        apply(&mut conn, &[CREATE_A, CREATE_C], "test").expect("second");
        assert_eq!(user_version(&conn).expect("version"), 2);
        assert_eq!(tables(&conn), ["a", "c"]);
        apply(&mut conn, &[CREATE_A, CREATE_C], "test").expect("third is a no-op");
        assert_eq!(user_version(&conn).expect("version"), 2);
    }

    #[test]
    fn failed_migration_leaves_nothing_behind_and_keeps_the_version() {
        let mut conn = Connection::open_in_memory().expect("open");
        let err = apply(&mut conn, &[CREATE_A, CREATE_B_THEN_FAIL], "test")
            .expect_err("migration 2 must fail");
        assert!(
            matches!(&err, StoreError::Database(m) if m.contains("migration 2")),
            "{err}"
        );
        assert_eq!(user_version(&conn).expect("version"), 1);
        assert_eq!(tables(&conn), ["a"]);
    }

    #[test]
    fn database_from_a_newer_devflow_is_refused_with_both_versions_named() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", 7)
            .expect("set version");
        let err = apply(&mut conn, &[CREATE_A], "state.sqlite3").expect_err("must refuse");
        let StoreError::Database(message) = &err else {
            panic!("expected Database, got {err:?}");
        };
        assert!(
            message.contains("state.sqlite3 has schema version 7"),
            "{message}"
        );
        assert!(message.contains("up to 1"), "{message}");
        assert!(
            tables(&conn).is_empty(),
            "nothing may be applied to a newer schema"
        );
    }
}

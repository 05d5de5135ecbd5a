//! [`SqliteStore`] through the [`Store`] trait: the conformance suite
//! (`devflow_store::conformance`) on a database file and on the in-memory database, then what
//! only SQLite has — the file's directories, its write-ahead log, and a schema from a newer
//! devflow.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use devflow_store::conformance::{self, Backend, Storage};
use devflow_store::{SqliteStore, Store, StoreError};

/// A database file; each [`Storage::open`] opens it again (another connection, as a second
/// daemon process or a restart would).
struct SqliteFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SqliteFile {
    /// A file at `relative` inside a new temporary directory, not created yet.
    fn at(relative: &str) -> SqliteFile {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(relative);
        SqliteFile { _dir: dir, path }
    }
}

#[async_trait]
impl Storage for SqliteFile {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.path).expect("open the database"))
    }
}

struct Files;

#[async_trait]
impl Backend for Files {
    async fn fresh(&self) -> Box<dyn Storage> {
        Box::new(SqliteFile::at("devflow.sqlite3"))
    }
}

/// The in-memory database cannot be opened twice, so every "instance" is the same store: the
/// cases with two instances then race within one.
struct InMemory(Arc<SqliteStore>);

#[async_trait]
impl Storage for InMemory {
    async fn open(&self) -> Arc<dyn Store> {
        self.0.clone()
    }
}

struct Memory;

#[async_trait]
impl Backend for Memory {
    async fn fresh(&self) -> Box<dyn Storage> {
        let store = SqliteStore::open_in_memory().expect("open in memory");
        Box::new(InMemory(Arc::new(store)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_file_passes_the_conformance_suite() {
    conformance::run_all(&Files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_in_memory_database_passes_the_conformance_suite() {
    conformance::run_all(&Memory).await;
}

#[tokio::test]
async fn reopening_the_file_finds_every_write_and_continues_the_seqs() {
    // The directories do not exist yet: opening creates them.
    let file = SqliteFile::at("state/nested/devflow.sqlite3");
    conformance::a_second_instance_finds_every_write_and_continues_the_seqs(&file).await;
    assert!(file.path.is_file(), "{}", file.path.display());
}

#[tokio::test]
async fn the_file_uses_the_write_ahead_log() {
    let file = SqliteFile::at("devflow.sqlite3");
    let _store = file.open().await;
    let conn = rusqlite::Connection::open(&file.path).expect("open");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
}

#[test]
fn a_database_written_by_a_newer_devflow_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("devflow.sqlite3");
    drop(SqliteStore::open(&path).expect("create"));
    {
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        conn.pragma_update(None, "user_version", 999)
            .expect("bump version");
    }
    let err = SqliteStore::open(&path).expect_err("must refuse");
    let StoreError::Database(message) = &err else {
        panic!("expected Database, got {err:?}");
    };
    assert!(message.contains("schema version 999"), "{message}");
    assert!(message.contains("newer devflow"), "{message}");
}

//! The conformance suite on the embedded [`SqliteStore`]: the anchor that shows the suite
//! asks only what the existing store already does.

mod conformance;

use std::sync::Arc;

use async_trait::async_trait;
use conformance::{Backend, Storage};
use devflow_store::{SqliteStore, Store};

struct SqliteFile {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

#[async_trait]
impl Storage for SqliteFile {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.path).expect("open the database"))
    }
}

struct Sqlite;

#[async_trait]
impl Backend for Sqlite {
    async fn fresh(&self) -> Box<dyn Storage> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("devflow.sqlite3");
        Box::new(SqliteFile { _dir: dir, path })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_passes_the_conformance_suite() {
    conformance::run_all(&Sqlite).await;
}

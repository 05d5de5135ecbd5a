//! [`DynamoStore`] against moto's server mode with the real SDK client: the store's
//! conformance suite (`devflow_store::conformance`, each case on its own set of tables), then
//! what only DynamoDB has — `init_tables` twice, the errors a person sees for a missing table
//! or refused access, and the fleet's daemon registry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use devflow_store::conformance::{self, fixtures, Backend, Storage};
use devflow_store::{Store, StoreError};
use devflow_store_dynamodb::{DaemonRecord, DynamoOptions, DynamoStore, TableInit};
use devflow_tests::moto::{self, Moto};

fn options(moto: &Moto, prefix: &str) -> DynamoOptions {
    DynamoOptions {
        table_prefix: prefix.into(),
        endpoint: Some(moto.endpoint.clone()),
        region: Some(moto::REGION.into()),
        credentials: Some((moto::ACCESS_KEY_ID.into(), moto::SECRET_ACCESS_KEY.into())),
        ..DynamoOptions::default()
    }
}

struct Tables {
    options: DynamoOptions,
}

#[async_trait]
impl Storage for Tables {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(DynamoStore::connect(self.options.clone()).await)
    }

    /// 400 appends in all: enough interleaving to lose a race, few enough for moto.
    fn appends_per_writer(&self) -> usize {
        50
    }
}

/// Each case gets its own table prefix on one moto server.
struct OnMoto<'a> {
    moto: &'a Moto,
    cases: AtomicUsize,
}

#[async_trait]
impl Backend for OnMoto<'_> {
    async fn fresh(&self) -> Box<dyn Storage> {
        let case = self.cases.fetch_add(1, Ordering::Relaxed);
        let options = options(self.moto, &format!("case{case}-"));
        let store = DynamoStore::connect(options.clone()).await;
        store.init_tables().await.expect("create the tables");
        Box::new(Tables { options })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_store_passes_the_conformance_suite() {
    let moto = Moto::start();
    conformance::run_all(&OnMoto {
        moto: &moto,
        cases: AtomicUsize::new(0),
    })
    .await;
}

#[tokio::test]
async fn init_creates_every_table_once_with_ttl_on_sessions() {
    let moto = Moto::start();
    let store = DynamoStore::connect(options(&moto, "fleet-")).await;
    let first = store.init_tables().await.expect("first init");
    assert_eq!(first.len(), 8);
    assert!(
        first
            .iter()
            .all(|(_, outcome)| *outcome == TableInit::Created),
        "{first:?}"
    );
    assert!(
        first.iter().all(|(table, _)| table.starts_with("fleet-")),
        "{first:?}"
    );
    let second = store.init_tables().await.expect("second init");
    assert!(
        second
            .iter()
            .all(|(_, outcome)| *outcome == TableInit::Exists),
        "{second:?}"
    );

    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name("fleet-sessions")
        .send()
        .await
        .expect("describe TTL");
    let description = ttl.time_to_live_description().expect("a TTL description");
    assert_eq!(description.attribute_name(), Some("ttl"));
    assert_eq!(
        description.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED")
    );
    let daemons = store
        .client()
        .describe_table()
        .table_name("fleet-daemons")
        .send()
        .await
        .expect("describe daemons");
    let key: Vec<&str> = daemons
        .table()
        .map(|t| t.key_schema().iter().map(|k| k.attribute_name()).collect())
        .unwrap_or_default();
    assert_eq!(key, ["daemonId"], "the registry is keyed by daemon");
    let billing = store
        .client()
        .describe_table()
        .table_name("fleet-events")
        .send()
        .await
        .expect("describe table");
    assert_eq!(
        billing
            .table()
            .and_then(|t| t.billing_mode_summary())
            .and_then(|b| b.billing_mode())
            .map(|m| m.as_str()),
        Some("PAY_PER_REQUEST")
    );
    store.check_tables().await.expect("every table is there");
}

#[tokio::test]
async fn a_missing_table_is_named_with_the_command_that_creates_it() {
    let moto = Moto::start();
    let store = DynamoStore::connect(options(&moto, "never-made-")).await;
    let error = store.check_tables().await.expect_err("no tables");
    let StoreError::Database(message) = &error else {
        panic!("expected Database, got {error:?}");
    };
    assert!(message.contains("never-made-sessions"), "{message}");
    assert!(message.contains("devflow aws init"), "{message}");
    let error = store
        .append_event(fixtures::log_event("s", "hello"))
        .await
        .expect_err("no events table");
    assert!(error.to_string().contains("never-made-events"), "{error}");
}

#[tokio::test]
async fn refused_access_names_the_action_and_the_table() {
    // IAM checks start after the three calls that make the user.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:DescribeTable"],"Resource":"*"}]}"#;
    let (id, secret) = moto.create_user_with_policy("reader", policy).await;
    let store = DynamoStore::connect(DynamoOptions {
        credentials: Some((id, secret)),
        ..options(&moto, "locked-")
    })
    .await;
    let error = store
        .get_session("s")
        .await
        .expect_err("GetItem is not allowed");
    let message = error.to_string();
    assert!(message.contains("dynamodb:GetItem"), "{message}");
    assert!(message.contains("locked-sessions"), "{message}");
}

#[tokio::test]
async fn the_daemon_registry_lists_renews_and_removes_only_lapsed_daemons() {
    let moto = Moto::start();
    let store = DynamoStore::connect(options(&moto, "reg-")).await;
    store.init_tables().await.expect("init");
    let record = |id: &str, expires_at: i64| DaemonRecord {
        daemon_id: id.into(),
        queue_url: format!("http://queue/{id}"),
        expires_at,
    };
    store
        .register_daemon(&record("a", 10_000))
        .await
        .expect("a");
    store
        .register_daemon(&record("b", 20_000))
        .await
        .expect("b");
    store
        .register_daemon(&record("a", 30_000))
        .await
        .expect("renew a");
    assert_eq!(
        store.list_daemons().await.expect("list"),
        [record("a", 30_000), record("b", 20_000)]
    );
    // A sweeper at 25 000 may remove b (lapsed) but not a (renewed); a second sweeper
    // finds nothing left to remove.
    assert!(!store
        .remove_daemon("a", Some(25_000))
        .await
        .expect("a live"));
    assert!(store
        .remove_daemon("b", Some(25_000))
        .await
        .expect("b lapsed"));
    assert!(!store
        .remove_daemon("b", Some(25_000))
        .await
        .expect("b gone"));
    assert!(store.remove_daemon("a", None).await.expect("own record"));
    assert_eq!(store.list_daemons().await.expect("list"), []);
}

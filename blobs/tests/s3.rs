//! `S3BlobStore` with the real SDK client against moto's S3 server: blobs round-trip, keys
//! list by prefix, presigned URLs work with plain unsigned HTTP (what a browser or curl
//! sends), large objects go up in parts and come back byte-identical, and each failure a
//! user can meet — missing bucket, refused or unknown credentials, missing permission,
//! unreachable endpoint — is its own error naming the bucket and what to do.

use std::time::Duration;

use devflow_blobs::{
    BlobError, BlobLocation, BlobStore, Bytes, KeyLayout, Place, S3BlobStore, S3Options,
};
use devflow_tests::moto::{self, Moto};

async fn store_for(moto: &Moto) -> S3BlobStore {
    store_with(moto, moto::ACCESS_KEY_ID, moto::SECRET_ACCESS_KEY).await
}

async fn store_with(moto: &Moto, id: &str, secret: &str) -> S3BlobStore {
    S3BlobStore::connect(S3Options {
        endpoint: Some(moto.endpoint.clone()),
        force_path_style: true,
        region: Some(moto::REGION.into()),
        credentials: Some((id.into(), secret.into())),
        ..S3Options::default()
    })
    .await
}

/// Bytes that are not all the same, so a shifted or repeated part would show.
fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_round_trip_and_list_by_session_prefix() {
    let moto = Moto::start();
    moto.create_bucket("team").await;
    let store = store_for(&moto).await;
    store.check_bucket("team").await.unwrap();
    let layout = KeyLayout::new(
        Place::new("team", "devflow/uploads"),
        Place::new("team", "devflow/session-artifacts"),
    );
    let diff = b"--- a/css/style.css\n+++ b/css/style.css\n@@ -1 +1 @@\n-a\n+b\n";
    let first = layout.patch_diff("s1", "p1");
    let second = layout.patch_diff("s1", "p2");
    assert!(!store.exists(&first).await.unwrap());
    store
        .put_bytes(&first, Bytes::from_static(diff), "text/x-diff")
        .await
        .unwrap();
    store
        .put_bytes(&second, Bytes::from_static(b"x"), "text/x-diff")
        .await
        .unwrap();
    store
        .put_bytes(
            &layout.patch_diff("s10", "p"),
            Bytes::from_static(b"y"),
            "text/x-diff",
        )
        .await
        .unwrap();
    assert_eq!(&store.get_bytes(&first).await.unwrap()[..], diff);
    assert_eq!(
        store.head(&first).await.unwrap().map(|b| b.size),
        Some(diff.len() as u64)
    );
    let listed: Vec<String> = store
        .list(&layout.session_artifacts("s1"))
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.location.key)
        .collect();
    assert_eq!(
        listed,
        [
            "devflow/session-artifacts/s1/patches/p1.diff",
            "devflow/session-artifacts/s1/patches/p2.diff"
        ]
    );
    assert_eq!(
        store
            .delete_prefix(&layout.session_artifacts("s1"))
            .await
            .unwrap(),
        2
    );
    assert!(!store.exists(&first).await.unwrap());
    assert!(store.exists(&layout.patch_diff("s10", "p")).await.unwrap());
    let missing = store.get_bytes(&first).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    store.delete(&first).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_urls_work_with_plain_unsigned_http() {
    let moto = Moto::start();
    moto.create_bucket("uploads").await;
    let store = store_for(&moto).await;
    let at = KeyLayout::seed_buckets().upload("s1");
    let put_url = store
        .presign_put(&at, Duration::from_secs(300))
        .await
        .unwrap();
    assert!(
        put_url.starts_with(&format!("{}/uploads/s1.zip?", moto.endpoint)),
        "path-style URL on the custom endpoint: {put_url}"
    );
    assert!(put_url.contains("X-Amz-Signature="), "{put_url}");
    let zip = pattern(300_000);
    let plain = reqwest::Client::new();
    let put = plain
        .put(&put_url)
        .header("content-type", "application/zip")
        .body(zip.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.status(),
        200,
        "{}",
        put.text().await.unwrap_or_default()
    );
    assert_eq!(&store.get_bytes(&at).await.unwrap()[..], &zip[..]);

    let get_url = store
        .presign_get(&at, Duration::from_secs(300))
        .await
        .unwrap();
    let got = plain.get(&get_url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), zip);

    let too_long = store
        .presign_get(&at, Duration::from_secs(8 * 24 * 3600))
        .await
        .unwrap_err();
    assert!(too_long.to_string().contains("7 days"), "{too_long}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_above_the_part_size_go_up_in_parts_and_come_back_whole() {
    let moto = Moto::start();
    moto.create_bucket("session-artifacts").await;
    let store = store_for(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    // 2.5 parts of 8 MiB: two full parts and a short last one.
    let bytes = pattern(20 * 1024 * 1024 + 12_345);
    let source = dir.path().join("snapshot.zip");
    std::fs::write(&source, &bytes).unwrap();
    let at = KeyLayout::seed_buckets().snapshot("s1", "initial.zip");
    let size = store
        .put_file(&at, &source, "application/zip")
        .await
        .unwrap();
    assert_eq!(size, bytes.len() as u64);
    let log = moto.log();
    assert!(
        log.contains("initial.zip?uploads ")
            && log.contains("partNumber=3&")
            && !log.contains("partNumber=4&"),
        "a multipart upload with three parts: {log}"
    );
    let copy = dir.path().join("copy.zip");
    assert_eq!(
        store.get_to_file(&at, &copy).await.unwrap(),
        bytes.len() as u64
    );
    assert!(std::fs::read(&copy).unwrap() == bytes, "byte-identical");

    // The same from memory.
    let from_memory = KeyLayout::seed_buckets().snapshot("s1", "memory.zip");
    store
        .put_bytes(&from_memory, Bytes::from(bytes.clone()), "application/zip")
        .await
        .unwrap();
    assert!(store.get_bytes(&from_memory).await.unwrap() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_named_with_the_fix() {
    let moto = Moto::start();
    let store = store_for(&moto).await;
    let expected = "S3 bucket 'nope' does not exist: create it or set s3Bucket / DEVFLOW_S3_BUCKET";
    let checked = store.check_bucket("nope").await.unwrap_err();
    assert!(
        matches!(checked, BlobError::BucketMissing { .. }),
        "{checked:?}"
    );
    assert_eq!(checked.to_string(), expected);
    let at = BlobLocation::new("nope", "s1.zip");
    let put = store
        .put_bytes(&at, Bytes::from_static(b"x"), "application/zip")
        .await
        .unwrap_err();
    assert_eq!(put.to_string(), expected);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("site.zip");
    let get = store.get_to_file(&at, &target).await.unwrap_err();
    assert_eq!(get.to_string(), expected);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a failed download leaves no file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_and_missing_permissions_say_which() {
    // IAM checks start after four calls: the bucket and the user's three IAM calls.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")]);
    moto.create_bucket("uploads").await;
    let read_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::uploads","arn:aws:s3:::uploads/*"]}]}"#;
    let (id, secret) = moto.create_user_with_policy("reader", read_only).await;
    let at = BlobLocation::new("uploads", "s1.zip");

    let unknown = store_with(&moto, "AKIAUNKNOWNUNKNOWN00", "wrong").await;
    let refused = unknown
        .put_bytes(&at, Bytes::from_static(b"x"), "application/zip")
        .await
        .unwrap_err();
    assert!(
        matches!(refused, BlobError::CredentialsRefused { .. }),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("AWS_ACCESS_KEY_ID"),
        "{refused}"
    );

    let reader = store_with(&moto, &id, &secret).await;
    let denied = reader
        .put_bytes(&at, Bytes::from_static(b"x"), "application/zip")
        .await
        .unwrap_err();
    assert!(
        matches!(denied, BlobError::AccessDenied { .. }),
        "{denied:?}"
    );
    let message = denied.to_string();
    assert!(
        message.contains("s3:PutObject") && message.contains("arn:aws:s3:::uploads/s1.zip"),
        "{message}"
    );
    // What the policy allows still works.
    assert!(!reader.exists(&at).await.unwrap());
    assert!(reader
        .list(&BlobLocation::new("uploads", ""))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let store = S3BlobStore::connect(S3Options {
        endpoint: Some(endpoint.clone()),
        force_path_style: true,
        region: Some(moto::REGION.into()),
        credentials: Some(("a".into(), "b".into())),
        max_attempts: 1,
        ..S3Options::default()
    })
    .await;
    let error = store.check_bucket("uploads").await.unwrap_err();
    assert!(matches!(error, BlobError::Unreachable { .. }), "{error:?}");
    assert!(error.to_string().contains(&endpoint), "{error}");
}

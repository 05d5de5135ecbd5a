//! The page as it renders now goes to models that take images (issue 14): `devflow serve`
//! with Chromium, a running preview, a reference with a `home` screen, and Bedrock (a fake
//! Converse server) on Nova Lite sends the desktop screenshot — a 1280×800 PNG — as image 1
//! and the reference screen as image 2, and its message names both. That screenshot is the
//! look the patch's verification started from: the command's desktop "before" picture, byte
//! for byte. The same session on Nova Micro sends no image and says nothing of a screenshot.
//!
//! Needs Chromium like browser_verify.rs (`DEVFLOW_CHROME`, else `chromium` on `PATH`); fails
//! without one, unless `DEVFLOW_SKIP_BROWSER_TESTS=1`.

use devflow_tests::daemon::{get_with_token, TOKEN};
use devflow_tests::fake_models::{FakeConverse, Reply};
use devflow_tests::fixtures::copy_site;
use devflow_tests::screens::{chromium, reference_zip};
use devflow_tests::session::{instruct, running_session};
use devflow_tests::{Client, Daemon, RestClient};
use devflow_visual::Picture;
use serde_json::json;

const LITE: &str = "us.amazon.nova-lite-v1:0";
const MICRO: &str = "us.amazon.nova-micro-v1:0";

/// The text turns red.
const RED_DIFF: &str = "--- a/css/style.css\n+++ b/css/style.css\n@@ -13,7 +13,7 @@\n    ========================================================================== */\n \n html {\n-  color: #222;\n+  color: #c00000;\n   font-size: 1em;\n   line-height: 1.4;\n }\n";

/// After [`RED_DIFF`]: the text turns near-black.
const DARK_DIFF: &str = "--- a/css/style.css\n+++ b/css/style.css\n@@ -13,7 +13,7 @@\n    ========================================================================== */\n \n html {\n-  color: #c00000;\n+  color: #111;\n   font-size: 1em;\n   line-height: 1.4;\n }\n";

/// GET of a URL the daemon handed out, with the token.
async fn bytes_of(url: &str) -> Vec<u8> {
    let (status, _, bytes) = get_with_token(url).await;
    assert_eq!(status, 200, "{url}");
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nova_lite_sees_the_page_now_beside_the_reference_screen_and_micro_sees_neither() {
    if chromium().is_none() {
        return;
    }
    let fake = FakeConverse::start().await;
    fake.push_for(LITE, [Reply::proposal(&["css/style.css"], RED_DIFF)]);
    fake.push_for(MICRO, [Reply::proposal(&["css/style.css"], DARK_DIFF)]);
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("html5-boilerplate", temp.path());
    let mut env = fake.daemon_env();
    env.extend([
        ("DEVFLOW_PROPOSER", "bedrock"),
        ("DEVFLOW_BEDROCK_MODEL", LITE),
    ]);
    let daemon = Daemon::start_with(&temp.path().join("state"), &env);
    let mut client = RestClient::new(&daemon);
    let (session_id, _) = running_session(&mut client, &site).await;
    // A reference screen unlike the page: a flat indigo 1280×800.
    let screen = Picture::filled(1280, 800, [79, 70, 229, 255])
        .encode_png()
        .unwrap();
    let response = reqwest::Client::new()
        .put(format!(
            "{}/sessions/{session_id}/reference",
            daemon.base_url
        ))
        .bearer_auth(TOKEN)
        .header("content-type", "application/zip")
        .body(reference_zip(&screen))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    let command = instruct(&mut client, &session_id, "make the text red").await;
    assert_eq!(command["status"], "READY", "{command:#}");
    assert_eq!(command["verification"]["mode"], "browser", "{command:#}");
    let sent = fake.requests_for(LITE);
    assert_eq!(sent.len(), 1);
    let sent = &sent[0];
    assert!(sent.problems.is_empty(), "{:?}", sent.problems);
    let images = sent.image_bytes();
    assert_eq!(images.len(), 2, "the page now and the home screen");
    assert_eq!(images[0].0, "png");
    let page_now = Picture::decode_png(&images[0].1).expect("image 1 is a PNG");
    assert_eq!((page_now.width(), page_now.height()), (1280, 800));
    assert_eq!(
        images[1],
        ("png".to_string(), screen.clone()),
        "image 2 is the screen"
    );
    let text = sent.user_text();
    assert!(
        text.contains("# The page now\nImage 1: a screenshot of the page / as it renders now, before your change (desktop viewport, 1280×800).\n"),
        "{text}"
    );
    assert!(text.contains("- home (image/png): image 2\n"), "{text}");
    // The model saw the page the patch's verification compared with.
    let desktop = command["screenshots"]
        .as_array()
        .and_then(|shots| shots.iter().find(|s| s["viewport"] == "desktop"))
        .unwrap_or_else(|| panic!("no desktop screenshots: {command:#}"));
    let before = bytes_of(desktop["before"].as_str().unwrap()).await;
    assert!(
        before == images[0].1,
        "the desktop before picture ({} bytes) is the screenshot the model got ({} bytes)",
        before.len(),
        images[0].1.len()
    );

    client
        .call(
            "session/updateSettings",
            json!({"sessionId": session_id, "model": MICRO}),
        )
        .await
        .unwrap();
    let command = instruct(&mut client, &session_id, "make the text darker").await;
    assert_eq!(command["status"], "READY", "{command:#}");
    let sent = fake.requests_for(MICRO);
    assert_eq!(sent.len(), 1);
    let sent = &sent[0];
    assert!(sent.problems.is_empty(), "{:?}", sent.problems);
    assert!(sent.images().is_empty(), "Micro is text only");
    let text = sent.user_text();
    assert!(!text.contains("screenshot"), "{text}");
    assert!(
        text.contains("- home (image/png): not attached\n"),
        "{text}"
    );
}

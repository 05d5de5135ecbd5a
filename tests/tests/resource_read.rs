//! `resource/read` over the real `devflow lsp` (what an editor's webview uses, having no HTTP
//! route to the daemon): reference screens and a command's screenshots and difference
//! images come back byte-equal to what `devflow serve`'s HTTP routes serve for the same
//! URLs on the same state dir; a URL that is not one of those routes, a missing resource
//! and a screen over the size cap are refused with the seed-004 error object.
//!
//! The screenshot test needs Chromium (`DEVFLOW_CHROME`, else `chromium` on `PATH`), unless
//! `DEVFLOW_SKIP_BROWSER_TESTS=1`, like browser_verify.rs.

use std::io::Write as _;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use devflow_tests::client::LspClient;
use devflow_tests::daemon::{get_with_token, TOKEN};
use devflow_tests::fixtures::{copy_site, fixtures_dir};
use devflow_tests::session::{apply_diff, create_dir_session, running_session};
use devflow_tests::{Client, Daemon, WsClient};
use devflow_visual::Picture;
use serde_json::{json, Value};

/// The text turns red (the same change browser_verify.rs makes visible).
const VISIBLE_CSS_DIFF: &str = "--- a/css/style.css\n+++ b/css/style.css\n@@ -13,7 +13,7 @@\n    ========================================================================== */\n \n html {\n-  color: #222;\n+  color: #c00000;\n   font-size: 1em;\n   line-height: 1.4;\n }\n";

/// One past the cap `resource/read` keeps to (`MAX_RESOURCE_BYTES`, 16 MiB).
const OVER_CAP: usize = 16 * 1024 * 1024 + 1;

fn small_png() -> Vec<u8> {
    let mut picture = Picture::filled(64, 40, [255, 255, 255, 255]);
    picture.fill_rect(8, 8, 30, 12, [79, 70, 229, 255]);
    picture.encode_png().expect("a PNG")
}

/// A PNG signature, then zeros: accepted as a screen, larger than the cap, tiny deflated.
fn oversized_png() -> Vec<u8> {
    let mut bytes = vec![0u8; OVER_CAP];
    bytes[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
    bytes
}

const HTML_SCREEN: &str = "<!doctype html><html><head><style>h1{color:#4f46e5}</style></head><body><h1 style=\"margin:0\">理想のページ</h1></body></html>";

/// Tokens plus three screens: `home` (PNG), `pages/about us` (HTML, a name with a slash
/// and a space) and `huge` (PNG, over the cap).
fn reference_zip(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("reference.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("tokens.json", options).unwrap();
    zip.write_all(&std::fs::read(fixtures_dir().join("tokens/dtcg-small/tokens.json")).unwrap())
        .unwrap();
    zip.start_file("screens/home.png", options).unwrap();
    zip.write_all(&small_png()).unwrap();
    zip.start_file("screens/pages/about us.html", options)
        .unwrap();
    zip.write_all(HTML_SCREEN.as_bytes()).unwrap();
    zip.start_file("screens/huge.png", options).unwrap();
    zip.write_all(&oversized_png()).unwrap();
    zip.finish().unwrap();
    path
}

/// `resource/read` of `url`: the media type and the decoded bytes.
async fn read(client: &mut impl Client, url: &str) -> (String, Vec<u8>) {
    let content = client
        .call("resource/read", json!({ "url": url }))
        .await
        .unwrap_or_else(|e| panic!("resource/read {url}: {e:?}"));
    let bytes = STANDARD
        .decode(content["base64"].as_str().expect("base64"))
        .expect("standard base64");
    (
        content["mediaType"]
            .as_str()
            .expect("mediaType")
            .to_string(),
        bytes,
    )
}

/// A refused `resource/read`: the JSON-RPC code and the seed-004 object.
async fn refused(client: &mut impl Client, params: Value) -> (i64, Value) {
    let error = client
        .call("resource/read", params.clone())
        .await
        .expect_err(&format!("resource/read {params} should be refused"));
    assert!(
        error.body["requestId"].is_string() && error.body["message"].is_string(),
        "the seed-004 error object: {}",
        error.body
    );
    (error.status, error.body)
}

/// GET of a path or URL from `serve`, with the token: the status, content type and bytes.
async fn http_get(daemon: &Daemon, url: &str) -> (u16, String, Vec<u8>) {
    let url = if url.starts_with('/') {
        format!("{}{url}", daemon.base_url)
    } else {
        url.to_string()
    };
    get_with_token(&url).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_screens_read_over_lsp_are_the_bytes_the_http_route_serves() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let zip = reference_zip(temp.path());
    let state = temp.path().join("state");

    let mut lsp = LspClient::start(&state).await;
    let sid = create_dir_session(&mut lsp, &site).await;
    let reference = lsp
        .call("reference/set", json!({ "sessionId": sid, "path": zip }))
        .await
        .expect("reference/set");
    let url_of = |name: &str| -> String {
        reference["screens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no screen {name} in {reference}"))["url"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (home_url, about_url, huge_url) =
        (url_of("home"), url_of("pages/about us"), url_of("huge"));
    // Under `devflow lsp` there is no HTTP server: the URLs are the routes' paths.
    assert_eq!(home_url, format!("/sessions/{sid}/reference/screens/home"));

    let (home_type, home) = read(&mut lsp, &home_url).await;
    assert_eq!(home_type, "image/png");
    assert_eq!(home, small_png(), "the screen as it was in the zip");
    let (about_type, about) = read(&mut lsp, &about_url).await;
    assert_eq!(about_type, "text/html");
    assert_eq!(String::from_utf8(about.clone()).unwrap(), HTML_SCREEN);

    // Refusals, each with the seed-004 object in the JSON-RPC error's data.
    let (code, body) = refused(&mut lsp, json!({ "url": "file:///etc/passwd" })).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (-32602, Some("VALIDATION_ERROR"))
    );
    assert_eq!(body["details"]["field"], "url");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("/reference/screens/"),
        "{body}"
    );
    let (code, body) = refused(&mut lsp, json!({ "url": format!("/sessions/{sid}/logs") })).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (-32602, Some("VALIDATION_ERROR"))
    );
    let (code, body) = refused(&mut lsp, json!({})).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (-32602, Some("VALIDATION_ERROR")),
        "{body}"
    );
    let (code, body) = refused(
        &mut lsp,
        json!({ "url": format!("/sessions/{sid}/reference/screens/nowhere") }),
    )
    .await;
    assert_eq!((code, body["error"].as_str()), (-32004, Some("NOT_FOUND")));
    assert!(
        body["message"].as_str().unwrap().contains("nowhere"),
        "{body}"
    );
    let (code, body) = refused(
        &mut lsp,
        json!({ "url": "/sessions/no-such-session/reference/screens/home" }),
    )
    .await;
    assert_eq!((code, body["error"].as_str()), (-32004, Some("NOT_FOUND")));
    let (code, body) = refused(
        &mut lsp,
        json!({ "url": format!("/sessions/{sid}/screenshots/no-such-command/desktop-after-1.png") }),
    )
    .await;
    assert_eq!((code, body["error"].as_str()), (-32004, Some("NOT_FOUND")));
    let (code, body) = refused(
        &mut lsp,
        json!({ "url": format!("/sessions/{sid}/screenshots/c/..%2F..%2Ftoken") }),
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (-32602, Some("VALIDATION_ERROR"))
    );
    let (code, body) = refused(&mut lsp, json!({ "url": huge_url })).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (-32013, Some("PAYLOAD_TOO_LARGE"))
    );
    assert!(
        body["message"].as_str().unwrap().contains("16 MiB"),
        "{body}"
    );

    assert_eq!(lsp.shutdown().await.code(), Some(0));

    // The same state dir under `devflow serve`: the HTTP routes serve the same bytes for
    // the same paths, and the huge screen (the cap is only resource/read's).
    let daemon = Daemon::start(&state);
    for (url, bytes, media_type) in [
        (&home_url, &home, "image/png"),
        (&about_url, &about, "text/html"),
    ] {
        let (status, content_type, served) = http_get(&daemon, url).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(content_type, media_type, "{url}");
        assert!(served == *bytes, "{url}: resource/read and HTTP differ");
    }
    let (status, _, served) = http_get(&daemon, &huge_url).await;
    assert_eq!((status, served.len()), (200, OVER_CAP));

    // Over WebSocket (the same dispatcher), with the absolute URL `serve` hands out and the
    // browser's token in the query.
    let mut ws = WsClient::connect(&daemon).await;
    let served = ws
        .call("reference/get", json!({ "sessionId": sid }))
        .await
        .expect("reference/get");
    let absolute = served["screens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "home")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(absolute, format!("{}{home_url}", daemon.base_url));
    let (_, over_ws) = read(&mut ws, &format!("{absolute}?token={TOKEN}")).await;
    assert!(over_ws == home, "resource/read over WebSocket differs");
}

/// The Chromium the daemon uses; `None` only with `DEVFLOW_SKIP_BROWSER_TESTS=1`.
fn has_chromium() -> bool {
    if std::env::var("DEVFLOW_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
        eprintln!("DEVFLOW_SKIP_BROWSER_TESTS=1: not running the browser test");
        return false;
    }
    devflow_browser::Browser::find().expect(
        "no Chromium found (DEVFLOW_CHROME, or chromium on PATH); install Debian's chromium",
    );
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_read_over_lsp_are_the_pngs_the_http_route_serves() {
    if !has_chromium() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("html5-boilerplate", temp.path());
    let state = temp.path().join("state");

    let mut lsp = LspClient::start(&state).await;
    let (sid, _) = running_session(&mut lsp, &site).await;
    let command = apply_diff(&mut lsp, &sid, VISIBLE_CSS_DIFF).await;
    let command_id = command["commandId"]
        .as_str()
        .expect("commandId")
        .to_string();
    assert_eq!(command["status"], "READY", "{command}");
    let shots = command["screenshots"].as_array().expect("screenshots");
    assert!(
        !shots.is_empty(),
        "a verified command has pictures: {command}"
    );

    let mut pictures = Vec::new();
    for shot in shots {
        for kind in ["before", "after", "diff"] {
            let url = shot[kind].as_str().expect("a picture URL").to_string();
            assert!(
                url.starts_with(&format!("/sessions/{sid}/screenshots/{command_id}/")),
                "{url}"
            );
            let (media_type, png) = read(&mut lsp, &url).await;
            assert_eq!(media_type, "image/png");
            let picture = Picture::decode_png(&png).unwrap_or_else(|e| panic!("{url}: {e}"));
            if kind != "diff" {
                assert_eq!(
                    (u64::from(picture.width()), u64::from(picture.height())),
                    (
                        shot["width"].as_u64().unwrap(),
                        shot["height"].as_u64().unwrap()
                    ),
                    "{url}"
                );
            }
            pictures.push((url, png));
        }
    }
    let (code, body) = refused(
        &mut lsp,
        json!({ "url": format!("/sessions/{sid}/screenshots/{command_id}/desktop-after-9.png") }),
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (-32602, Some("VALIDATION_ERROR"))
    );
    let (code, body) = refused(
        &mut lsp,
        json!({ "url": format!("/sessions/{sid}/screenshots/{command_id}/desktop-after-2.png") }),
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (-32004, Some("NOT_FOUND")),
        "no second attempt"
    );
    assert_eq!(lsp.shutdown().await.code(), Some(0));

    let daemon = Daemon::start(&state);
    for (url, png) in &pictures {
        let (status, content_type, served) = http_get(&daemon, url).await;
        assert_eq!((status, content_type.as_str()), (200, "image/png"), "{url}");
        assert!(served == *png, "{url}: resource/read and HTTP differ");
    }
}

//! Reference bundles and rendered screens for the tests that compare pages with a reference:
//! the Chromium they use ([`chromium`]), a page rendered the way a designer's screen would be
//! drawn ([`render`]), a reference zip of the fixture tokens and one PNG screen
//! ([`reference_zip`]), and a reference given to a session ([`put_reference`]).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use devflow_browser::{Browser, CheckOptions, LaunchOptions, Viewport};

use crate::daemon::{Daemon, TOKEN};
use crate::fixtures::fixtures_dir;

/// The Chromium the daemon and the browser tests use; `None` only with
/// `DEVFLOW_SKIP_BROWSER_TESTS=1` (the test then returns early, saying so). Without that
/// variable a missing Chromium fails the test: the project's scripts install Debian's.
pub fn chromium() -> Option<PathBuf> {
    if std::env::var("DEVFLOW_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
        eprintln!("DEVFLOW_SKIP_BROWSER_TESTS=1: not running the browser test");
        return None;
    }
    Some(Browser::find().expect(
        "no Chromium found (DEVFLOW_CHROME, or chromium on PATH); install Debian's chromium",
    ))
}

/// Renders `url` at the desktop viewport in a Chromium of its own, as a reference screen
/// would be drawn; the PNG.
pub async fn render(chromium: &Path, url: &str) -> Vec<u8> {
    let browser = Browser::launch(chromium, LaunchOptions::default())
        .await
        .expect("Chromium starts");
    let check = browser
        .check_page(
            url,
            &CheckOptions {
                viewport: Viewport::DESKTOP,
                watch: Duration::from_millis(500),
                screenshot: true,
                timeout: Duration::from_secs(30),
            },
        )
        .await
        .expect("the page renders");
    check.screenshot.expect("a screenshot")
}

/// The fixture DTCG tokens (`tokens/dtcg-small/tokens.json`).
pub fn fixture_tokens() -> Vec<u8> {
    std::fs::read(fixtures_dir().join("tokens/dtcg-small/tokens.json")).expect("the fixture tokens")
}

/// A reference zip: the fixture tokens as `tokens.json` and `screen_png` as
/// `screens/home.png`.
pub fn reference_zip(screen_png: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(&mut bytes));
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("tokens.json", options).expect("a zip entry");
        zip.write_all(&fixture_tokens()).expect("zip bytes");
        zip.start_file("screens/home.png", options)
            .expect("a zip entry");
        zip.write_all(screen_png).expect("zip bytes");
        zip.finish().expect("a zip");
    }
    bytes
}

/// `PUT /sessions/{id}/reference` with `body` as `content_type` (tokens JSON or a zip): the
/// status and the JSON answer (the reference, or the error).
pub async fn put_reference(
    daemon: &Daemon,
    session_id: &str,
    body: Vec<u8>,
    content_type: &str,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .put(format!(
            "{}/sessions/{session_id}/reference",
            daemon.base_url
        ))
        .bearer_auth(TOKEN)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

//! Verification in a real browser, screenshots and visual fidelity, through the real daemon
//! and Debian's Chromium: a patch that throws a JavaScript error or empties the page FAILS,
//! rolled back to the byte, with the error quoted; without a browser the same patch is
//! READY and the Command says the check was HTTP-only; every verified command has
//! before/after/difference PNGs at 1280×800 and 390×844 with a changed share that is > 0
//! for a visible change and 0 for an invisible one; and a reference screen rendered from an
//! edited copy of a fixture site gives the command a fidelity before and after.
//!
//! These tests need Chromium (`DEVFLOW_CHROME`, else `chromium` on `PATH`); like
//! devflow-browser's own tests they fail without one, unless `DEVFLOW_SKIP_BROWSER_TESTS=1`.

use std::path::PathBuf;
use std::time::Duration;

use devflow_tests::daemon::{get_with_token, TOKEN};
use devflow_tests::fixtures::{copy_site, tree_sha256};
use devflow_tests::screens::{chromium, fixture_tokens, put_reference, reference_zip, render};
use devflow_tests::session::{apply_diff, instruct, running_session, use_builtin_proposer};
use devflow_tests::{Client, Daemon, RestClient};
use devflow_visual::Picture;
use serde_json::{json, Value};

/// An inline script that throws while the page loads.
const SCRIPT_ERROR_DIFF: &str = "--- a/index.html\n+++ b/index.html\n@@ -27,3 +27,4 @@\n   <!-- Add your site or application content here -->\n   <p>Hello world! This is HTML5 Boilerplate.</p>\n+  <script>throw new Error(\"devflow-test-boom\")</script>\n   <script src=\"js/app.js\"></script>\n";

/// The page's only visible content goes: the body keeps nothing that paints.
const EMPTY_BODY_DIFF: &str = "--- a/index.html\n+++ b/index.html\n@@ -26,5 +26,4 @@\n \n   <!-- Add your site or application content here -->\n-  <p>Hello world! This is HTML5 Boilerplate.</p>\n   <script src=\"js/app.js\"></script>\n \n";

/// The text turns red.
const VISIBLE_CSS_DIFF: &str = "--- a/css/style.css\n+++ b/css/style.css\n@@ -13,7 +13,7 @@\n    ========================================================================== */\n \n html {\n-  color: #222;\n+  color: #c00000;\n   font-size: 1em;\n   line-height: 1.4;\n }\n";

/// A comment: nothing on the page changes.
const INVISIBLE_CSS_DIFF: &str = "--- a/css/style.css\n+++ b/css/style.css\n@@ -13,7 +13,8 @@\n    ========================================================================== */\n \n html {\n+  /* devflow: a comment changes nothing on the page */\n   color: #222;\n   font-size: 1em;\n   line-height: 1.4;\n }\n";

struct Setup {
    _temp: tempfile::TempDir,
    daemon: Daemon,
    client: RestClient,
    site: PathBuf,
    session_id: String,
}

/// A running folder session on a copy of `site_name`, with the daemon's `env`.
async fn setup(site_name: &str, env: &[(&str, &str)]) -> Setup {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site(site_name, temp.path());
    let daemon = Daemon::start_with(&temp.path().join("state"), env);
    let mut client = RestClient::new(&daemon);
    let (session_id, _) = running_session(&mut client, &site).await;
    Setup {
        _temp: temp,
        daemon,
        client,
        site,
        session_id,
    }
}

impl Setup {
    /// `patch/apply` of `diff`, waited on until final.
    async fn apply(&mut self, diff: &str) -> Value {
        apply_diff(&mut self.client, &self.session_id, diff).await
    }

    async fn instruct(&mut self, instruction: &str) -> Value {
        instruct(&mut self.client, &self.session_id, instruction).await
    }

    /// GET of a URL the daemon handed out, with the token.
    async fn picture(&self, url: &str) -> Picture {
        let (status, content_type, bytes) = get_with_token(url).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(content_type, "image/png");
        Picture::decode_png(&bytes).unwrap_or_else(|e| panic!("{url} is not a PNG: {e}"))
    }

    /// Checks the command's screenshots: one per viewport at its size, each URL a PNG of
    /// that size; returns viewport → changedShare.
    async fn screenshots(&self, command: &Value) -> Vec<(String, f64)> {
        let shots = command["screenshots"].as_array().expect("screenshots");
        let sizes: Vec<(&str, u64, u64)> = shots
            .iter()
            .map(|s| {
                (
                    s["viewport"].as_str().unwrap(),
                    s["width"].as_u64().unwrap(),
                    s["height"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            sizes,
            [("desktop", 1280, 800), ("mobile", 390, 844)],
            "{command:#}"
        );
        let mut shares = Vec::new();
        for shot in shots {
            for kind in ["before", "after", "diff"] {
                let url = shot[kind].as_str().unwrap();
                assert!(
                    url.starts_with(&format!(
                        "{}/sessions/{}/screenshots/",
                        self.daemon.base_url, self.session_id
                    )),
                    "{url}"
                );
                let picture = self.picture(url).await;
                assert_eq!(
                    (u64::from(picture.width()), u64::from(picture.height())),
                    (
                        shot["width"].as_u64().unwrap(),
                        shot["height"].as_u64().unwrap()
                    ),
                    "{kind} of {}",
                    shot["viewport"]
                );
            }
            shares.push((
                shot["viewport"].as_str().unwrap().to_string(),
                shot["changedShare"].as_f64().unwrap(),
            ));
        }
        shares
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_error_or_an_empty_page_fails_and_is_rolled_back_to_the_byte() {
    if chromium().is_none() {
        return;
    }
    let mut setup = setup("html5-boilerplate", &[]).await;
    let original = tree_sha256(&setup.site);

    let command = setup.apply(SCRIPT_ERROR_DIFF).await;
    assert_eq!(command["status"], "FAILED", "{command:#}");
    let summary = command["errorSummary"].as_str().unwrap();
    eprintln!("script error: {summary}");
    assert!(
        summary.contains("uncaught exception") && summary.contains("devflow-test-boom"),
        "the error is quoted: {summary}"
    );
    assert_eq!(command["verification"]["mode"], "browser", "{command:#}");
    let problems = command["verification"]["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().unwrap().contains("Error: devflow-test-boom")),
        "{problems:?}"
    );
    assert_eq!(
        tree_sha256(&setup.site),
        original,
        "rolled back to the byte"
    );
    let patch_id = command["patchId"].as_str();
    assert!(patch_id.is_none(), "no patch stays applied: {command:#}");

    let command = setup.apply(EMPTY_BODY_DIFF).await;
    assert_eq!(command["status"], "FAILED", "{command:#}");
    let summary = command["errorSummary"].as_str().unwrap();
    eprintln!("empty body: {summary}");
    assert!(summary.contains("blank"), "{summary}");
    assert_eq!(
        command["verification"]["problems"],
        json!(["the page is blank"]),
        "{command:#}"
    );
    assert_eq!(
        tree_sha256(&setup.site),
        original,
        "rolled back to the byte"
    );
    // The failed command keeps its pictures: the blank page is what the after shows.
    let shares = setup.screenshots(&command).await;
    assert!(shares.iter().all(|(_, share)| *share > 0.0), "{shares:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_browser_the_same_patch_is_ready_and_the_check_says_http_only() {
    if chromium().is_none() {
        return;
    }
    for (env, note) in [
        (
            ("DEVFLOW_CHROME", "/nonexistent/chromium"),
            "/nonexistent/chromium",
        ),
        (("DEVFLOW_BROWSER_VERIFY", "false"), "browserVerify"),
    ] {
        let mut setup = setup("html5-boilerplate", &[env]).await;
        let command = setup.apply(SCRIPT_ERROR_DIFF).await;
        assert_eq!(command["status"], "READY", "{env:?}: {command:#}");
        assert_eq!(command["verification"]["mode"], "http", "{command:#}");
        assert_eq!(command["verification"]["problems"], json!([]));
        let said = command["verification"]["note"].as_str().unwrap();
        assert!(said.contains(note), "{env:?}: {said}");
        assert_eq!(command["screenshots"], json!([]), "no browser, no pictures");
        let page = std::fs::read_to_string(setup.site.join("index.html")).unwrap();
        assert!(
            page.contains("devflow-test-boom"),
            "the patch stays applied"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verified_command_has_pictures_and_only_a_visible_change_changes_pixels() {
    if chromium().is_none() {
        return;
    }
    let mut setup = setup("html5-boilerplate", &[]).await;

    let visible = setup.apply(VISIBLE_CSS_DIFF).await;
    assert_eq!(visible["status"], "READY", "{visible:#}");
    assert_eq!(visible["verification"]["mode"], "browser");
    assert_eq!(visible["verification"]["problems"], json!([]));
    let shares = setup.screenshots(&visible).await;
    for (viewport, share) in &shares {
        assert!(*share > 0.0, "red text changes pixels at {viewport}");
        assert!(*share < 0.5, "only the text changed at {viewport}: {share}");
    }

    let invisible = setup.apply(INVISIBLE_CSS_DIFF).await;
    assert_eq!(invisible["status"], "READY", "{invisible:#}");
    let shares = setup.screenshots(&invisible).await;
    assert_eq!(
        shares,
        [("desktop".to_string(), 0.0), ("mobile".to_string(), 0.0)],
        "a comment changes no pixel"
    );

    // The route serves only the pictures of a real command, and only with the token.
    let url = invisible["screenshots"][0]["after"].as_str().unwrap();
    let status = reqwest::get(url).await.unwrap().status();
    assert_eq!(status, 401, "no token");
    let other_command = url.replace(
        invisible["commandId"].as_str().unwrap(),
        visible["commandId"].as_str().unwrap(),
    );
    assert_eq!(
        setup.picture(&other_command).await.width(),
        1280,
        "the visible change's own picture"
    );
    for bad in [
        url.replace("desktop-after-1.png", "desktop-after-9.png"),
        url.replace("desktop-after-1.png", "..%2F..%2Fpatches"),
        url.replace(invisible["commandId"].as_str().unwrap(), "not-a-command"),
    ] {
        let response = reqwest::Client::new()
            .get(&bad)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_client_error(),
            "{bad}: {}",
            response.status()
        );
    }
}

async fn set_reference(setup: &Setup, body: Vec<u8>, content_type: &str) {
    let (status, answer) =
        put_reference(&setup.daemon, &setup.session_id, body, content_type).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fidelity_to_a_rendered_reference_screen_is_reported_before_and_after() {
    let Some(chromium) = chromium() else { return };
    // The reference: a copy of simple-sidebar edited to the design tokens (by the builtin's
    // "match the reference" in a session of its own), rendered at 1280×800.
    let mut edited = setup("simple-sidebar", &[]).await;
    let tokens = fixture_tokens();
    set_reference(&edited, tokens, "application/json").await;
    use_builtin_proposer(&mut edited.client, &edited.session_id).await;
    let snapped = edited.instruct("match the reference").await;
    assert_eq!(snapped["status"], "READY", "{snapped:#}");
    let preview = edited
        .client
        .call("session/get", json!({"sessionId": edited.session_id}))
        .await
        .unwrap()["previewUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let screen = render(&chromium, &preview).await;

    // The session under test: the untouched site, with that screen as its reference.
    let mut setup = setup("simple-sidebar", &[]).await;
    set_reference(&setup, reference_zip(&screen), "application/zip").await;
    use_builtin_proposer(&mut setup.client, &setup.session_id).await;
    setup.client.subscribe(&setup.session_id, 0).await.unwrap();
    let command = setup.instruct("match the reference").await;
    assert_eq!(command["status"], "READY", "{command:#}");
    let fidelity = &command["fidelity"];
    assert_eq!(fidelity["screen"], "home", "{command:#}");
    assert_eq!(fidelity["viewport"], "desktop");
    let before = fidelity["before"]["ssim"].as_f64().unwrap();
    let after = fidelity["after"]["ssim"].as_f64().unwrap();
    let palette_before = fidelity["before"]["paletteDistance"].as_f64().unwrap();
    let palette_after = fidelity["after"]["paletteDistance"].as_f64().unwrap();
    eprintln!(
        "fidelity to the rendered reference: SSIM {before:.4} → {after:.4}, palette ΔE {palette_before:.2} → {palette_after:.2}"
    );
    assert!(after >= before, "SSIM {before} → {after}");
    assert!(
        after > 0.99,
        "the same edit renders as the reference: {after}"
    );
    assert!(
        palette_after <= palette_before,
        "palette ΔE {palette_before} → {palette_after}"
    );

    // DRIFT_REPORT carries the same fidelity.
    let command_id = command["commandId"].as_str().unwrap();
    loop {
        let event = setup.client.next_event().await;
        if event["commandId"] == command_id && event["type"] == "DRIFT_REPORT" {
            assert_eq!(event["data"]["fidelity"], *fidelity, "{event:#}");
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edit_between_commands_is_in_the_next_commands_before() {
    if chromium().is_none() {
        return;
    }
    let mut setup = setup("html5-boilerplate", &[]).await;
    setup.client.subscribe(&setup.session_id, 0).await.unwrap();
    let first = setup.apply(VISIBLE_CSS_DIFF).await;
    assert_eq!(first["status"], "READY", "{first:#}");

    // By hand, the page gets a script error; the preview notices the edit.
    let index = setup.site.join("index.html");
    let page = std::fs::read_to_string(&index).unwrap();
    let broken = page.replace(
        "<script src=\"js/app.js\"></script>",
        "<script>throw new Error(\"made-by-hand\")</script>\n  <script src=\"js/app.js\"></script>",
    );
    std::fs::write(&index, broken).unwrap();
    loop {
        let event = setup.client.next_event().await;
        if event["type"] == "PREVIEW_UPDATED" && event["data"].get("patchId").is_none() {
            assert_eq!(event["data"]["files"], json!(["index.html"]));
            break;
        }
    }

    // The next command's page before is looked at again (not the first command's after): the
    // error was already there, so it is not the patch's.
    let second = setup.apply(INVISIBLE_CSS_DIFF).await;
    assert_eq!(second["status"], "READY", "{second:#}");
    assert_eq!(second["verification"]["problems"], json!([]));
    let shares = setup.screenshots(&second).await;
    assert!(shares.iter().all(|(_, share)| *share == 0.0), "{shares:?}");
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            found.push(pid);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemons_chromium_dies_with_it_and_its_profile_goes_at_the_next_start() {
    if chromium().is_none() {
        return;
    }
    let mut setup = setup("html5-boilerplate", &[]).await;
    let command = setup.apply(VISIBLE_CSS_DIFF).await;
    assert_eq!(command["verification"]["mode"], "browser", "{command:#}");
    let profiles = setup.daemon.state_dir.join("chromium");
    let profile = std::fs::read_dir(&profiles)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("devflow-chromium-"))
        .expect("Chromium's profile is in the state dir");
    let needle = profile.to_string_lossy().into_owned();
    assert!(!processes_mentioning(&needle).is_empty(), "Chromium runs");

    setup.daemon.kill9();
    devflow_tests::daemon::eventually(Duration::from_secs(20), "Chromium to end", || {
        let left = processes_mentioning(&needle);
        async move { left.is_empty().then_some(()) }
    })
    .await;
    assert!(profile.exists(), "a SIGKILL leaves the profile behind");

    let again = Daemon::start(&setup.daemon.state_dir);
    assert!(!profile.exists(), "the next daemon removed it");
    drop(again);
}

/// `devflow_page_looks_total` from `GET /metrics`.
async fn page_looks(daemon: &Daemon) -> u64 {
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", daemon.base_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("devflow_page_looks_total "))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no page looks counter in {text}"))
}

/// Waits until the daemon has looked at pages `looks` times, and checks it goes no further.
async fn settle_at(daemon: &Daemon, looks: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while page_looks(daemon).await < looks {
        assert!(std::time::Instant::now() < deadline, "never {looks} looks");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A baseline waits 300 ms of quiet before it looks: a second one would have started.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(page_looks(daemon).await, looks);
}

/// The look before a command is taken ahead (when the preview becomes ready, after a hand
/// edit), and the patch is announced before the browser's look after it: a command that the
/// browser then fails announces the patch, the failure and the page going back, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_look_before_is_taken_ahead_and_the_update_is_announced_before_the_look_after() {
    if chromium().is_none() {
        return;
    }
    let mut setup = setup("html5-boilerplate", &[]).await;
    // The preview became ready: its baseline, and nothing else.
    settle_at(&setup.daemon, 1).await;
    let first = setup.apply(VISIBLE_CSS_DIFF).await;
    assert_eq!(first["status"], "READY", "{first:#}");
    assert_eq!(first["verification"]["mode"], "browser", "{first:#}");
    // The command's before was the baseline: one look, after the patch.
    assert_eq!(page_looks(&setup.daemon).await, 2);

    // A hand edit: its baseline is taken at once, before any command asks.
    setup.client.subscribe(&setup.session_id, 0).await.unwrap();
    let style = setup.site.join("css/style.css");
    let css = std::fs::read_to_string(&style).unwrap();
    std::fs::write(&style, css.replace("#c00000", "#00c000")).unwrap();
    settle_at(&setup.daemon, 3).await;

    let failed = setup.apply(SCRIPT_ERROR_DIFF).await;
    assert_eq!(failed["status"], "FAILED", "{failed:#}");
    assert_eq!(
        page_looks(&setup.daemon).await,
        4,
        "the hand edit's baseline was the before"
    );
    let command_id = failed["commandId"].as_str().unwrap();
    let mut order = Vec::new();
    while order.last().map(String::as_str) != Some("COMMAND_STATUS FAILED") {
        let event = setup.client.next_event().await;
        if event["commandId"] != command_id {
            continue;
        }
        let label = match event["type"].as_str().unwrap() {
            "COMMAND_STATUS" => format!(
                "COMMAND_STATUS {}",
                event["data"]["status"].as_str().unwrap()
            ),
            "PREVIEW_UPDATED" if event["data"].get("patchId").is_some() => {
                "PREVIEW_UPDATED patch".to_string()
            }
            "PREVIEW_UPDATED" => "PREVIEW_UPDATED back".to_string(),
            other => other.to_string(),
        };
        order.push(label);
    }
    assert_eq!(
        order,
        [
            "COMMAND_STATUS QUEUED",
            "COMMAND_STATUS PATCHING",
            "PATCH_APPLY_STARTED",
            "PATCH_APPLY_COMPLETED",
            "PREVIEW_UPDATED patch",
            "PREVIEW_UPDATED back",
            "PATCH_FAILED",
            "COMMAND_STATUS FAILED",
        ]
    );
}

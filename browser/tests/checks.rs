//! Page checks in the installed Chromium against pages served on 127.0.0.1: what a good
//! page, a throwing script, a console error, a missing stylesheet and an empty body look
//! like; new problems against a baseline; a page that never loads; one process for many
//! checks, a new one after a crash, none after the `Browser` is dropped.

mod support;

use std::time::Duration;

use devflow_browser::{Browser, BrowserError, CheckOptions, LaunchOptions, Viewport};
use devflow_visual::Picture;
use support::{chromium, TestServer, HANGING_PATH};

const GOOD: &str = r#"<!doctype html><html><head><title>Good page</title>
<link rel="stylesheet" href="/site.css"></head>
<body><h1>Hello</h1><p>All is well.</p></body></html>"#;

fn quick() -> CheckOptions {
    CheckOptions {
        watch: Duration::from_millis(300),
        ..CheckOptions::default()
    }
}

fn server_with_good_page() -> TestServer {
    let server = TestServer::start();
    server.page("/", GOOD);
    server.file("/site.css", "text/css", "h1 { color: #224; }");
    server
}

async fn launch(path: &std::path::Path) -> Browser {
    Browser::launch(path, LaunchOptions::default())
        .await
        .expect("Chromium starts")
}

#[tokio::test]
async fn a_good_page_has_no_problems_and_screenshots_have_the_viewport_size() {
    let Some(path) = chromium() else { return };
    let server = server_with_good_page();
    let browser = launch(&path).await;

    for viewport in [Viewport::DESKTOP, Viewport::MOBILE] {
        let options = CheckOptions {
            viewport,
            screenshot: true,
            ..quick()
        };
        let check = browser
            .check_page(&server.url("/"), &options)
            .await
            .unwrap();
        assert_eq!(check.title, "Good page");
        assert!(check.problems().is_empty(), "{check:?}");
        assert!(!check.blank);
        let png = check.screenshot.expect("a screenshot was asked for");
        let picture = Picture::decode_png(&png).expect("the screenshot is a PNG");
        assert_eq!(
            (picture.width(), picture.height()),
            (viewport.width, viewport.height)
        );
    }
}

#[tokio::test]
async fn checks_reuse_one_chromium_process() {
    let Some(path) = chromium() else { return };
    let server = server_with_good_page();
    let browser = launch(&path).await;
    let first_pid = browser.pid().expect("running");
    browser
        .check_page(&server.url("/"), &quick())
        .await
        .unwrap();
    browser
        .check_page(&server.url("/"), &quick())
        .await
        .unwrap();
    assert_eq!(browser.pid(), Some(first_pid));
}

#[tokio::test]
async fn a_thrown_error_a_console_error_and_a_missing_stylesheet_are_reported() {
    let Some(path) = chromium() else { return };
    let server = server_with_good_page();
    server.page(
        "/throws",
        "<title>t</title><p>text</p><script>throw new Error(\"boom\")</script>",
    );
    server.page(
        "/logs",
        "<title>l</title><p>text</p><script>console.error(\"bad\", 42)</script>",
    );
    // Chromium reports a blocked load through the Log domain (source "security").
    server.page(
        "/refused",
        r#"<meta http-equiv="Content-Security-Policy" content="img-src 'none'">
        <title>r</title><p>text</p><img src="/picture.png" alt="">"#,
    );
    // A missing sheet here is reported; one on another origin (a closed port) is not.
    server.page(
        "/unstyled",
        r#"<title>u</title><link rel="stylesheet" href="/missing.css">
        <link rel="stylesheet" href="http://127.0.0.1:9/elsewhere.css"><p>text</p>"#,
    );
    let browser = launch(&path).await;

    let throws = browser
        .check_page(&server.url("/throws"), &quick())
        .await
        .unwrap();
    assert_eq!(throws.exceptions.len(), 1, "{throws:?}");
    let exception = &throws.exceptions[0];
    assert!(exception.contains("Error: boom"), "{exception}");
    assert!(
        exception.contains(&format!("{}:1:", server.url("/throws"))),
        "{exception}"
    );
    assert!(throws.console_errors.is_empty(), "{throws:?}");

    let logs = browser
        .check_page(&server.url("/logs"), &quick())
        .await
        .unwrap();
    assert_eq!(logs.console_errors, ["bad 42"], "{logs:?}");
    assert!(logs.exceptions.is_empty());

    let refused = browser
        .check_page(&server.url("/refused"), &quick())
        .await
        .unwrap();
    assert_eq!(refused.console_errors.len(), 1, "{refused:?}");
    assert!(
        refused.console_errors[0].contains("Content Security Policy"),
        "{refused:?}"
    );

    let unstyled = browser
        .check_page(&server.url("/unstyled"), &quick())
        .await
        .unwrap();
    assert_eq!(unstyled.failed_requests.len(), 1, "{unstyled:?}");
    let failed = &unstyled.failed_requests[0];
    assert_eq!(failed.url, server.url("/missing.css"));
    assert_eq!(failed.status, Some(404));
    assert_eq!(failed.reason, "Not Found");
    // Chromium's "Failed to load resource" log lines are the failed requests, not console
    // errors (and the other origin's one is not reported at all).
    assert!(unstyled.console_errors.is_empty(), "{unstyled:?}");
}

#[tokio::test]
async fn an_empty_or_invisible_body_is_blank_and_a_drawn_one_is_not() {
    let Some(path) = chromium() else { return };
    let server = TestServer::start();
    server.page("/empty", "<!doctype html><title>Empty</title><body></body>");
    server.page(
        "/hidden",
        r#"<title>h</title><div id="root" style="min-height:100vh"><p style="display:none">secret</p>
        <span style="visibility:hidden">gone</span></div>"#,
    );
    server.page(
        "/boxes",
        r#"<title>b</title><div style="width:200px;height:80px;background:#c33"></div>"#,
    );
    let browser = launch(&path).await;
    for (page, blank) in [("/empty", true), ("/hidden", true), ("/boxes", false)] {
        let check = browser
            .check_page(&server.url(page), &quick())
            .await
            .unwrap();
        assert_eq!(check.blank, blank, "{page}: {check:?}");
    }
    let empty = browser
        .check_page(&server.url("/empty"), &quick())
        .await
        .unwrap();
    assert_eq!(empty.title, "Empty");
    assert_eq!(empty.problems(), ["the page is blank"]);
}

#[tokio::test]
async fn a_page_that_opens_dialogs_is_still_checked() {
    let Some(path) = chromium() else { return };
    let server = TestServer::start();
    server.page(
        "/dialogs",
        r#"<title>d</title><script>alert("hello"); confirm("sure?")</script><p>after the dialogs</p>"#,
    );
    let browser = launch(&path).await;
    let check = browser
        .check_page(&server.url("/dialogs"), &quick())
        .await
        .unwrap();
    assert_eq!(check.title, "d");
    assert!(!check.blank);
    assert!(check.problems().is_empty(), "{check:?}");
}

#[tokio::test]
async fn a_page_that_does_not_load_is_blank_with_its_failed_request() {
    let Some(path) = chromium() else { return };
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let browser = launch(&path).await;
    let check = browser.check_page(&url, &quick()).await.unwrap();
    assert!(check.blank, "{check:?}");
    assert_eq!(check.failed_requests.len(), 1, "{check:?}");
    assert_eq!(check.failed_requests[0].url, url);
    assert_eq!(check.failed_requests[0].status, None);
    assert!(
        check.failed_requests[0].reason.starts_with("net::ERR_"),
        "{check:?}"
    );
}

#[tokio::test]
async fn new_problems_are_those_the_baseline_did_not_have() {
    let Some(path) = chromium() else { return };
    let server = server_with_good_page();
    // The page already logs an error before the "patch"; that one is not new.
    let before = r#"<title>p</title><h1>Before</h1><script>console.error("known")</script>"#;
    server.page("/page", before);
    let browser = launch(&path).await;
    let baseline = browser
        .check_page(&server.url("/page"), &quick())
        .await
        .unwrap();
    assert_eq!(baseline.console_errors, ["known"]);

    server.page(
        "/page",
        r#"<title>p</title><h1>After</h1><script>console.error("known")</script>
        <link rel="stylesheet" href="/gone.css"><script>null.x</script>"#,
    );
    let after = browser
        .check_page(&server.url("/page"), &quick())
        .await
        .unwrap();
    let new = after.new_problems(&baseline);
    assert_eq!(new.len(), 2, "{new:?}");
    assert!(
        new[0].starts_with("uncaught exception: Uncaught TypeError"),
        "{new:?}"
    );
    assert_eq!(
        new[1],
        format!(
            "failed request: {} (404 Not Found)",
            server.url("/gone.css")
        )
    );

    server.page("/page", "<title>p</title><body></body>");
    let emptied = browser
        .check_page(&server.url("/page"), &quick())
        .await
        .unwrap();
    assert_eq!(emptied.new_problems(&baseline), ["the page is blank"]);

    server.page("/page", before);
    let restored = browser
        .check_page(&server.url("/page"), &quick())
        .await
        .unwrap();
    assert!(restored.new_problems(&baseline).is_empty());
}

#[tokio::test]
async fn a_page_that_never_loads_times_out_instead_of_hanging() {
    let Some(path) = chromium() else { return };
    let server = server_with_good_page();
    let browser = launch(&path).await;
    let options = CheckOptions {
        timeout: Duration::from_secs(3),
        ..quick()
    };
    let url = server.url(HANGING_PATH);
    // The outer limit only keeps a broken implementation from hanging the test run.
    let outcome =
        tokio::time::timeout(Duration::from_secs(120), browser.check_page(&url, &options))
            .await
            .expect("check_page returned");
    match outcome {
        Err(BrowserError::Timeout {
            url: timed_out,
            stage,
            after,
        }) => {
            assert_eq!(timed_out, url);
            assert_eq!(stage, "loading the page");
            assert_eq!(after, Duration::from_secs(3));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let message = BrowserError::Timeout {
        url: url.clone(),
        stage: "loading the page",
        after: Duration::from_secs(3),
    }
    .to_string();
    assert!(message.contains(&url), "{message}");

    // The browser is still usable afterwards.
    let check = browser
        .check_page(&server.url("/"), &quick())
        .await
        .unwrap();
    assert_eq!(check.title, "Good page");
}

#[tokio::test]
async fn a_crashed_chromium_fails_the_check_and_the_next_check_starts_a_new_one() {
    let Some(path) = chromium() else { return };
    let server = server_with_good_page();
    let browser = launch(&path).await;
    let first_pid = browser.pid().expect("running");
    let hanging = server.hanging_request.clone();
    let crash = async {
        hanging.notified().await;
        // SAFETY: kill(2) on the Chromium this test launched.
        unsafe { libc::kill(first_pid as libc::pid_t, libc::SIGKILL) };
    };
    let options = CheckOptions {
        timeout: Duration::from_secs(60),
        ..quick()
    };
    let hanging_url = server.url(HANGING_PATH);
    let (outcome, ()) = tokio::join!(browser.check_page(&hanging_url, &options), crash);
    match outcome {
        Err(BrowserError::Died { url, detail }) => {
            assert_eq!(url, hanging_url);
            assert!(!detail.is_empty());
        }
        other => panic!("expected Died, got {other:?}"),
    }
    assert!(!browser.is_alive());

    let check = browser
        .check_page(&server.url("/"), &quick())
        .await
        .unwrap();
    assert_eq!(check.title, "Good page");
    let second_pid = browser.pid().expect("running again");
    assert_ne!(second_pid, first_pid);
}

#[tokio::test]
async fn dropping_the_browser_ends_its_whole_process_group() {
    let Some(path) = chromium() else { return };
    let server = server_with_good_page();
    let browser = launch(&path).await;
    browser
        .check_page(&server.url("/"), &quick())
        .await
        .unwrap();
    let group = browser.pid().expect("running");
    // Chromium runs helpers (zygote, renderer, utility) in the same group.
    assert!(group_members(group).len() > 1, "{:?}", group_members(group));
    drop(browser);
    assert_eq!(group_members(group), Vec::<u32>::new());
}

/// The live (not zombie) processes whose process group is `group`, from /proc.
fn group_members(group: u32) -> Vec<u32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the command name in parentheses: state, ppid, pgrp.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == group.to_string() && fields[0] != "Z" {
            members.push(pid);
        }
    }
    members
}

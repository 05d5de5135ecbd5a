//! Screenshots and devflow-visual together: the same page renders to the same pixels twice,
//! and a moved box shows as a changed area.

mod support;

use std::time::Duration;

use devflow_browser::{Browser, CheckOptions, LaunchOptions, Viewport};
use devflow_visual::{diff, Picture, DEFAULT_THRESHOLD};
use support::{chromium, TestServer};

fn page_with_box(left: u32) -> String {
    format!(
        r#"<!doctype html><title>Box</title><style>
        body {{ margin: 0; font: 16px sans-serif; }}
        .box {{ position: absolute; top: 120px; left: {left}px; width: 160px; height: 100px;
                background: #d22; animation: pulse 2s infinite; }}
        @keyframes pulse {{ from {{ opacity: 1; }} to {{ opacity: 0.4; }} }}
        </style><h1>Pictures</h1><input autofocus value="caret here"><div class="box"></div>"#
    )
}

#[tokio::test]
async fn the_same_page_renders_identically_and_a_moved_box_is_a_change() {
    let Some(path) = chromium() else { return };
    let server = TestServer::start();
    server.page("/here", &page_with_box(40));
    server.page("/there", &page_with_box(400));
    let browser = Browser::launch(&path, LaunchOptions::default())
        .await
        .expect("Chromium starts");
    let options = CheckOptions {
        viewport: Viewport::DESKTOP,
        watch: Duration::from_millis(300),
        screenshot: true,
        ..CheckOptions::default()
    };
    let shoot = |page: &'static str| {
        let (browser, options, url) = (&browser, &options, server.url(page));
        async move {
            let check = browser.check_page(&url, options).await.unwrap();
            assert!(check.problems().is_empty(), "{check:?}");
            Picture::decode_png(&check.screenshot.expect("screenshot")).unwrap()
        }
    };

    let first = shoot("/here").await;
    let again = shoot("/here").await;
    let same = diff(&first, &again, 0);
    assert_eq!(
        same.changed_share, 0.0,
        "{} pixels differ",
        same.changed_pixels
    );

    let moved = shoot("/there").await;
    let change = diff(&first, &moved, DEFAULT_THRESHOLD);
    assert!(change.changed_share > 0.0);
    // Both the area the box left and the area it took changed: 2 × 160 × 100 pixels.
    assert_eq!(change.changed_pixels, 2 * 160 * 100);
}

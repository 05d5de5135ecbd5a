//! Targets: a command may carry `target: {selector, pageUrl?}` (REST body and `command/submit`
//! over WebSocket alike); the daemon resolves it to the stylesheet rules that style the element
//! (file and line) and stores them in the Command; the builtin proposer's "make this bigger"
//! then edits font-size in exactly those rules; "this" with no target FAILS asking for a pick;
//! a selector that matches nothing is a VALIDATION_ERROR naming the page.

use devflow_tests::fixtures::copy_site;
use devflow_tests::session::use_builtin_proposer;
use devflow_tests::{Client, Daemon, RestClient, WsClient};
use serde_json::{json, Value};

struct Setup {
    _temp: tempfile::TempDir,
    daemon: Daemon,
    site: std::path::PathBuf,
    session_id: String,
}

/// A folder session on a copy of simple-sidebar with the builtin proposer.
async fn setup() -> Setup {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "dir", "path": site}}),
        )
        .await
        .unwrap();
    let session_id = created["sessionId"].as_str().unwrap().to_string();
    use_builtin_proposer(&mut client, &session_id).await;
    Setup {
        _temp: temp,
        daemon,
        site,
        session_id,
    }
}

/// Submits and waits for the command's final status; returns the Command.
async fn run(client: &mut dyn Client, session_id: &str, params: Value) -> Value {
    client.subscribe(session_id, 0).await.unwrap();
    let submitted = client.call("command/submit", params).await.unwrap();
    let command_id = submitted["commandId"].as_str().unwrap().to_string();
    loop {
        let event = client.next_event().await;
        if event["commandId"] == command_id.as_str()
            && event["type"] == "COMMAND_STATUS"
            && matches!(event["data"]["status"].as_str(), Some("READY" | "FAILED"))
        {
            break;
        }
    }
    client
        .call(
            "command/get",
            json!({"sessionId": session_id, "commandId": command_id}),
        )
        .await
        .unwrap()
}

fn places(command: &Value) -> Vec<(String, u64)> {
    command["target"]["rules"]
        .as_array()
        .unwrap_or_else(|| panic!("no rules: {command}"))
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_string(),
                r["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The 1-based line where `starts` begins a line of `text`.
fn line_of(text: &str, starts: &str) -> u64 {
    text.lines()
        .position(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("no line starting {starts:?}")) as u64
        + 1
}

/// `(line of the enclosing rule's selector, property, value)` of every declaration a diff
/// removes or adds, located in the `before` text by walking back to the last `{` line.
fn changed_declarations(before: &str, after: &str) -> Vec<(u64, String)> {
    let before_lines: Vec<&str> = before.lines().collect();
    let after_lines: Vec<&str> = after.lines().collect();
    assert_eq!(
        before_lines.len(),
        after_lines.len(),
        "the edit only changes values, it adds no lines"
    );
    let mut out = Vec::new();
    for (i, (b, a)) in before_lines.iter().zip(&after_lines).enumerate() {
        if b != a {
            let rule_line = (0..=i)
                .rev()
                .find(|&j| before_lines[j].contains('{'))
                .map(|j| {
                    // A selector list over several lines starts where the previous rule ended.
                    let mut start = j;
                    while start > 0
                        && !before_lines[start - 1].trim_end().ends_with('}')
                        && !before_lines[start - 1].trim_end().ends_with('{')
                        && !before_lines[start - 1].trim().is_empty()
                    {
                        start -= 1;
                    }
                    start as u64 + 1
                })
                .unwrap();
            out.push((rule_line, a.trim().to_string()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heading_a_button_and_a_nav_link_resolve_to_their_rules_over_rest_and_ws() {
    let setup = setup().await;
    let css = std::fs::read_to_string(setup.site.join("css/styles.css")).unwrap();
    let mut rest = RestClient::new(&setup.daemon);
    let mut ws = WsClient::connect(&setup.daemon).await;

    // A heading, over REST: its own h1 rule (and its @media size) are listed with the lines
    // they have in the file; the command runs to READY.
    let heading = run(
        &mut rest,
        &setup.session_id,
        json!({"sessionId": setup.session_id, "instruction": "make this bigger",
               "target": {"selector": "#page-content-wrapper h1",
                          "pageUrl": "http://127.0.0.1:1/index.html"}}),
    )
    .await;
    let heading_places = places(&heading);
    let h1_rule = line_of(&css, "h1, .h1 {");
    assert!(
        heading_places.contains(&("css/styles.css".into(), h1_rule)),
        "{heading_places:?}"
    );
    assert_eq!(heading["target"]["pageFile"], "index.html");
    assert_eq!(heading["target"]["selector"], "#page-content-wrapper h1");

    // A button, over WebSocket JSON-RPC.
    let button = run(
        &mut ws,
        &setup.session_id,
        json!({"sessionId": setup.session_id, "instruction": "make this bigger",
               "target": {"selector": "#sidebarToggle"}}),
    )
    .await;
    let button_places = places(&button);
    for rule in [".btn {", ".btn-primary {"] {
        let line = line_of(&css, rule);
        assert!(
            button_places.contains(&("css/styles.css".into(), line)),
            "{rule} {button_places:?}"
        );
    }

    // A nav link, the second of three alike: told apart as element 2 of 3.
    let link = run(
        &mut ws,
        &setup.session_id,
        json!({"sessionId": setup.session_id, "instruction": "make this bigger",
               "target": {"selector": "#navbarSupportedContent > ul > li:nth-of-type(2) > a"}}),
    )
    .await;
    assert_eq!(
        (
            link["target"]["index"].as_u64(),
            link["target"]["matches"].as_u64()
        ),
        (Some(2), Some(3)),
        "{link}"
    );
    let nav_rule = link["target"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["selector"] == ".nav-link")
        .unwrap_or_else(|| panic!("{link}"))
        .clone();
    assert_eq!(nav_rule["sharedWith"], 2, "{nav_rule}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn make_this_bigger_changes_font_size_in_exactly_the_target_rules() {
    let setup = setup().await;
    let before = std::fs::read_to_string(setup.site.join("css/styles.css")).unwrap();
    let mut rest = RestClient::new(&setup.daemon);
    let command = run(
        &mut rest,
        &setup.session_id,
        json!({"sessionId": setup.session_id, "instruction": "make this bigger",
               "target": {"selector": "#page-content-wrapper h1"}}),
    )
    .await;
    assert_eq!(command["status"], "READY", "{command}");
    let after = std::fs::read_to_string(setup.site.join("css/styles.css")).unwrap();
    let target_lines: Vec<u64> = places(&command)
        .into_iter()
        .filter(|(file, _)| file == "css/styles.css")
        .map(|(_, line)| line)
        .collect();
    let changed = changed_declarations(&before, &after);
    assert!(!changed.is_empty(), "nothing changed");
    for (rule_line, declaration) in &changed {
        assert!(
            declaration.starts_with("font-size:"),
            "only font-size changes: {declaration}"
        );
        assert!(
            target_lines.contains(rule_line),
            "the rule at line {rule_line} is not one of the target's {target_lines:?}"
        );
    }
    // The h1 rule is shared with `.h1`, which no other element of the page carries, and
    // the page's only h1 is the target: nothing shared is reported.
    let reason = command["proposals"][0]["reason"].as_str().unwrap();
    assert!(!reason.contains("also styles"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_without_a_target_fails_and_an_unmatched_selector_is_refused() {
    let setup = setup().await;
    let mut rest = RestClient::new(&setup.daemon);
    let command = run(
        &mut rest,
        &setup.session_id,
        json!({"sessionId": setup.session_id, "instruction": "make this bigger"}),
    )
    .await;
    assert_eq!(command["status"], "FAILED", "{command}");
    let summary = command["errorSummary"].as_str().unwrap();
    assert!(summary.contains("Pick an element first"), "{summary}");

    for client in [
        &mut rest as &mut dyn Client,
        &mut WsClient::connect(&setup.daemon).await,
    ] {
        let refused = client
            .call(
                "command/submit",
                json!({"sessionId": setup.session_id, "instruction": "make this bigger",
                       "target": {"selector": "h2.nowhere"}}),
            )
            .await
            .expect_err("refused");
        assert_eq!(
            refused.body["error"], "VALIDATION_ERROR",
            "{}",
            refused.body
        );
        assert_eq!(
            refused.body["message"], "the selector matches nothing on index.html",
            "{}",
            refused.body
        );
        assert_eq!(refused.body["details"]["field"], "target.selector");
    }
}

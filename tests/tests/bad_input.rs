//! Bad input gets the right status / JSON-RPC code and a seed-004 error object naming the
//! field, and the daemon keeps serving.

use devflow_tests::daemon::TOKEN;
use devflow_tests::{Client, Daemon, RestClient, WsClient};
use serde_json::{json, Value};

fn assert_error_object(body: &Value, code: &str, field: Option<&str>) {
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["requestId"].as_str().is_some_and(|r| r.len() == 36),
        "{body}"
    );
    assert!(
        body["timestamp"]
            .as_i64()
            .is_some_and(|t| t > 1_700_000_000),
        "{body}"
    );
    if let Some(field) = field {
        assert_eq!(body["details"]["field"], field, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_answers_bad_input_with_status_and_error_object() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&temp.path().join("state"));
    let http = reqwest::Client::new();
    let post = |path: &str, body: &'static str| {
        http.post(format!("{}{path}", daemon.base_url))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let check = |response: reqwest::Response,
                 status: u16,
                 code: &'static str,
                 field: Option<&'static str>| async move {
        assert_eq!(response.status().as_u16(), status);
        let body: Value = response.json().await.unwrap();
        assert_error_object(&body, code, field);
    };

    check(
        post("/sessions", "{not json").await.unwrap(),
        400,
        "PARSE_ERROR",
        None,
    )
    .await;
    check(
        post("/sessions", "[1,2]").await.unwrap(),
        400,
        "VALIDATION_ERROR",
        Some("body"),
    )
    .await;
    check(
        post("/sessions", r#"{"ttlMinutes":"soon"}"#).await.unwrap(),
        400,
        "VALIDATION_ERROR",
        Some("ttlMinutes"),
    )
    .await;
    check(
        post("/sessions", r#"{"ttlMinutes":5000}"#).await.unwrap(),
        400,
        "VALIDATION_ERROR",
        Some("ttlMinutes"),
    )
    .await;
    check(
        post("/sessions", r#"{"colour":"red"}"#).await.unwrap(),
        400,
        "VALIDATION_ERROR",
        Some("colour"),
    )
    .await;
    check(
        post(
            "/sessions",
            r#"{"source":{"kind":"dir","path":"/no/such/folder"}}"#,
        )
        .await
        .unwrap(),
        400,
        "VALIDATION_ERROR",
        Some("source.path"),
    )
    .await;
    let unknown = "/sessions/00000000-0000-4000-8000-000000000000/commands";
    check(
        post(unknown, r#"{"instruction":"x"}"#).await.unwrap(),
        404,
        "NOT_FOUND",
        Some("sessionId"),
    )
    .await;
    check(
        post("/no/such/route", "{}").await.unwrap(),
        404,
        "METHOD_NOT_FOUND",
        None,
    )
    .await;

    let created: Value = post("/sessions", "{}").await.unwrap().json().await.unwrap();
    let commands = format!(
        "/sessions/{}/commands",
        created["sessionId"].as_str().unwrap()
    );
    let long = json!({ "instruction": "a".repeat(5001) }).to_string();
    let long: &'static str = Box::leak(long.into_boxed_str());
    check(
        post(&commands, r#"{"instruction":""}"#).await.unwrap(),
        400,
        "VALIDATION_ERROR",
        Some("instruction"),
    )
    .await;
    check(
        post(&commands, long).await.unwrap(),
        400,
        "VALIDATION_ERROR",
        Some("instruction"),
    )
    .await;
    check(
        post(&commands, r#"{"instruction":42}"#).await.unwrap(),
        400,
        "VALIDATION_ERROR",
        Some("instruction"),
    )
    .await;
    check(
        post(&commands, r#"{}"#).await.unwrap(),
        400,
        "VALIDATION_ERROR",
        Some("instruction"),
    )
    .await;
    let ok = post(&commands, r#"{"instruction":"still serving"}"#)
        .await
        .unwrap();
    assert_eq!(ok.status(), 202, "the daemon keeps serving after bad input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_answers_bad_input_with_jsonrpc_codes() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut ws = WsClient::connect(&daemon).await;

    let parse = ws.raw("{not json").await;
    assert_eq!(parse["error"]["code"], -32700);
    assert_error_object(&parse["error"]["data"], "PARSE_ERROR", None);
    let invalid = ws
        .raw(r#"{"jsonrpc":"1.0","id":1,"method":"session/list"}"#)
        .await;
    assert_eq!(invalid["error"]["code"], -32600);
    let unknown = ws.call("session/explode", json!({})).await.unwrap_err();
    assert_eq!(unknown.status, -32601);
    assert_error_object(&unknown.body, "METHOD_NOT_FOUND", Some("method"));
    let wrong_type = ws
        .call("session/create", json!({"ttlMinutes": "soon"}))
        .await
        .unwrap_err();
    assert_eq!(wrong_type.status, -32602);
    assert_error_object(&wrong_type.body, "VALIDATION_ERROR", Some("ttlMinutes"));
    let no_session = ws
        .call(
            "command/submit",
            json!({"sessionId": "00000000-0000-4000-8000-000000000000", "instruction": "x"}),
        )
        .await
        .unwrap_err();
    assert_error_object(&no_session.body, "NOT_FOUND", Some("sessionId"));
    assert!(
        no_session.status <= -32000 && no_session.status >= -32099,
        "application code: {}",
        no_session.status
    );

    let created = ws.call("session/create", json!({})).await.unwrap();
    let sid = created["sessionId"].clone();
    for instruction in [json!(""), json!("あ".repeat(5001)), json!(null)] {
        let error = ws
            .call(
                "command/submit",
                json!({"sessionId": sid, "instruction": instruction}),
            )
            .await
            .unwrap_err();
        assert_eq!(error.status, -32602, "{instruction}");
        assert_error_object(&error.body, "VALIDATION_ERROR", Some("instruction"));
    }
    let batch = ws
        .raw(&json!([
            {"jsonrpc": "2.0", "id": "a", "method": "session/get", "params": {"sessionId": sid}},
            {"jsonrpc": "2.0", "id": "b", "method": "nope"}
        ])
        .to_string())
        .await;
    assert_eq!(batch[0]["result"]["sessionId"], sid);
    assert_eq!(batch[1]["error"]["code"], -32601);
    let fine = ws
        .call(
            "command/submit",
            json!({"sessionId": sid, "instruction": "still serving"}),
        )
        .await
        .unwrap();
    assert_eq!(fine["status"], "QUEUED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_not_found_on_every_session_route() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let created = client.call("session/create", json!({})).await.unwrap();
    let sid = created["sessionId"].clone();
    let missing = "00000000-0000-4000-8000-000000000000";
    for (method, params, field) in [
        (
            "command/get",
            json!({"sessionId": sid, "commandId": missing}),
            "commandId",
        ),
        (
            "command/cancel",
            json!({"sessionId": sid, "commandId": missing}),
            "commandId",
        ),
        (
            "patch/get",
            json!({"sessionId": sid, "patchId": missing}),
            "patchId",
        ),
        (
            "session/rollback",
            json!({"sessionId": sid, "patchId": missing}),
            "patchId",
        ),
        ("session/get", json!({"sessionId": missing}), "sessionId"),
        ("session/delete", json!({"sessionId": missing}), "sessionId"),
    ] {
        let error = client.call(method, params).await.unwrap_err();
        assert_eq!(error.status, 404, "{method}");
        assert_error_object(&error.body, "NOT_FOUND", Some(field));
    }
}

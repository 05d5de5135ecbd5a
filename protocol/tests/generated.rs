//! The checked-in schema and TypeScript types must match the Rust types. Run with
//! `DEVFLOW_BLESS=1` to rewrite them after changing a wire type.

use std::path::PathBuf;

fn check(file: &str, fresh: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("generated")
        .join(file);
    if std::env::var_os("DEVFLOW_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, fresh).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "{} is stale: run `DEVFLOW_BLESS=1 cargo test -p devflow-protocol --test generated` and commit it",
        path.display()
    );
}

#[test]
fn checked_in_json_schema_is_current() {
    let schema = devflow_protocol::codegen::json_schema();
    check(
        "devflow.schema.json",
        &(serde_json::to_string_pretty(&schema).unwrap() + "\n"),
    );
}

#[test]
fn checked_in_typescript_is_current() {
    check("protocol.ts", &devflow_protocol::codegen::typescript());
}

#[test]
fn schema_names_every_method_and_core_type() {
    let schema = devflow_protocol::codegen::json_schema();
    for name in [
        "Session",
        "Command",
        "Event",
        "Proposal",
        "Patch",
        "ApiError",
        "HistoryPage",
    ] {
        assert!(schema["$defs"].get(name).is_some(), "schema lacks {name}");
    }
    assert_eq!(
        schema["methods"].as_array().unwrap().len(),
        devflow_protocol::method::ALL.len()
    );
}

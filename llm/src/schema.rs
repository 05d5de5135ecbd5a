//! The Proposal JSON Schema as the models are given it: the tool input schema of the Bedrock
//! call and the `response_format` of the OpenAI-compatible one. Generated from the protocol's
//! `Proposal` type (the same source as `generated/devflow.schema.json`), minus the keywords
//! that strict structured-output modes refuse (`format`, `$schema`, `title`).

use devflow_protocol::Proposal;
use serde_json::Value;

/// The tool the model must call; its input is the proposal.
pub const TOOL_NAME: &str = "propose_patch";

/// What the tool is for, in the model's words.
pub const TOOL_DESCRIPTION: &str = "Propose a change to the site as a unified diff. devflow \
validates the diff against the files and applies it; call this exactly once.";

/// The JSON Schema of a proposal (an object with exactly `files_to_edit`, `unified_diff`,
/// `reason` and `confidence`).
pub fn proposal_schema() -> Value {
    let mut schema = schemars::schema_for!(Proposal).to_value();
    clean(&mut schema);
    schema
}

/// Drops keywords that are annotations for people or that strict modes reject.
fn clean(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("$schema");
            map.remove("title");
            map.remove("format");
            for child in map.values_mut() {
                clean(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_matches_the_checked_in_proposal_definition() {
        let generated: Value =
            serde_json::from_str(include_str!("../../protocol/generated/devflow.schema.json"))
                .expect("the checked-in schema is JSON");
        let mut expected = generated["$defs"]["Proposal"].clone();
        clean(&mut expected);
        assert_eq!(proposal_schema(), expected);
    }

    #[test]
    fn schema_is_strict_about_fields() {
        let schema = proposal_schema();
        assert_eq!(schema["additionalProperties"], Value::Bool(false));
        let required: Vec<&str> = schema["required"]
            .as_array()
            .expect("required is a list")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            required,
            ["files_to_edit", "unified_diff", "reason", "confidence"]
        );
        assert!(!schema.to_string().contains("\"format\""));
    }
}

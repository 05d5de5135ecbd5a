//! Reading a model's answer into a [`Proposal`], strictly: the tool input (or, for chat
//! endpoints, the message text) must be JSON with exactly the four Proposal fields of the
//! right types, and pass `Proposal::validate`. Anything else is an [`AnswerProblem`] whose
//! message says what was wrong in words a model can act on: it is what the one re-inference
//! is told. The only leniency is cosmetic: code fences around the JSON or the diff are
//! stripped, and `./` before a path is dropped.

use devflow_protocol::Proposal;
use serde_json::{Map, Value};

/// Why an answer is not a usable proposal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnswerProblem {
    #[error("the answer is not valid JSON ({detail})")]
    NotJson { detail: String },
    #[error("the answer is JSON {found}, not an object with files_to_edit, unified_diff, reason and confidence")]
    NotAnObject { found: &'static str },
    #[error("the answer lacks the field `{0}`")]
    MissingField(&'static str),
    #[error("the answer has a field `{0}` that the proposal schema does not allow")]
    UnknownField(String),
    #[error("`{field}` must be {expected}, but the answer has {found}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("the proposal is not acceptable: {0}")]
    Invalid(String),
    #[error("the model answered in prose instead of calling the tool `{tool}`: {excerpt:?}")]
    NoToolCall { tool: &'static str, excerpt: String },
    #[error("the model called a tool named `{0}`, not `{tool}`", tool = crate::schema::TOOL_NAME)]
    WrongTool(String),
    #[error("the answer was cut off at the output limit of {limit} tokens; propose a smaller diff (or raise the limit)")]
    Truncated { limit: u32 },
    #[error("the model gave an empty answer")]
    Empty,
}

/// A tool call's input: normally a JSON object; some models send the object as a string.
pub fn read_tool_input(input: &Value) -> Result<Proposal, AnswerProblem> {
    match input {
        Value::String(text) => read_text(text),
        other => read_value(other),
    }
}

/// A message text that should be the proposal's JSON, possibly fenced (```json … ```).
pub fn read_text(text: &str) -> Result<Proposal, AnswerProblem> {
    let inner = strip_fences(text).trim();
    if inner.is_empty() {
        return Err(AnswerProblem::Empty);
    }
    let value: Value = match serde_json::from_str(inner) {
        Ok(value) => value,
        Err(first) => {
            // Prose around one JSON object ("Here is the patch: {…}") is the one wrapping
            // worth looking through; anything more is a wrong answer.
            match (inner.find('{'), inner.rfind('}')) {
                (Some(start), Some(end)) if start < end => {
                    serde_json::from_str(&inner[start..=end]).map_err(|_| {
                        AnswerProblem::NotJson {
                            detail: first.to_string(),
                        }
                    })?
                }
                _ => {
                    return Err(AnswerProblem::NotJson {
                        detail: first.to_string(),
                    })
                }
            }
        }
    };
    read_value(&value)
}

/// A JSON value that should be a proposal.
pub fn read_value(value: &Value) -> Result<Proposal, AnswerProblem> {
    let Value::Object(map) = value else {
        return Err(AnswerProblem::NotAnObject { found: kind(value) });
    };
    const FIELDS: [&str; 4] = ["files_to_edit", "unified_diff", "reason", "confidence"];
    if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(AnswerProblem::UnknownField(unknown.clone()));
    }
    let files = match field(map, "files_to_edit")? {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(path) => Ok(path.strip_prefix("./").unwrap_or(path).to_string()),
                other => Err(AnswerProblem::WrongType {
                    field: "files_to_edit",
                    expected: "a list of path strings",
                    found: kind(other),
                }),
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(AnswerProblem::WrongType {
                field: "files_to_edit",
                expected: "a list of path strings",
                found: kind(other),
            })
        }
    };
    let diff = string_field(map, "unified_diff")?;
    let reason = string_field(map, "reason")?;
    let confidence = match field(map, "confidence")? {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        other => {
            return Err(AnswerProblem::WrongType {
                field: "confidence",
                expected: "a number from 0.0 to 1.0",
                found: kind(other),
            })
        }
    };
    let proposal = Proposal {
        files_to_edit: files,
        unified_diff: strip_fences(&diff).to_string(),
        reason: reason.trim().to_string(),
        confidence,
    };
    proposal
        .validate()
        .map_err(|problem| AnswerProblem::Invalid(problem.message))?;
    Ok(proposal)
}

fn field<'a>(map: &'a Map<String, Value>, name: &'static str) -> Result<&'a Value, AnswerProblem> {
    map.get(name).ok_or(AnswerProblem::MissingField(name))
}

fn string_field(map: &Map<String, Value>, name: &'static str) -> Result<String, AnswerProblem> {
    match field(map, name)? {
        Value::String(text) => Ok(text.clone()),
        other => Err(AnswerProblem::WrongType {
            field: name,
            expected: "a string",
            found: kind(other),
        }),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The text inside one pair of code fences (```lang … ```), or the text itself. Only a fence
/// that opens the text and one that closes it count: fences inside a diff are content.
pub fn strip_fences(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return text;
    };
    // The opening fence's line may name a language.
    let Some(newline) = rest.find('\n') else {
        return text;
    };
    let body = &rest[newline + 1..];
    match body.trim_end().strip_suffix("```") {
        Some(inner) => inner,
        None => body,
    }
}

/// A short, single-line excerpt of prose for an error message.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        flat
    } else {
        let cut: String = flat.chars().take(max_chars).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DIFF: &str = "--- a/css/style.css\n+++ b/css/style.css\n@@ -1,3 +1,3 @@\n h1 {\n-  color: red;\n+  color: blue;\n }\n";

    fn good() -> Value {
        json!({
            "files_to_edit": ["css/style.css"],
            "unified_diff": DIFF,
            "reason": "blue headings",
            "confidence": 0.8
        })
    }

    #[test]
    fn reads_a_well_formed_tool_input() {
        let proposal = read_tool_input(&good()).unwrap();
        assert_eq!(proposal.files_to_edit, ["css/style.css"]);
        assert_eq!(proposal.unified_diff, DIFF);
        assert_eq!(proposal.confidence, 0.8);
    }

    #[test]
    fn reads_a_tool_input_sent_as_a_json_string() {
        let input = Value::String(good().to_string());
        assert!(read_tool_input(&input).is_ok());
    }

    #[test]
    fn strips_fences_around_the_json_and_around_the_diff() {
        let mut value = good();
        value["unified_diff"] = Value::String(format!("```diff\n{DIFF}```\n"));
        let text = format!("```json\n{value}\n```");
        let proposal = read_text(&text).unwrap();
        assert_eq!(proposal.unified_diff, DIFF);
    }

    #[test]
    fn finds_the_object_inside_prose() {
        let text = format!("Here is my proposal:\n{}\nHope it helps.", good());
        assert!(read_text(&text).is_ok());
    }

    #[test]
    fn tool_input_that_is_not_json_is_a_problem_with_the_parser_detail() {
        let problem =
            read_tool_input(&Value::String("{\"files_to_edit\": [\"a.css\"".into())).unwrap_err();
        assert!(
            problem
                .to_string()
                .starts_with("the answer is not valid JSON ("),
            "{problem}"
        );
    }

    #[test]
    fn names_the_missing_unknown_and_mistyped_fields() {
        let mut missing = good();
        missing.as_object_mut().unwrap().remove("unified_diff");
        assert_eq!(
            read_value(&missing).unwrap_err().to_string(),
            "the answer lacks the field `unified_diff`"
        );
        let mut unknown = good();
        unknown["patch"] = json!("x");
        assert_eq!(
            read_value(&unknown).unwrap_err(),
            AnswerProblem::UnknownField("patch".into())
        );
        let mut mistyped = good();
        mistyped["confidence"] = json!("high");
        assert_eq!(
            read_value(&mistyped).unwrap_err().to_string(),
            "`confidence` must be a number from 0.0 to 1.0, but the answer has a string"
        );
        assert_eq!(
            read_value(&json!([1])).unwrap_err().to_string(),
            "the answer is JSON a list, not an object with files_to_edit, unified_diff, reason and confidence"
        );
    }

    #[test]
    fn runs_the_protocol_validation() {
        let mut outside = good();
        outside["files_to_edit"] = json!(["../secrets.txt"]);
        let problem = read_value(&outside).unwrap_err();
        assert!(
            problem.to_string().contains("leaves the workspace"),
            "{problem}"
        );
        let mut empty = good();
        empty["unified_diff"] = json!("  ");
        assert!(matches!(
            read_value(&empty).unwrap_err(),
            AnswerProblem::Invalid(_)
        ));
    }

    #[test]
    fn drops_a_leading_dot_slash_from_paths() {
        let mut value = good();
        value["files_to_edit"] = json!(["./css/style.css"]);
        assert_eq!(read_value(&value).unwrap().files_to_edit, ["css/style.css"]);
    }

    #[test]
    fn fences_inside_a_diff_are_content() {
        assert_eq!(strip_fences("a\n```\nb"), "a\n```\nb");
        assert_eq!(strip_fences("```\nx\n```"), "x\n");
    }
}

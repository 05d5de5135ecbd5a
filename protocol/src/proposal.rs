//! The proposer's answer (product ticket: strict JSON, snake_case) and its validation.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What a proposer returns. Only a proposal: the patch engine decides whether it applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// Workspace-relative paths (`/` separators) the diff may touch.
    pub files_to_edit: Vec<String>,
    pub unified_diff: String,
    pub reason: String,
    /// 0.0..=1.0
    pub confidence: f64,
}

/// Limits a proposal must respect before anything reads the diff.
pub const MAX_PROPOSAL_FILES: usize = 50;
pub const MAX_DIFF_BYTES: usize = 1024 * 1024;

/// Why a proposal is not acceptable, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalProblem {
    pub field: &'static str,
    pub value: String,
    pub message: String,
}

impl Proposal {
    /// Checks the shape of the proposal (not the diff's content, which is the patch engine's).
    pub fn validate(&self) -> Result<(), ProposalProblem> {
        let problem = |field: &'static str, value: &str, message: String| ProposalProblem {
            field,
            value: value.chars().take(200).collect(),
            message,
        };
        if self.files_to_edit.is_empty() {
            return Err(problem(
                "files_to_edit",
                "[]",
                "files_to_edit is empty".into(),
            ));
        }
        if self.files_to_edit.len() > MAX_PROPOSAL_FILES {
            return Err(problem(
                "files_to_edit",
                &self.files_to_edit.len().to_string(),
                format!("at most {MAX_PROPOSAL_FILES} files may be edited at once"),
            ));
        }
        for path in &self.files_to_edit {
            if let Err(why) = check_relative_path(path) {
                return Err(problem("files_to_edit", path, format!("{path:?}: {why}")));
            }
        }
        if self.unified_diff.trim().is_empty() {
            return Err(problem("unified_diff", "", "unified_diff is empty".into()));
        }
        if self.unified_diff.len() > MAX_DIFF_BYTES {
            return Err(problem(
                "unified_diff",
                &self.unified_diff.len().to_string(),
                format!("unified_diff is larger than {MAX_DIFF_BYTES} bytes"),
            ));
        }
        if !(0.0..=1.0).contains(&self.confidence) || self.confidence.is_nan() {
            return Err(problem(
                "confidence",
                &self.confidence.to_string(),
                "confidence must be between 0.0 and 1.0".into(),
            ));
        }
        Ok(())
    }
}

/// A workspace path in a wire type must be relative, `/`-separated and stay inside the
/// workspace. Returns why not.
pub fn check_relative_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("path is empty");
    }
    if path.contains('\\') {
        return Err("path uses a backslash; use '/'");
    }
    if path.starts_with('/') || path.as_bytes().get(1) == Some(&b':') {
        return Err("path is absolute; it must be relative to the workspace");
    }
    if path.chars().any(char::is_control) {
        return Err("path contains a control character");
    }
    if path.split('/').any(|part| part == "..") {
        return Err("path leaves the workspace ('..')");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal() -> Proposal {
        Proposal {
            files_to_edit: vec!["css/styles.css".into()],
            unified_diff: "--- a/css/styles.css\n+++ b/css/styles.css\n".into(),
            reason: "brand colour".into(),
            confidence: 0.8,
        }
    }

    #[test]
    fn accepts_a_well_formed_proposal() {
        assert_eq!(proposal().validate(), Ok(()));
    }

    #[test]
    fn rejects_parent_dir_in_files_to_edit() {
        let mut p = proposal();
        p.files_to_edit = vec!["../etc/passwd".into()];
        let problem = p.validate().unwrap_err();
        assert_eq!(problem.field, "files_to_edit");
        assert!(
            problem.message.contains("leaves the workspace"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn rejects_absolute_and_windows_paths() {
        for path in ["/etc/passwd", "C:/x.css", "css\\a.css"] {
            let mut p = proposal();
            p.files_to_edit = vec![path.into()];
            assert!(p.validate().is_err(), "{path} accepted");
        }
    }

    #[test]
    fn rejects_confidence_out_of_range() {
        let mut p = proposal();
        p.confidence = 1.5;
        assert_eq!(p.validate().unwrap_err().field, "confidence");
    }

    #[test]
    fn rejects_unknown_fields_when_parsing() {
        let text = r#"{"files_to_edit":["a.css"],"unified_diff":"x","reason":"r","confidence":0.5,"extra":1}"#;
        assert!(serde_json::from_str::<Proposal>(text).is_err());
    }
}

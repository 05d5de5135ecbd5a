//! The commit message of an applied patch and of a rollback, without IO. The first line is
//! the instruction (DESIGN.md: "the message's first line is the instruction"); the proposal's
//! reason follows as the body; `Devflow-*` trailers close it, in the form
//! `git interpret-trailers` and `git log --format=%(trailers)` read.

/// One `Key: value` line of the trailer block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    pub key: &'static str,
    pub value: String,
}

/// A commit message: subject line, body paragraphs, trailers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitMessage {
    pub subject: String,
    pub paragraphs: Vec<String>,
    pub trailers: Vec<Trailer>,
}

/// What one applied patch's commit says.
#[derive(Debug, Clone, Copy)]
pub struct PatchCommit<'a> {
    /// The instruction, or a manual patch's description.
    pub instruction: &'a str,
    /// Why the proposer changed what it changed.
    pub reason: Option<&'a str>,
    pub command_id: &'a str,
    pub patch_id: &'a str,
    /// `builtin`, `bedrock`, `openai`, or `manual` for a person's own diff.
    pub proposer: &'a str,
    /// The model that proposed it; `None` for the builtin proposer and manual patches.
    pub model: Option<&'a str>,
    /// The proposer's confidence; `None` for manual patches.
    pub confidence: Option<f64>,
}

/// What a rollback's commit says.
#[derive(Debug, Clone, Copy)]
pub struct RollbackCommit<'a> {
    /// The instruction of the command whose patch is rolled back.
    pub instruction: &'a str,
    pub command_id: &'a str,
    pub patch_id: &'a str,
}

/// Subject of a command without a usable first line.
const MANUAL_SUBJECT: &str = "Manual patch";

impl CommitMessage {
    pub fn for_patch(patch: &PatchCommit<'_>) -> CommitMessage {
        let (subject, rest) = split_instruction(patch.instruction);
        let mut paragraphs: Vec<String> = rest.into_iter().collect();
        if let Some(reason) = patch.reason.map(str::trim).filter(|r| !r.is_empty()) {
            if reason != subject {
                paragraphs.push(reason.replace('\r', ""));
            }
        }
        let mut trailers = vec![
            trailer("Devflow-Command", patch.command_id),
            trailer("Devflow-Patch", patch.patch_id),
            trailer("Devflow-Proposer", patch.proposer),
        ];
        if let Some(model) = patch.model.filter(|m| !m.trim().is_empty()) {
            trailers.push(trailer("Devflow-Model", model));
        }
        if let Some(confidence) = patch.confidence {
            trailers.push(trailer("Devflow-Confidence", &format!("{confidence:.2}")));
        }
        CommitMessage {
            subject,
            paragraphs,
            trailers,
        }
    }

    pub fn for_rollback(rollback: &RollbackCommit<'_>) -> CommitMessage {
        let (instruction, _) = split_instruction(rollback.instruction);
        CommitMessage {
            subject: format!("Roll back {}: {instruction}", rollback.patch_id),
            paragraphs: vec![format!(
                "The files this patch changed are back to their contents before it (command {}).",
                rollback.command_id
            )],
            trailers: vec![
                trailer("Devflow-Command", rollback.command_id),
                trailer("Devflow-Rollback-Of", rollback.patch_id),
            ],
        }
    }

    /// The message as git stores it: subject, blank line, paragraphs, trailers, final newline.
    pub fn render(&self) -> String {
        let mut text = self.subject.clone();
        text.push('\n');
        for paragraph in &self.paragraphs {
            text.push('\n');
            text.push_str(paragraph.trim_end());
            text.push('\n');
        }
        if !self.trailers.is_empty() {
            text.push('\n');
            for trailer in &self.trailers {
                text.push_str(trailer.key);
                text.push_str(": ");
                text.push_str(&trailer.value);
                text.push('\n');
            }
        }
        text
    }
}

/// The first non-empty line as the subject; the remaining lines, if any, as one paragraph.
fn split_instruction(instruction: &str) -> (String, Option<String>) {
    let text = instruction.replace('\r', "");
    let mut lines = text.lines().skip_while(|line| line.trim().is_empty());
    let subject = lines
        .next()
        .map(|line| line.trim().to_string())
        .unwrap_or_else(|| MANUAL_SUBJECT.to_string());
    let rest: Vec<&str> = lines.collect();
    let rest = rest.join("\n").trim().to_string();
    (subject, (!rest.is_empty()).then_some(rest))
}

/// A trailer value is one line: any line break would end the trailer block.
fn trailer(key: &'static str, value: &str) -> Trailer {
    Trailer {
        key,
        value: value.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_commit_is_instruction_reason_and_trailers() {
        let message = CommitMessage::for_patch(&PatchCommit {
            instruction: "make the buttons red",
            reason: Some("Buttons now use #dc3545 as their background."),
            command_id: "c-1",
            patch_id: "p-1",
            proposer: "bedrock",
            model: Some("us.amazon.nova-pro-v1:0"),
            confidence: Some(0.8),
        });
        assert_eq!(
            message.render(),
            "make the buttons red\n\nButtons now use #dc3545 as their background.\n\n\
             Devflow-Command: c-1\nDevflow-Patch: p-1\nDevflow-Proposer: bedrock\n\
             Devflow-Model: us.amazon.nova-pro-v1:0\nDevflow-Confidence: 0.80\n"
        );
    }

    #[test]
    fn a_manual_patch_without_model_or_confidence_has_no_such_trailers() {
        let message = CommitMessage::for_patch(&PatchCommit {
            instruction: "shorter sidebar",
            reason: Some("shorter sidebar"),
            command_id: "c-2",
            patch_id: "p-2",
            proposer: "manual",
            model: None,
            confidence: None,
        });
        assert_eq!(
            message.render(),
            "shorter sidebar\n\nDevflow-Command: c-2\nDevflow-Patch: p-2\nDevflow-Proposer: manual\n"
        );
    }

    #[test]
    fn a_multi_line_instruction_keeps_its_first_line_as_subject() {
        let message = CommitMessage::for_patch(&PatchCommit {
            instruction: "\r\n  見出しをもっと大きく \r\nそして太く\n",
            reason: None,
            command_id: "c",
            patch_id: "p",
            proposer: "builtin",
            model: None,
            confidence: Some(0.9),
        });
        assert_eq!(message.subject, "見出しをもっと大きく");
        assert_eq!(message.paragraphs, vec!["そして太く".to_string()]);
    }

    #[test]
    fn an_empty_instruction_becomes_manual_patch() {
        let (subject, rest) = split_instruction("  \n ");
        assert_eq!((subject.as_str(), rest), ("Manual patch", None));
    }

    #[test]
    fn trailer_values_never_break_the_trailer_block() {
        let message = CommitMessage::for_patch(&PatchCommit {
            instruction: "x",
            reason: None,
            command_id: "c",
            patch_id: "p",
            proposer: "openai",
            model: Some("qwen\n2.5"),
            confidence: None,
        });
        assert!(message.render().ends_with("Devflow-Model: qwen 2.5\n"));
    }

    #[test]
    fn a_rollback_names_the_patch_and_the_instruction() {
        let message = CommitMessage::for_rollback(&RollbackCommit {
            instruction: "make the buttons red\nplease",
            command_id: "c-1",
            patch_id: "p-1",
        });
        let text = message.render();
        assert!(
            text.starts_with("Roll back p-1: make the buttons red\n\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\n\nDevflow-Command: c-1\nDevflow-Rollback-Of: p-1\n"),
            "{text}"
        );
    }
}

//! devflow-builtin: the offline proposer. Reads a design instruction in English or Japanese,
//! resolves its words against the reference tokens and the site's selectors, and answers with
//! the same [`Proposal`] the model proposers return (diff made with `similar`, reason in the
//! instruction's language, confidence). Pure and deterministic: no IO, no clock; what it
//! cannot read is answered with [`NotUnderstood`], never with a guess.

mod answer;
mod candidates;
mod edits;
mod intent;
mod markup;
mod plan;
mod properties;
mod selector;
mod site;
mod snap;
mod stylesheet;
mod subject;
mod tokens;
mod values;

use devflow_protocol::{Proposal, ResolvedToken, Target};
use devflow_reference::SourceFile;

pub use answer::{NotUnderstood, NotUnderstoodKind};
pub use candidates::{
    choice_note, fallback_note, instruction_lang, snap_candidates, Candidate, CandidateScore,
    SnapVariant,
};
pub use intent::Lang;

/// Everything the built-in proposer needs for one command.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesignRequest {
    /// The person's instruction, as typed.
    pub instruction: String,
    /// The element the person pointed at, which narrows the instruction to it.
    pub target: Option<Target>,
    /// The session prompt (style guidance); a colour it names is used when the instruction
    /// refers to "the brand colour" and the reference has no colour tokens.
    pub prompt: String,
    /// The reference's resolved tokens; may be empty.
    pub tokens: Vec<ResolvedToken>,
    /// The site's text files (CSS, HTML, scripts), paths relative to the workspace with `/`.
    pub files: Vec<SourceFile>,
}

/// Proposes a change of the site's CSS for the instruction, or says why it cannot.
pub fn propose(request: &DesignRequest) -> Result<Proposal, NotUnderstood> {
    plan::propose(request)
}

/// Whether the instruction asks to match the reference ("match the reference", "use the
/// design tokens", 「トークンに合わせて」): the instructions this proposer answers by snapping
/// off-token values to their nearest tokens. Read with the same phrase matcher as
/// [`propose`], so the daemon can treat such commands alike whichever proposer runs them.
pub fn is_match_reference_instruction(instruction: &str) -> bool {
    matches!(
        intent::read(instruction),
        Ok(intent::Intent {
            change: intent::Change::Snap,
            ..
        })
    )
}

#[cfg(test)]
mod tests {
    use super::is_match_reference_instruction;

    #[test]
    fn tells_match_the_reference_instructions_in_both_languages() {
        for yes in [
            "match the reference",
            "use the design tokens",
            "Snap everything to the design tokens as CSS custom properties",
            "トークンに合わせて",
            "リファレンスに合わせて",
            "デザインシステム通りにして",
        ] {
            assert!(is_match_reference_instruction(yes), "{yes}");
        }
        for no in [
            "make the buttons the brand primary",
            "bigger headings",
            "make the buttons #ff0000",
            "round the corners",
            "ボタンをブランドカラーに",
            "見出しを大きく",
            "",
        ] {
            assert!(!is_match_reference_instruction(no), "{no}");
        }
    }
}

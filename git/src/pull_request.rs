//! The pull request's title and body, without IO: every instruction of the session in order,
//! the proposer's reason for each patch, and the drift score (the site's fidelity to the
//! reference, 1 = fully on it) before and after each change and over the whole branch.
//! Invariant: the body stays under GitHub's 65 536-character limit, and text from
//! instructions or models cannot @-mention anyone.

/// GitHub refuses bodies over 65 536 characters; keep a margin for the footer.
const MAX_BODY_CHARS: usize = 60_000;
/// A reason longer than this is cut; the commit keeps it whole.
const MAX_REASON_CHARS: usize = 2_000;
/// GitHub shows titles up to 256 characters.
const MAX_TITLE_CHARS: usize = 120;

/// One command whose patch is on the work branch.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub instruction: String,
    pub reason: Option<String>,
    pub command_id: String,
    pub patch_id: String,
    pub drift_before: Option<f64>,
    pub drift_after: Option<f64>,
    /// Rolled back later (the branch has a commit restoring its files).
    pub rolled_back: bool,
}

/// What the body describes.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub session_name: String,
    pub session_id: String,
    pub branch: String,
    /// Oldest first.
    pub changes: Vec<Change>,
}

/// The title when the caller gives none: the one instruction, or a count.
pub fn default_title(summary: &Summary) -> String {
    let applied: Vec<&Change> = summary.changes.iter().filter(|c| !c.rolled_back).collect();
    let title = match applied.as_slice() {
        [only] => first_line(&only.instruction),
        _ => format!(
            "Design changes from devflow: {} ({} change{})",
            summary.session_name,
            applied.len(),
            if applied.len() == 1 { "" } else { "s" }
        ),
    };
    cut(&title, MAX_TITLE_CHARS)
}

/// The body in GitHub markdown.
pub fn render_body(summary: &Summary) -> String {
    let mut body = format!(
        "Design changes made with devflow in session \"{}\" (`{}`), one commit per change on `{}`.\n",
        quiet(&summary.session_name),
        summary.session_id,
        summary.branch
    );
    let mut left_out = 0usize;
    for (index, change) in summary.changes.iter().enumerate() {
        let section = render_change(index + 1, change);
        if body.len() + section.len() > MAX_BODY_CHARS {
            left_out = summary.changes.len() - index;
            break;
        }
        body.push_str(&section);
    }
    if left_out > 0 {
        body.push_str(&format!(
            "\n_{left_out} more change{} not shown here; each is a commit on the branch._\n",
            if left_out == 1 { " is" } else { "s are" }
        ));
    }
    let applied: Vec<&Change> = summary.changes.iter().filter(|c| !c.rolled_back).collect();
    let first = applied.iter().find_map(|c| c.drift_before);
    let last = applied.iter().rev().find_map(|c| c.drift_after);
    body.push_str("\n---\n");
    if let (Some(first), Some(last)) = (first, last) {
        body.push_str(&format!(
            "Drift score over the applied changes: {first:.2} → {last:.2} (1 = fully on the reference).\n"
        ));
    }
    body.push_str(&format!(
        "{} applied, {} rolled back. Each commit carries `Devflow-Command`, `Devflow-Proposer`, `Devflow-Model` and `Devflow-Confidence` trailers.\n",
        applied.len(),
        summary.changes.len() - applied.len()
    ));
    body
}

fn render_change(number: usize, change: &Change) -> String {
    let mut section = format!(
        "\n### {number}. {}",
        quiet(&first_line(&change.instruction))
    );
    if change.rolled_back {
        section.push_str(" (rolled back)");
    }
    section.push('\n');
    let rest: Vec<&str> = change.instruction.lines().skip(1).collect();
    let rest = rest.join("\n");
    if !rest.trim().is_empty() {
        section.push_str(&format!("\n{}\n", quoted(&quiet(rest.trim()))));
    }
    if let Some(reason) = change
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        section.push_str(&format!("\n{}\n", quiet(&cut(reason, MAX_REASON_CHARS))));
    }
    match (change.drift_before, change.drift_after) {
        (Some(before), Some(after)) => {
            let direction = if after > before {
                "closer to the reference"
            } else if after < before {
                "further from the reference"
            } else {
                "unchanged"
            };
            section.push_str(&format!(
                "\nDrift score: {before:.2} → {after:.2} ({direction}).\n"
            ));
        }
        _ => section.push_str("\nDrift score: no reference was set.\n"),
    }
    section.push_str(&format!(
        "\n<sub>command `{}` · patch `{}`</sub>\n",
        change.command_id, change.patch_id
    ));
    section
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("Manual patch")
        .to_string()
}

fn quoted(text: &str) -> String {
    text.lines()
        .map(|line| format!("> {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An `@` followed by a zero-width space: shown the same, notifies no one.
fn quiet(text: &str) -> String {
    text.replace('@', "@\u{200B}")
}

fn cut(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(instruction: &str, before: f64, after: f64, rolled_back: bool) -> Change {
        Change {
            instruction: instruction.into(),
            reason: Some(format!("did: {instruction}")),
            command_id: format!("cmd-{instruction}"),
            patch_id: format!("patch-{instruction}"),
            drift_before: Some(before),
            drift_after: Some(after),
            rolled_back,
        }
    }

    fn summary(changes: Vec<Change>) -> Summary {
        Summary {
            session_name: "simple-sidebar".into(),
            session_id: "3f0c1a2b-0000".into(),
            branch: "devflow/3f0c1a2b".into(),
            changes,
        }
    }

    #[test]
    fn the_body_lists_every_instruction_with_reason_and_drift() {
        let body = render_body(&summary(vec![
            change("make the buttons red", 0.5, 0.625, false),
            change("round the corners", 0.625, 0.6, true),
        ]));
        assert_eq!(
            body,
            "Design changes made with devflow in session \"simple-sidebar\" (`3f0c1a2b-0000`), one commit per change on `devflow/3f0c1a2b`.\n\
             \n### 1. make the buttons red\n\ndid: make the buttons red\n\
             \nDrift score: 0.50 → 0.62 (closer to the reference).\n\
             \n<sub>command `cmd-make the buttons red` · patch `patch-make the buttons red`</sub>\n\
             \n### 2. round the corners (rolled back)\n\ndid: round the corners\n\
             \nDrift score: 0.62 → 0.60 (further from the reference).\n\
             \n<sub>command `cmd-round the corners` · patch `patch-round the corners`</sub>\n\
             \n---\nDrift score over the applied changes: 0.50 → 0.62 (1 = fully on the reference).\n\
             1 applied, 1 rolled back. Each commit carries `Devflow-Command`, `Devflow-Proposer`, `Devflow-Model` and `Devflow-Confidence` trailers.\n"
        );
    }

    #[test]
    fn the_default_title_is_the_only_instruction_or_a_count() {
        let one = summary(vec![
            change("make the buttons red", 0.5, 0.6, false),
            change("round", 0.6, 0.6, true),
        ]);
        assert_eq!(default_title(&one), "make the buttons red");
        let two = summary(vec![
            change("a", 0.5, 0.6, false),
            change("b", 0.6, 0.7, false),
        ]);
        assert_eq!(
            default_title(&two),
            "Design changes from devflow: simple-sidebar (2 changes)"
        );
    }

    #[test]
    fn mentions_in_instructions_notify_no_one() {
        let body = render_body(&summary(vec![Change {
            command_id: "c-1".into(),
            patch_id: "p-1".into(),
            ..change("ask @octocat", 0.5, 0.5, false)
        }]));
        assert!(!body.contains("@octocat"), "{body}");
        assert!(body.contains("@\u{200B}octocat"));
    }

    #[test]
    fn a_huge_session_stays_under_githubs_limit() {
        let changes = (0..400)
            .map(|i| Change {
                reason: Some("x".repeat(5_000)),
                ..change(&format!("change {i}"), 0.5, 0.5, false)
            })
            .collect();
        let body = render_body(&summary(changes));
        assert!(body.chars().count() < 65_536, "{}", body.len());
        assert!(body.contains("more changes are not shown here"));
    }
}

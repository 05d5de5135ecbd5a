//! The command-history cursor: opaque to clients, checked on the way back in. It means
//! "this session's commands submitted before row N". The `c1.` prefix versions the format, and
//! only the exact string [`encode`] would produce is accepted, so a hand-edited, truncated or
//! other session's cursor is [`StoreError::InvalidCursor`], never a silently different page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::StoreError;

const PREFIX: &str = "c1.";

/// The cursor for the page of `session_id`'s commands whose row id is below `before`.
pub(super) fn encode(session_id: &str, before: i64) -> String {
    format!(
        "{PREFIX}{}",
        URL_SAFE_NO_PAD.encode(format!("{before}:{session_id}"))
    )
}

/// The row id a cursor that [`encode`] gave out for `session_id` points below.
pub(super) fn decode(session_id: &str, cursor: &str) -> Result<i64, StoreError> {
    let payload = cursor
        .strip_prefix(PREFIX)
        .ok_or(StoreError::InvalidCursor)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| StoreError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    let (before, owner) = text.split_once(':').ok_or(StoreError::InvalidCursor)?;
    let before: i64 = before.parse().map_err(|_| StoreError::InvalidCursor)?;
    // Re-encoding rejects every non-canonical spelling ("+5", "05", padding, trailing bits).
    if owner != session_id || before < 1 || encode(session_id, before) != cursor {
        return Err(StoreError::InvalidCursor);
    }
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_is_url_safe() {
        for before in [1, 2, 45, 1 << 40, i64::MAX] {
            let cursor = encode("7d0c5e1a-session", before);
            assert!(
                cursor
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{cursor}"
            );
            assert_eq!(decode("7d0c5e1a-session", &cursor).expect("decode"), before);
        }
    }

    #[test]
    fn garbage_and_other_sessions_cursors_are_invalid() {
        let good = encode("s1", 42);
        let payload = |text: &str| format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(text));
        let bad = [
            String::new(),
            "garbage".to_string(),
            "c1.".to_string(),
            "c1.!!!!".to_string(),
            good.replacen("c1.", "c2.", 1),
            format!("{good}="),
            good[..good.len() - 2].to_string(),
            encode("s2", 42),
            payload("+42:s1"),
            payload("042:s1"),
            payload("0:s1"),
            payload("-3:s1"),
            payload("42"),
            payload("x:s1"),
        ];
        for cursor in bad {
            assert!(
                matches!(decode("s1", &cursor), Err(StoreError::InvalidCursor)),
                "{cursor:?} was accepted"
            );
        }
    }
}

//! The command-history cursor of the DynamoDB store: opaque to clients, checked on the way
//! back in. It means "this session's commands first stored before instant N" (the
//! `submitted` sort key of the `bySubmitted` index). The `d1.` prefix versions the format;
//! only the exact string [`encode`] would produce is accepted, so a hand-edited, truncated or
//! other session's cursor is [`StoreError::InvalidCursor`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use devflow_store::StoreError;

const PREFIX: &str = "d1.";

/// The cursor for the page of `session_id`'s commands submitted before `before`.
pub(crate) fn encode(session_id: &str, before: u64) -> String {
    format!(
        "{PREFIX}{}",
        URL_SAFE_NO_PAD.encode(format!("{before}:{session_id}"))
    )
}

/// The `submitted` instant a cursor that [`encode`] gave out for `session_id` points below.
pub(crate) fn decode(session_id: &str, cursor: &str) -> Result<u64, StoreError> {
    let payload = cursor
        .strip_prefix(PREFIX)
        .ok_or(StoreError::InvalidCursor)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| StoreError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    let (before, owner) = text.split_once(':').ok_or(StoreError::InvalidCursor)?;
    let before: u64 = before.parse().map_err(|_| StoreError::InvalidCursor)?;
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
        for before in [1, 2, 1_700_000_000_000_000_000, u64::MAX] {
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
        for bad in [
            String::new(),
            "d1.".into(),
            good.replacen("d1.", "c1.", 1),
            format!("{good}="),
            payload("042:s1"),
            payload("+42:s1"),
            payload("0:s1"),
            payload("-1:s1"),
            payload("42"),
            encode("s2", 42),
        ] {
            assert!(
                matches!(decode("s1", &bad), Err(StoreError::InvalidCursor)),
                "{bad:?}"
            );
        }
    }
}

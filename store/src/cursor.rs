//! The command-history cursor every [`Store`](crate::Store) backend gives out: opaque to
//! clients, checked on the way back in. It means "this session's commands ordered before
//! position N", where each backend says what a position is (a row id in SQLite, a
//! store-order instant in DynamoDB) and names it with its own versioned prefix (`c1.`,
//! `d1.`), so one backend never reads another's cursor as a position of its own. Only the
//! exact string [`HistoryCursor::encode`] would produce is accepted: a hand-edited, truncated,
//! other-format or other session's cursor is [`StoreError::InvalidCursor`], never a silently
//! different page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::StoreError;

/// One backend's cursor format: its prefix and the positions (≥ 1) it encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryCursor {
    prefix: &'static str,
}

impl HistoryCursor {
    /// The format whose cursors start with `prefix` (the backend and format version, e.g.
    /// `c1.`).
    pub const fn new(prefix: &'static str) -> HistoryCursor {
        HistoryCursor { prefix }
    }

    /// The cursor for the page of `session_id`'s commands before position `before`.
    pub fn encode(&self, session_id: &str, before: u64) -> String {
        format!(
            "{}{}",
            self.prefix,
            URL_SAFE_NO_PAD.encode(format!("{before}:{session_id}"))
        )
    }

    /// The position a cursor that [`HistoryCursor::encode`] gave out for `session_id`
    /// points before.
    pub fn decode(&self, session_id: &str, cursor: &str) -> Result<u64, StoreError> {
        let payload = cursor
            .strip_prefix(self.prefix)
            .ok_or(StoreError::InvalidCursor)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| StoreError::InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
        let (before, owner) = text.split_once(':').ok_or(StoreError::InvalidCursor)?;
        let before: u64 = before.parse().map_err(|_| StoreError::InvalidCursor)?;
        // Re-encoding rejects every non-canonical spelling ("+5", "05", padding, trailing bits).
        if owner != session_id || before < 1 || self.encode(session_id, before) != cursor {
            return Err(StoreError::InvalidCursor);
        }
        Ok(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORMATS: [HistoryCursor; 2] = [HistoryCursor::new("c1."), HistoryCursor::new("d1.")];

    #[test]
    fn cursor_round_trips_and_is_url_safe() {
        for format in FORMATS {
            for before in [
                1,
                2,
                45,
                1 << 40,
                i64::MAX as u64,
                1_700_000_000_000_000_000,
                u64::MAX,
            ] {
                let cursor = format.encode("7d0c5e1a-session", before);
                assert!(
                    cursor
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                    "{cursor}"
                );
                assert_eq!(
                    format.decode("7d0c5e1a-session", &cursor).expect("decode"),
                    before
                );
            }
        }
    }

    #[test]
    fn garbage_other_formats_and_other_sessions_cursors_are_invalid() {
        for (format, other) in [(FORMATS[0], FORMATS[1]), (FORMATS[1], FORMATS[0])] {
            let prefix = format.prefix;
            let good = format.encode("s1", 42);
            let payload = |text: &str| format!("{prefix}{}", URL_SAFE_NO_PAD.encode(text));
            let bad = [
                String::new(),
                "garbage".to_string(),
                prefix.to_string(),
                format!("{prefix}!!!!"),
                good.replacen(prefix, "x9.", 1),
                other.encode("s1", 42),
                format!("{good}="),
                good[..good.len() - 2].to_string(),
                format.encode("s2", 42),
                payload("+42:s1"),
                payload("042:s1"),
                payload("0:s1"),
                payload("-3:s1"),
                payload("42"),
                payload("x:s1"),
                payload("18446744073709551616:s1"),
            ];
            for cursor in bad {
                assert!(
                    matches!(format.decode("s1", &cursor), Err(StoreError::InvalidCursor)),
                    "{prefix}: {cursor:?} was accepted"
                );
            }
        }
    }
}

//! Editor grants: what lets a browser into one session's IDE. A grant is
//! `<expiry>.<nonce>.<signature>`, the signature an HMAC-SHA256 (daemon secret) over its
//! kind, the session id, the expiry and the nonce, so it cannot be stretched, moved to
//! another session or turned from a cookie into a link, and no two grants are the same.
//! Pure: the secret, the clock and the nonce are arguments.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of the daemon secret (kept 0600 in the state dir by [`super::load_or_create_secret`]).
pub const SECRET_LEN: usize = 32;

/// What a grant is for. A link grant travels in `editorUrl`; a cookie grant is what the
/// first use of a link is exchanged for. Signed apart, one cannot stand in for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    Link,
    Cookie,
}

impl GrantKind {
    fn label(self) -> &'static str {
        match self {
            GrantKind::Link => "link",
            GrantKind::Cookie => "cookie",
        }
    }
}

/// Why a grant was refused. Every variant is a 401 for the browser; the message says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("the editor link is malformed; ask the daemon for a fresh one (GET /sessions/{{id}}/editor)")]
    Malformed,
    #[error("the editor link was not signed by this daemon for this session; ask for a fresh one (GET /sessions/{{id}}/editor)")]
    BadSignature,
    #[error("the editor link expired at {expired_at} (unix seconds); ask for a fresh one (GET /sessions/{{id}}/editor)")]
    Expired { expired_at: i64 },
}

/// Random bytes that make each grant distinct.
pub type Nonce = [u8; 12];

/// A signed grant for `session_id` valid until `expires_at` (unix seconds, exclusive).
pub fn sign(
    secret: &[u8],
    kind: GrantKind,
    session_id: &str,
    expires_at: i64,
    nonce: &Nonce,
) -> String {
    let signature = mac(secret, kind, session_id, expires_at, nonce)
        .finalize()
        .into_bytes();
    format!(
        "{expires_at}.{}.{}",
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Checks a grant for `session_id` at `now` (unix seconds); returns its expiry. The
/// signature is checked first (in constant time), so a forged grant learns nothing about
/// expiry handling.
pub fn verify(
    secret: &[u8],
    kind: GrantKind,
    session_id: &str,
    grant: &str,
    now: i64,
) -> Result<i64, GrantError> {
    let mut parts = grant.split('.');
    let (Some(expiry), Some(nonce), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(GrantError::Malformed);
    };
    // Digits only: `+5`, ` 5` or `05` would parse to the same number as another grant's text.
    if expiry.is_empty()
        || expiry.len() > 12
        || !expiry.bytes().all(|b| b.is_ascii_digit())
        || (expiry.len() > 1 && expiry.starts_with('0'))
    {
        return Err(GrantError::Malformed);
    }
    let expires_at: i64 = expiry.parse().map_err(|_| GrantError::Malformed)?;
    let nonce: Nonce = URL_SAFE_NO_PAD
        .decode(nonce)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(GrantError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| GrantError::Malformed)?;
    mac(secret, kind, session_id, expires_at, &nonce)
        .verify_slice(&signature)
        .map_err(|_| GrantError::BadSignature)?;
    if now >= expires_at {
        return Err(GrantError::Expired {
            expired_at: expires_at,
        });
    }
    Ok(expires_at)
}

fn mac(
    secret: &[u8],
    kind: GrantKind,
    session_id: &str,
    expires_at: i64,
    nonce: &Nonce,
) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    // NUL-separated: a session id never contains NUL, so no two inputs share a message.
    mac.update(b"devflow-editor-grant-v1\0");
    mac.update(kind.label().as_bytes());
    mac.update(b"\0");
    mac.update(session_id.as_bytes());
    mac.update(b"\0");
    mac.update(expires_at.to_string().as_bytes());
    mac.update(b"\0");
    mac.update(nonce);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; SECRET_LEN] = [7; SECRET_LEN];
    const SESSION: &str = "0b5c1e9e-3f7a-4c1d-9a57-2b1f0c6d8e21";
    const OTHER: &str = "5d0f6a1c-8e2b-4b7d-a3c9-1e6f2d4b7a90";
    const NONCE: Nonce = [3; 12];

    #[test]
    fn a_fresh_grant_opens_its_session_until_it_expires() {
        let grant = sign(&SECRET, GrantKind::Link, SESSION, 1_000, &NONCE);
        assert_eq!(
            verify(&SECRET, GrantKind::Link, SESSION, &grant, 999),
            Ok(1_000)
        );
        assert_eq!(
            verify(&SECRET, GrantKind::Link, SESSION, &grant, 1_000),
            Err(GrantError::Expired { expired_at: 1_000 })
        );
        assert_eq!(
            verify(&SECRET, GrantKind::Link, SESSION, &grant, 5_000),
            Err(GrantError::Expired { expired_at: 1_000 })
        );
    }

    #[test]
    fn grants_differ_by_nonce_and_a_swapped_nonce_breaks_the_signature() {
        let one = sign(&SECRET, GrantKind::Link, SESSION, 1_000, &NONCE);
        let two = sign(&SECRET, GrantKind::Link, SESSION, 1_000, &[4; 12]);
        assert_ne!(one, two);
        assert_eq!(
            verify(&SECRET, GrantKind::Link, SESSION, &two, 10),
            Ok(1_000)
        );
        let one_parts: Vec<&str> = one.split('.').collect();
        let two_parts: Vec<&str> = two.split('.').collect();
        let swapped = format!("{}.{}.{}", one_parts[0], two_parts[1], one_parts[2]);
        assert_eq!(
            verify(&SECRET, GrantKind::Link, SESSION, &swapped, 10),
            Err(GrantError::BadSignature)
        );
    }

    #[test]
    fn another_sessions_grant_is_refused() {
        let grant = sign(&SECRET, GrantKind::Link, OTHER, 1_000, &NONCE);
        assert_eq!(
            verify(&SECRET, GrantKind::Link, SESSION, &grant, 10),
            Err(GrantError::BadSignature)
        );
    }

    #[test]
    fn a_stretched_expiry_breaks_the_signature() {
        let grant = sign(&SECRET, GrantKind::Link, SESSION, 1_000, &NONCE);
        let (_, nonce_and_signature) = grant.split_once('.').unwrap();
        let stretched = format!("999999.{nonce_and_signature}");
        assert_eq!(
            verify(&SECRET, GrantKind::Link, SESSION, &stretched, 10),
            Err(GrantError::BadSignature)
        );
    }

    #[test]
    fn a_flipped_signature_character_is_refused() {
        let grant = sign(&SECRET, GrantKind::Link, SESSION, 1_000, &NONCE);
        // A middle character: the last one also carries padding bits a decoder checks.
        let at = grant.len() - 10;
        let flipped = format!(
            "{}{}{}",
            &grant[..at],
            if &grant[at..=at] == "A" { 'B' } else { 'A' },
            &grant[at + 1..]
        );
        assert_ne!(flipped, grant);
        assert_eq!(
            verify(&SECRET, GrantKind::Link, SESSION, &flipped, 10),
            Err(GrantError::BadSignature)
        );
    }

    #[test]
    fn a_grant_from_another_secret_is_refused() {
        let grant = sign(&[8; SECRET_LEN], GrantKind::Link, SESSION, 1_000, &NONCE);
        assert_eq!(
            verify(&SECRET, GrantKind::Link, SESSION, &grant, 10),
            Err(GrantError::BadSignature)
        );
    }

    #[test]
    fn a_cookie_grant_is_no_link_and_a_link_no_cookie() {
        let cookie = sign(&SECRET, GrantKind::Cookie, SESSION, 1_000, &NONCE);
        assert_eq!(
            verify(&SECRET, GrantKind::Link, SESSION, &cookie, 10),
            Err(GrantError::BadSignature)
        );
        let link = sign(&SECRET, GrantKind::Link, SESSION, 1_000, &NONCE);
        assert_eq!(
            verify(&SECRET, GrantKind::Cookie, SESSION, &link, 10),
            Err(GrantError::BadSignature)
        );
    }

    #[test]
    fn malformed_grants_are_refused_before_any_signature_check() {
        let grant = sign(&SECRET, GrantKind::Link, SESSION, 1_000, &NONCE);
        let (_, rest) = grant.split_once('.').unwrap();
        let (nonce, signature) = rest.split_once('.').unwrap();
        for bad in [
            String::new(),
            "1000".to_string(),
            format!("1000.{signature}"),
            format!("1000.{rest}.x"),
            format!("+1000.{rest}"),
            format!("01000.{rest}"),
            format!(" 1000.{rest}"),
            format!("-5.{rest}"),
            format!(".{rest}"),
            format!("1000.{nonce}.not base64!"),
            format!("1000.AAAA.{signature}"),
            format!("1234567890123.{rest}"),
        ] {
            assert_eq!(
                verify(&SECRET, GrantKind::Link, SESSION, &bad, 10),
                Err(GrantError::Malformed),
                "{bad:?}"
            );
        }
    }
}

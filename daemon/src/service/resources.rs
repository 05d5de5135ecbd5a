//! `resource/read`: a command's picture or a reference screen by the URL the daemon gave out
//! for it, as base64 — for hosts that cannot load the daemon's HTTP URLs (an editor's webview
//! over `devflow lsp`, where there is no HTTP server). The URL is only parsed, never fetched:
//! it names one of the two HTTP routes, and the same service calls those routes make answer.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use devflow_protocol::{ErrorCode, ReadResourceParams, ResourceContent, MAX_RESOURCE_BYTES};
use tracing::Instrument as _;

use super::{Result, Service};
use crate::error::ServiceError;

/// What a resource URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    /// `/sessions/{id}/screenshots/{commandId}/{file}`
    Picture {
        session_id: String,
        command_id: String,
        file: String,
    },
    /// `/sessions/{id}/reference/screens/{name}` (the name may hold slashes)
    ReferenceScreen { session_id: String, name: String },
}

impl Resource {
    fn session_id(&self) -> &str {
        match self {
            Resource::Picture { session_id, .. } | Resource::ReferenceScreen { session_id, .. } => {
                session_id
            }
        }
    }
}

impl Service {
    pub async fn read_resource(&self, params: ReadResourceParams) -> Result<ResourceContent> {
        let resource = parse_resource_url(&params.url, &self.config().public_base_url)
            .map_err(|why| ServiceError::invalid("url", params.url.as_str(), why))?;
        let span = tracing::info_span!("resource_read", session_id = resource.session_id());
        async move {
            let (media_type, bytes) = match &resource {
                Resource::Picture {
                    session_id,
                    command_id,
                    file,
                } => {
                    let png = self.command_picture(session_id, command_id, file).await?;
                    ("image/png".to_string(), png.to_vec())
                }
                Resource::ReferenceScreen { session_id, name } => {
                    self.reference_screen(session_id, name).await?
                }
            };
            if bytes.len() > MAX_RESOURCE_BYTES {
                return Err(ServiceError {
                    field: Some("url".into()),
                    value: Some(params.url.as_str().into()),
                    ..ServiceError::new(
                        ErrorCode::PayloadTooLarge,
                        format!(
                            "the resource is {:.1} MiB; resource/read returns at most {} MiB (make the reference screen smaller, e.g. a compressed PNG or a JPEG)",
                            bytes.len() as f64 / (1024.0 * 1024.0),
                            MAX_RESOURCE_BYTES / (1024 * 1024)
                        ),
                    )
                });
            }
            Ok(ResourceContent {
                media_type,
                base64: STANDARD.encode(&bytes),
            })
        }
        .instrument(span)
        .await
    }
}

const EXPECTED: &str = "expected a URL the daemon gave out: …/sessions/{id}/screenshots/{commandId}/{file} or …/sessions/{id}/reference/screens/{name}";

/// The resource `url` names. Accepted: the daemon's own `public_base_url` followed by the
/// path, any `http(s)://host` followed by it (a session's URLs outlive the address of the
/// daemon that made them), or the path alone (what `devflow lsp` hands out). The query and
/// fragment are ignored; path segments are percent-decoded as the HTTP routes decode them.
fn parse_resource_url(url: &str, public_base_url: &str) -> std::result::Result<Resource, String> {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let base = public_base_url.trim_end_matches('/');
    let path = match url.strip_prefix(base) {
        Some(rest) if !base.is_empty() && rest.starts_with('/') => rest,
        _ => match url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
        {
            Some(rest) => rest.find('/').map(|at| &rest[at..]).unwrap_or("/"),
            None if url.starts_with('/') => url,
            None => return Err(format!("not a daemon URL; {EXPECTED}")),
        },
    };
    let rest = path
        .strip_prefix("/sessions/")
        .ok_or_else(|| format!("not a picture or reference screen; {EXPECTED}"))?;
    let (session_id, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let session_id = decode_segment(session_id)?;
    if let Some(rest) = rest.strip_prefix("screenshots/") {
        let parts: Vec<&str> = rest.split('/').collect();
        if let [command_id, file] = parts[..] {
            let (command_id, file) = (decode_segment(command_id)?, decode_segment(file)?);
            if !session_id.is_empty() && !command_id.is_empty() && !file.is_empty() {
                return Ok(Resource::Picture {
                    session_id,
                    command_id,
                    file,
                });
            }
        }
    } else if let Some(name) = rest.strip_prefix("reference/screens/") {
        // Like the route's `{*name}`: the rest of the path, slashes and all.
        let name = decode_segment(name)?;
        if !session_id.is_empty() && !name.is_empty() {
            return Ok(Resource::ReferenceScreen { session_id, name });
        }
    }
    Err(format!("not a picture or reference screen; {EXPECTED}"))
}

/// Percent-decoding of a path segment (`+` stays a plus, as in a path); a `%` not followed by
/// two hex digits, or bytes that are not UTF-8, are refused.
fn decode_segment(text: &str) -> std::result::Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| {
                    format!("{text:?} has a % that is not followed by two hex digits")
                })?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(session_id: &str, command_id: &str, file: &str) -> Resource {
        Resource::Picture {
            session_id: session_id.into(),
            command_id: command_id.into(),
            file: file.into(),
        }
    }

    fn screen(session_id: &str, name: &str) -> Resource {
        Resource::ReferenceScreen {
            session_id: session_id.into(),
            name: name.into(),
        }
    }

    #[test]
    fn reads_the_urls_serve_and_lsp_hand_out() {
        let base = "http://127.0.0.1:7878";
        assert_eq!(
            parse_resource_url(
                "http://127.0.0.1:7878/sessions/s1/screenshots/c1/desktop-after-1.png",
                base
            ),
            Ok(picture("s1", "c1", "desktop-after-1.png"))
        );
        assert_eq!(
            parse_resource_url("/sessions/s1/screenshots/c1/mobile-diff-2.png", ""),
            Ok(picture("s1", "c1", "mobile-diff-2.png"))
        );
        assert_eq!(
            parse_resource_url("/sessions/s1/reference/screens/home", ""),
            Ok(screen("s1", "home"))
        );
    }

    #[test]
    fn a_base_with_a_path_prefix_is_taken_off_and_the_query_is_ignored() {
        assert_eq!(
            parse_resource_url(
                "https://design.example/devflow/sessions/s1/reference/screens/home?token=abc#x",
                "https://design.example/devflow/"
            ),
            Ok(screen("s1", "home"))
        );
    }

    #[test]
    fn another_daemons_address_is_read_by_its_path() {
        assert_eq!(
            parse_resource_url(
                "http://127.0.0.1:9999/sessions/s1/screenshots/c1/desktop-before-1.png",
                "http://127.0.0.1:7878"
            ),
            Ok(picture("s1", "c1", "desktop-before-1.png"))
        );
        // A longer port that starts with the base's is not the base.
        assert_eq!(
            parse_resource_url(
                "http://127.0.0.1:78789/sessions/s1/reference/screens/a",
                "http://127.0.0.1:7878"
            ),
            Ok(screen("s1", "a"))
        );
    }

    #[test]
    fn screen_names_keep_their_slashes_and_are_percent_decoded() {
        assert_eq!(
            parse_resource_url("/sessions/s1/reference/screens/pages/about%20us", ""),
            Ok(screen("s1", "pages/about us"))
        );
        assert_eq!(
            parse_resource_url("/sessions/s1/reference/screens/a%2Fb+c", ""),
            Ok(screen("s1", "a/b+c"))
        );
    }

    #[test]
    fn refuses_what_is_not_one_of_the_two_routes() {
        for url in [
            "",
            "home",
            "file:///etc/passwd",
            "/sessions",
            "/sessions/s1",
            "/sessions/s1/logs",
            "/sessions/s1/screenshots/c1",
            "/sessions/s1/screenshots/c1/a/b.png",
            "/sessions/s1/screenshots//desktop-after-1.png",
            "/sessions//reference/screens/home",
            "/sessions/s1/reference/screens/",
            "/sessions/s1/reference/home",
            "http://127.0.0.1:7878",
            "/rpc",
        ] {
            let refused = parse_resource_url(url, "http://127.0.0.1:7878");
            assert!(refused.is_err(), "{url:?} was read as {refused:?}");
        }
    }

    #[test]
    fn refuses_broken_percent_encoding() {
        let refused = parse_resource_url("/sessions/s1/reference/screens/a%zz", "").unwrap_err();
        assert!(refused.contains("two hex digits"), "{refused}");
        let refused = parse_resource_url("/sessions/s1/reference/screens/a%", "").unwrap_err();
        assert!(refused.contains("two hex digits"), "{refused}");
        let refused = parse_resource_url("/sessions/s1/reference/screens/%ff", "").unwrap_err();
        assert!(refused.contains("UTF-8"), "{refused}");
    }
}

//! Content-Security-Policy rewriting: lets the injected reload client load and connect back
//! without weakening the page's policy more than that. Pure: a header value in, a header
//! value out.
//!
//! The script directive that governs `<script src>` (`script-src-elem`, else `script-src`,
//! else `default-src`) gets `'self'` when plain host sources are in force, or a nonce (put on
//! the script tag) when the policy is nonce-, hash- or `'strict-dynamic'`-based or `'none'`;
//! a nonce is never added next to `'unsafe-inline'` alone, since that would switch the
//! page's inline scripts off. `connect-src` (else `default-src`) gets `'self'` and the
//! page's own `ws://` origin. A fallback to `default-src` is never edited in place: a new
//! `script-src` / `connect-src` copying its sources is appended, so styles, images and the
//! rest keep exactly the policy they had.

/// What the rewrite did to one header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CspRewrite {
    /// The new header value.
    pub value: String,
    /// The script tag must carry `nonce="…"` with the nonce given.
    pub uses_nonce: bool,
}

/// Rewrites one `Content-Security-Policy` header value (possibly several comma-separated
/// policies). `None` when nothing needed to change. `ws_origin` is e.g.
/// `ws://127.0.0.1:3000`, the origin of the reload socket.
pub fn allow_client(header: &str, nonce: &str, ws_origin: Option<&str>) -> Option<CspRewrite> {
    let mut changed = false;
    let mut uses_nonce = false;
    let policies: Vec<String> = header
        .split(',')
        .map(|policy| match rewrite_policy(policy, nonce, ws_origin) {
            Some((value, nonce_used)) => {
                changed = true;
                uses_nonce |= nonce_used;
                value
            }
            None => policy.trim().to_string(),
        })
        .collect();
    changed.then(|| CspRewrite {
        value: policies.join(", "),
        uses_nonce,
    })
}

struct Directive {
    name: String,
    sources: Vec<String>,
}

impl Directive {
    fn has(&self, source: &str) -> bool {
        self.sources.iter().any(|s| s.eq_ignore_ascii_case(source))
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        self.sources
            .iter()
            .any(|s| s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    }

    fn render(&self) -> String {
        if self.sources.is_empty() {
            self.name.clone()
        } else {
            format!("{} {}", self.name, self.sources.join(" "))
        }
    }
}

fn rewrite_policy(policy: &str, nonce: &str, ws_origin: Option<&str>) -> Option<(String, bool)> {
    let mut directives: Vec<Directive> = policy
        .split(';')
        .filter_map(|text| {
            let mut tokens = text.split_ascii_whitespace();
            let name = tokens.next()?.to_string();
            Some(Directive {
                name,
                sources: tokens.map(str::to_string).collect(),
            })
        })
        .collect();
    let find = |directives: &[Directive], name: &str| {
        directives
            .iter()
            .position(|d| d.name.eq_ignore_ascii_case(name))
    };
    let mut changed = false;
    let mut uses_nonce = false;

    let script = find(&directives, "script-src-elem")
        .or_else(|| find(&directives, "script-src"))
        .map(|i| (i, false))
        .or_else(|| find(&directives, "default-src").map(|i| (i, true)));
    if let Some((index, is_default)) = script {
        if let Some((sources, nonce_used)) = allow_script(&directives[index], nonce) {
            changed = true;
            uses_nonce = nonce_used;
            if is_default {
                directives.push(Directive {
                    name: "script-src".into(),
                    sources,
                });
            } else {
                directives[index].sources = sources;
            }
        }
    }

    let connect = find(&directives, "connect-src")
        .map(|i| (i, false))
        .or_else(|| find(&directives, "default-src").map(|i| (i, true)));
    if let Some((index, is_default)) = connect {
        if let Some(sources) = allow_connect(&directives[index], ws_origin) {
            changed = true;
            if is_default {
                directives.push(Directive {
                    name: "connect-src".into(),
                    sources,
                });
            } else {
                directives[index].sources = sources;
            }
        }
    }

    changed.then(|| {
        let text = directives
            .iter()
            .map(Directive::render)
            .collect::<Vec<_>>()
            .join("; ");
        (text, uses_nonce)
    })
}

/// The new source list for the script directive, and whether it relies on the nonce.
fn allow_script(directive: &Directive, nonce: &str) -> Option<(Vec<String>, bool)> {
    let strict_dynamic = directive.has("'strict-dynamic'");
    let nonce_or_hash = directive.has_prefix("'nonce-")
        || directive.has_prefix("'sha256-")
        || directive.has_prefix("'sha384-")
        || directive.has_prefix("'sha512-");
    let none = directive.has("'none'");
    let allows_same_origin =
        directive.has("'self'") || directive.has("*") || directive.has("http:");
    let ours = format!("'nonce-{nonce}'");
    if strict_dynamic || none || (nonce_or_hash && !allows_same_origin) {
        let mut sources: Vec<String> = directive
            .sources
            .iter()
            .filter(|s| !s.eq_ignore_ascii_case("'none'"))
            .cloned()
            .collect();
        sources.push(ours);
        return Some((sources, true));
    }
    if allows_same_origin {
        return None;
    }
    let mut sources = directive.sources.clone();
    sources.push("'self'".into());
    Some((sources, false))
}

fn allow_connect(directive: &Directive, ws_origin: Option<&str>) -> Option<Vec<String>> {
    if directive.has("*") {
        return None;
    }
    let has_ws = ws_origin.is_none_or(|origin| directive.has(origin));
    if directive.has("'self'") && has_ws {
        return None;
    }
    let mut sources: Vec<String> = directive
        .sources
        .iter()
        .filter(|s| !s.eq_ignore_ascii_case("'none'"))
        .cloned()
        .collect();
    if !directive.has("'self'") {
        sources.push("'self'".into());
    }
    if let Some(origin) = ws_origin.filter(|o| !directive.has(o)) {
        // 'self' covers ws: only in browsers that follow CSP3 here; the origin always does.
        sources.push(origin.to_string());
    }
    Some(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: Option<&str> = Some("ws://127.0.0.1:3000");

    fn rewrite(header: &str) -> Option<CspRewrite> {
        allow_client(header, "N0nce", WS)
    }

    #[test]
    fn self_based_policies_that_already_allow_the_client_are_untouched() {
        assert_eq!(
            rewrite("script-src 'self'; connect-src 'self' ws://127.0.0.1:3000"),
            None
        );
        assert_eq!(rewrite("img-src data:"), None, "no script restriction");
        assert_eq!(rewrite("default-src *"), None);
    }

    #[test]
    fn host_only_script_src_gets_self() {
        let out = rewrite("script-src https://cdn.example.com; connect-src 'self'").unwrap();
        assert_eq!(
            out.value,
            "script-src https://cdn.example.com 'self'; connect-src 'self' ws://127.0.0.1:3000"
        );
        assert!(!out.uses_nonce);
    }

    #[test]
    fn nonce_based_policies_get_a_nonce_of_our_own() {
        let out = rewrite("script-src 'nonce-abc' 'strict-dynamic'; object-src 'none'").unwrap();
        assert_eq!(
            out.value,
            "script-src 'nonce-abc' 'strict-dynamic' 'nonce-N0nce'; object-src 'none'"
        );
        assert!(out.uses_nonce);
    }

    #[test]
    fn unsafe_inline_is_never_disabled_by_an_added_nonce() {
        let out = rewrite("script-src 'unsafe-inline' https://cdn.example.com").unwrap();
        assert_eq!(
            out.value,
            "script-src 'unsafe-inline' https://cdn.example.com 'self'"
        );
        assert!(!out.uses_nonce);
    }

    #[test]
    fn default_src_fallbacks_get_their_own_directives() {
        let out = rewrite("default-src 'none'; style-src 'self'").unwrap();
        assert_eq!(
            out.value,
            "default-src 'none'; style-src 'self'; script-src 'nonce-N0nce'; connect-src 'self' ws://127.0.0.1:3000"
        );
        assert!(out.uses_nonce);
    }

    #[test]
    fn script_src_elem_wins_over_script_src() {
        let out =
            rewrite("script-src 'self'; script-src-elem https://a.example; connect-src *").unwrap();
        assert_eq!(
            out.value,
            "script-src 'self'; script-src-elem https://a.example 'self'; connect-src *"
        );
    }

    #[test]
    fn every_policy_of_a_combined_header_is_rewritten() {
        let out = rewrite("script-src 'self', default-src 'self'; connect-src 'none'").unwrap();
        assert_eq!(
            out.value,
            "script-src 'self', default-src 'self'; connect-src 'self' ws://127.0.0.1:3000"
        );
    }
}

//! Content-Security-Policy rewriting: lets the injected reload client load and connect back
//! without weakening the page's policy more than that. Pure: a header value in, a header
//! value out ([`allow_client`]); or HTML bytes in, HTML bytes out ([`MetaPolicies`], the
//! same rewrite for `<meta http-equiv="Content-Security-Policy">` in the page's head,
//! streamed).
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

/// Longest tag [`MetaPolicies`] holds back while waiting for its `>`: a tag with more bytes
/// before its `>` ends the scan and passes through as it is — also when it came whole, so
/// that the output does not depend on the chunks.
pub const MAX_TAG: usize = 16 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Start tags that may stand in a document's head; any other start tag, or text, ends the
/// head (as the HTML parser's "in head" mode does), and a policy in a `<meta>` after that is
/// ignored by browsers.
const HEAD_TAGS: [&[u8]; 12] = [
    b"html",
    b"head",
    b"base",
    b"basefont",
    b"bgsound",
    b"link",
    b"meta",
    b"noscript",
    b"script",
    b"style",
    b"template",
    b"title",
];

/// Elements in the head whose content is text up to their end tag.
const RAW_TEXT: [&[u8]; 4] = [b"script", b"style", b"title", b"noscript"];

/// The streaming rewrite of a page's `<meta http-equiv="Content-Security-Policy">`
/// elements: each policy gets what [`allow_client`] adds to a header, so the injected
/// client loads and its WebSocket connects whatever the page declares.
///
/// Only the head is scanned (comments and raw-text elements skipped); the first start tag
/// or text that cannot be in a head ends the scan, and everything after passes straight
/// through. Bytes are held back only while a tag is incomplete (at most [`MAX_TAG`]), so the
/// output does not depend on how the stream is cut into chunks.
#[derive(Debug)]
pub struct MetaPolicies {
    nonce: Option<String>,
    ws_origin: Option<String>,
    /// Bytes received but not yet emitted: an incomplete construct at the end of a chunk.
    held: bytes::BytesMut,
    state: MetaScan,
    nonce_used: bool,
    /// Bytes emitted while the head was scanned.
    emitted: usize,
    /// Where (in the output) the first `<meta>` whose policy relies on the nonce ends.
    nonce_from: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MetaScan {
    /// Between tags in the head (or before it).
    Markup,
    /// Inside `<!-- … -->`.
    Comment,
    /// Inside a raw-text element, looking for `</name`.
    RawText(&'static [u8]),
    /// The head is over: everything passes.
    Done,
}

/// Where the scan of one buffer stopped.
enum Step {
    /// Everything up to `emit` may go out; scanning resumes at the end of the buffer.
    NeedMore { emit: usize },
    /// The head is over.
    Done,
}

impl MetaPolicies {
    /// `nonce`: the nonce the script tag will carry if one is needed (a new one is made when
    /// `None` and a policy needs it); `ws_origin` as for [`allow_client`].
    pub fn new(nonce: Option<String>, ws_origin: Option<String>) -> Self {
        MetaPolicies {
            nonce,
            ws_origin,
            held: bytes::BytesMut::new(),
            state: MetaScan::Markup,
            nonce_used: false,
            emitted: 0,
            nonce_from: None,
        }
    }

    /// The nonce a rewritten policy relies on: the script tag must carry it when it comes
    /// after that `<meta>`.
    pub fn nonce_used(&self) -> Option<&str> {
        self.nonce.as_deref().filter(|_| self.nonce_used)
    }

    /// [`MetaPolicies::nonce_used`], with the offset in the output where the first `<meta>`
    /// relying on it ends: a script tag placed at or after it must carry the nonce, one
    /// placed before it is not governed by that policy.
    pub fn nonce_needed_from(&self) -> Option<(&str, usize)> {
        self.nonce_used().zip(self.nonce_from)
    }

    /// Whether the head is over (everything after passes straight through).
    pub fn is_done(&self) -> bool {
        self.state == MetaScan::Done && self.held.is_empty()
    }

    /// Feeds one chunk; returns what can be sent now, in order.
    pub fn push(&mut self, chunk: bytes::Bytes) -> Vec<bytes::Bytes> {
        if self.is_done() {
            return if chunk.is_empty() {
                Vec::new()
            } else {
                vec![chunk]
            };
        }
        let buffer = if self.held.is_empty() {
            chunk
        } else {
            self.held.extend_from_slice(&chunk);
            std::mem::take(&mut self.held).freeze()
        };
        self.scan(buffer)
    }

    /// The stream ended: whatever was held goes out as it is.
    pub fn finish(&mut self) -> Vec<bytes::Bytes> {
        self.state = MetaScan::Done;
        let held = std::mem::take(&mut self.held).freeze();
        if held.is_empty() {
            Vec::new()
        } else {
            vec![held]
        }
    }

    fn scan(&mut self, mut buffer: bytes::Bytes) -> Vec<bytes::Bytes> {
        let mut out = Vec::new();
        let mut pos = 0;
        let step = loop {
            match self.state {
                MetaScan::Done => break Step::Done,
                MetaScan::Comment => match find(&buffer, pos, b"-->") {
                    Some(at) => {
                        self.state = MetaScan::Markup;
                        pos = at + 3;
                    }
                    // The last two bytes may begin the `-->`.
                    None => {
                        break Step::NeedMore {
                            emit: buffer.len().saturating_sub(2).max(pos),
                        }
                    }
                },
                MetaScan::RawText(name) => match find_end_tag(&buffer, pos, name) {
                    Some(at) => {
                        self.state = MetaScan::Markup;
                        pos = at;
                    }
                    None => {
                        let keep = name.len() + 1;
                        break Step::NeedMore {
                            emit: buffer.len().saturating_sub(keep).max(pos),
                        };
                    }
                },
                MetaScan::Markup => {
                    let lt = buffer[pos..]
                        .iter()
                        .position(|b| *b == b'<')
                        .map(|i| pos + i);
                    let text_end = lt.unwrap_or(buffer.len());
                    let text = &buffer[pos..text_end];
                    // Text in the head ends it; a BOM is not text, but only first in the page.
                    let text = if pos == 0 && self.emitted == 0 && out.is_empty() {
                        if lt.is_none() && text.len() < BOM.len() && BOM.starts_with(text) {
                            // The start of a BOM, cut by the chunk: wait for the rest.
                            break Step::NeedMore { emit: pos };
                        }
                        text.strip_prefix(BOM).unwrap_or(text)
                    } else {
                        text
                    };
                    if text.iter().any(|b| !b.is_ascii_whitespace()) {
                        self.state = MetaScan::Done;
                        continue;
                    }
                    let Some(lt) = lt else {
                        break Step::NeedMore { emit: buffer.len() };
                    };
                    let tag = self.tag_at(&buffer, lt);
                    if tag.end().is_some_and(|end| end - 1 - lt > MAX_TAG) {
                        self.state = MetaScan::Done;
                        continue;
                    }
                    match tag {
                        Tag::Incomplete => {
                            if buffer.len() - lt > MAX_TAG {
                                self.state = MetaScan::Done;
                                continue;
                            }
                            break Step::NeedMore { emit: lt };
                        }
                        Tag::Comment => {
                            self.state = MetaScan::Comment;
                            pos = lt + 4;
                        }
                        Tag::Skip { end } => pos = end,
                        Tag::EndOfHead => self.state = MetaScan::Done,
                        Tag::RawText { end, name } => {
                            self.state = MetaScan::RawText(name);
                            pos = end;
                        }
                        Tag::Meta { end } => {
                            if let Some(rewritten) = self.rewrite_meta(&buffer[lt..end]) {
                                let before = buffer.split_to(lt);
                                if !before.is_empty() {
                                    out.push(before);
                                }
                                out.push(bytes::Bytes::from(rewritten));
                                if self.nonce_used && self.nonce_from.is_none() {
                                    self.nonce_from = Some(
                                        self.emitted
                                            + out.iter().map(bytes::Bytes::len).sum::<usize>(),
                                    );
                                }
                                let _ = buffer.split_to(end - lt);
                                pos = 0;
                            } else {
                                pos = end;
                            }
                        }
                    }
                }
            }
        };
        match step {
            Step::Done => {
                if !buffer.is_empty() {
                    out.push(buffer);
                }
            }
            Step::NeedMore { emit } => {
                let ready = buffer.split_to(emit);
                if !ready.is_empty() {
                    out.push(ready);
                }
                self.held.extend_from_slice(&buffer);
            }
        }
        self.emitted += out.iter().map(bytes::Bytes::len).sum::<usize>();
        out
    }

    /// What starts at `buffer[lt]` (a `<`).
    fn tag_at(&self, buffer: &[u8], lt: usize) -> Tag {
        let rest = &buffer[lt..];
        if rest.len() < 4 {
            // Not enough to tell `<!--` or a name yet.
            return if rest.len() >= 2
                && !matches!(rest[1], b'!' | b'/' | b'?')
                && !rest[1].is_ascii_alphabetic()
            {
                Tag::EndOfHead
            } else {
                Tag::Incomplete
            };
        }
        if rest.starts_with(b"<!--") {
            return Tag::Comment;
        }
        if rest[1] == b'!' || rest[1] == b'?' {
            return match find(rest, 2, b">") {
                Some(i) => Tag::Skip { end: lt + i + 1 },
                None => Tag::Incomplete,
            };
        }
        let closing = rest[1] == b'/';
        let name_start = if closing { 2 } else { 1 };
        if !rest[name_start].is_ascii_alphabetic() {
            // `<` followed by anything else is text.
            return Tag::EndOfHead;
        }
        let name_len = rest[name_start..]
            .iter()
            .take_while(|b| !(b.is_ascii_whitespace() || **b == b'>' || **b == b'/'))
            .count();
        if name_start + name_len == rest.len() {
            return Tag::Incomplete;
        }
        let name = &rest[name_start..name_start + name_len];
        let Some(len) = tag_len(rest, name_start + name_len) else {
            return Tag::Incomplete;
        };
        let end = lt + len;
        if closing {
            return if name.eq_ignore_ascii_case(b"head")
                || name.eq_ignore_ascii_case(b"body")
                || name.eq_ignore_ascii_case(b"html")
            {
                Tag::EndOfHead
            } else {
                Tag::Skip { end }
            };
        }
        if !HEAD_TAGS.iter().any(|t| name.eq_ignore_ascii_case(t)) {
            return Tag::EndOfHead;
        }
        if name.eq_ignore_ascii_case(b"meta") {
            return Tag::Meta { end };
        }
        if let Some(raw) = RAW_TEXT.iter().find(|t| name.eq_ignore_ascii_case(t)) {
            return Tag::RawText { end, name: raw };
        }
        Tag::Skip { end }
    }

    /// The meta tag with its policy widened, or `None` when it is not a CSP or needs nothing.
    fn rewrite_meta(&mut self, tag: &[u8]) -> Option<Vec<u8>> {
        let text = std::str::from_utf8(tag).ok()?;
        let attributes = attributes(text);
        let is_csp = attributes.iter().any(|a| {
            a.name.eq_ignore_ascii_case("http-equiv")
                && decode_attribute(&text[a.value.clone()])
                    .trim()
                    .eq_ignore_ascii_case("content-security-policy")
        });
        if !is_csp {
            return None;
        }
        let content = attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case("content"))?;
        let policy = decode_attribute(&text[content.value.clone()]);
        let candidate = self.nonce.clone().unwrap_or_else(new_nonce);
        let rewrite = allow_client(&policy, &candidate, self.ws_origin.as_deref())?;
        if rewrite.uses_nonce {
            self.nonce = Some(candidate);
            self.nonce_used = true;
        }
        let mut out = String::with_capacity(tag.len() + 64);
        out.push_str(&text[..content.span.start]);
        out.push_str("content=\"");
        out.push_str(&rewrite.value.replace('&', "&amp;").replace('"', "&quot;"));
        out.push('"');
        out.push_str(&text[content.span.end..]);
        Some(out.into_bytes())
    }
}

/// A fresh nonce (128 random bits, hex).
pub fn new_nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

enum Tag {
    /// More bytes are needed to see the whole construct.
    Incomplete,
    /// `<!--`.
    Comment,
    /// A tag or declaration that changes nothing; scanning resumes at `end`.
    Skip { end: usize },
    /// A raw-text element's start tag.
    RawText { end: usize, name: &'static [u8] },
    /// A `<meta>` start tag ending at `end`.
    Meta { end: usize },
    /// Something that cannot be in a head.
    EndOfHead,
}

impl Tag {
    /// Where a complete tag or declaration ends.
    fn end(&self) -> Option<usize> {
        match *self {
            Tag::Skip { end } | Tag::RawText { end, .. } | Tag::Meta { end } => Some(end),
            Tag::Incomplete | Tag::Comment | Tag::EndOfHead => None,
        }
    }
}

/// One attribute of a tag: its name, the whole `name=value` span and the value's span
/// (without quotes), as byte ranges of the tag's text.
struct Attribute<'a> {
    name: &'a str,
    span: std::ops::Range<usize>,
    value: std::ops::Range<usize>,
}

/// The attributes of a complete start tag.
fn attributes(tag: &str) -> Vec<Attribute<'_>> {
    let bytes = tag.as_bytes();
    let mut out = Vec::new();
    let mut i = bytes
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')
        .unwrap_or(bytes.len());
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'>' {
            return out;
        }
        let start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        let name = &tag[start..i];
        let mut j = i;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        let mut value = i..i;
        if bytes.get(j) == Some(&b'=') {
            j += 1;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            match bytes.get(j) {
                Some(&quote) if quote == b'"' || quote == b'\'' => {
                    let close = bytes[j + 1..]
                        .iter()
                        .position(|b| *b == quote)
                        .map_or(bytes.len(), |e| j + 1 + e);
                    value = j + 1..close;
                    i = (close + 1).min(bytes.len());
                }
                _ => {
                    let from = j;
                    while j < bytes.len() && !bytes[j].is_ascii_whitespace() && bytes[j] != b'>' {
                        j += 1;
                    }
                    value = from..j;
                    i = j;
                }
            }
        }
        if name.is_empty() {
            i += 1;
            continue;
        }
        out.push(Attribute {
            name,
            span: start..i,
            value,
        });
    }
}

/// The character references a policy in an attribute may use.
fn decode_attribute(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest[1..].find(';').filter(|end| *end <= 8).and_then(|end| {
            let entity = &rest[1..end + 1];
            let c = match entity {
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "lt" => Some('<'),
                "gt" => Some('>'),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end + 2))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The length of a tag whose name ends at `from` (up to and including its `>`), skipping
/// quoted attribute values; `None` when it is not complete yet.
fn tag_len(tag: &[u8], from: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, &b) in tag.iter().enumerate().skip(from) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i + 1),
            None => {}
        }
    }
    None
}

/// Where `</name` (any case) starts at or after `from`.
fn find_end_tag(buffer: &[u8], from: usize, name: &[u8]) -> Option<usize> {
    let len = name.len() + 2;
    (from..buffer.len().saturating_sub(len - 1)).find(|&i| {
        buffer[i] == b'<'
            && buffer[i + 1] == b'/'
            && buffer[i + 2..i + len].eq_ignore_ascii_case(name)
    })
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
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

    fn meta_chunks(chunks: &[&[u8]]) -> (String, Option<String>) {
        let mut meta = MetaPolicies::new(Some("N0nce".into()), WS.map(str::to_string));
        let mut out = Vec::new();
        for chunk in chunks {
            for piece in meta.push(bytes::Bytes::copy_from_slice(chunk)) {
                out.extend_from_slice(&piece);
            }
        }
        for piece in meta.finish() {
            out.extend_from_slice(&piece);
        }
        (
            String::from_utf8(out).expect("utf-8 in, utf-8 out"),
            meta.nonce_used().map(str::to_string),
        )
    }

    fn meta(page: &str) -> (String, Option<String>) {
        meta_chunks(&[page.as_bytes()])
    }

    #[test]
    fn a_meta_policy_in_the_head_is_widened_like_the_header() {
        let page = "<!doctype html><html><head><meta charset=utf-8>\n<META HTTP-EQUIV='content-security-policy' CONTENT=\"default-src 'none'; style-src 'self'\"><title>t</title></head><body>x</body></html>";
        let (out, nonce) = meta(page);
        assert_eq!(
            out,
            "<!doctype html><html><head><meta charset=utf-8>\n<META HTTP-EQUIV='content-security-policy' content=\"default-src 'none'; style-src 'self'; script-src 'nonce-N0nce'; connect-src 'self' ws://127.0.0.1:3000\"><title>t</title></head><body>x</body></html>"
        );
        assert_eq!(nonce.as_deref(), Some("N0nce"));
    }

    #[test]
    fn a_host_based_meta_policy_gets_self_and_no_nonce() {
        let (out, nonce) = meta(
            "<head><meta http-equiv=Content-Security-Policy content=\"script-src https://cdn.example; connect-src 'self'\"></head>",
        );
        assert_eq!(
            out,
            "<head><meta http-equiv=Content-Security-Policy content=\"script-src https://cdn.example 'self'; connect-src 'self' ws://127.0.0.1:3000\"></head>"
        );
        assert_eq!(nonce, None);
    }

    #[test]
    fn references_in_the_policy_are_read_and_written_back_escaped() {
        let (out, _) = meta(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"script-src &#39;self&#39;; connect-src &apos;none&apos;\">",
        );
        assert_eq!(
            out,
            "<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'self'; connect-src 'self' ws://127.0.0.1:3000\">"
        );
    }

    #[test]
    fn policies_that_need_nothing_and_other_metas_are_untouched() {
        for page in [
            "<head><meta http-equiv=\"Content-Security-Policy\" content=\"img-src data:\"></head>",
            "<head><meta http-equiv=\"refresh\" content=\"script-src 'none'\"></head>",
            "<head><meta name=\"Content-Security-Policy\" content=\"script-src 'none'\"></head>",
            "<head><meta http-equiv=\"Content-Security-Policy-Report-Only\" content=\"script-src 'none'\"></head>",
        ] {
            assert_eq!(meta(page), (page.to_string(), None), "{page}");
        }
    }

    #[test]
    fn metas_outside_the_head_or_inside_text_are_not_policies() {
        for page in [
            "<head></head><body><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\">",
            "<head><title>x</title><div><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\">",
            "hello <meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\">",
            "<!-- <meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\"> -->",
            "<script>'<meta http-equiv=\"Content-Security-Policy\" content=\"script-src none\">'</script>",
            "<title><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\"></title>",
        ] {
            assert_eq!(meta(page), (page.to_string(), None), "{page}");
        }
    }

    #[test]
    fn after_the_head_everything_passes_without_a_copy() {
        let mut scan = MetaPolicies::new(None, None);
        let first = scan.push(bytes::Bytes::from_static(
            b"<head><title>t</title></head><body>",
        ));
        assert_eq!(first.concat(), b"<head><title>t</title></head><body>");
        assert!(scan.is_done());
        let rest = bytes::Bytes::from_static(
            b"<meta http-equiv=Content-Security-Policy content=\"script-src 'none'\">",
        );
        let out = scan.push(rest.clone());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].as_ptr(), rest.as_ptr(), "the same bytes, not a copy");
    }

    #[test]
    fn an_endless_tag_is_not_held_past_the_limit() {
        let page = format!("<head><link href=\"{}", "a".repeat(MAX_TAG + 10));
        let mut scan = MetaPolicies::new(None, None);
        let mut out: Vec<u8> = Vec::new();
        for chunk in page.as_bytes().chunks(1000) {
            for piece in scan.push(bytes::Bytes::copy_from_slice(chunk)) {
                out.extend_from_slice(&piece);
            }
        }
        assert!(scan.is_done());
        assert_eq!(out, page.as_bytes(), "everything went out unchanged");
    }

    fn head_piece() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just("<!doctype html>".to_string()),
            Just("<html>".to_string()),
            Just("<head>".to_string()),
            Just("<meta charset=\"utf-8\">".to_string()),
            Just("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; connect-src 'none'\">".to_string()),
            Just("<meta http-equiv='content-security-policy' content=\"script-src 'nonce-abc'\">".to_string()),
            Just("<!-- <meta http-equiv=x> -->".to_string()),
            Just("<script>if (a < b) {}</script>".to_string()),
            Just("<title>見出し</title>".to_string()),
            Just("</head>".to_string()),
            Just("<body>".to_string()),
            Just("text".to_string()),
            Just("\n  ".to_string()),
            "[a-z<>/!= \"']{0,10}",
        ]
    }

    proptest::proptest! {
        #[test]
        fn chunking_never_changes_the_meta_rewrite(
            pieces in proptest::collection::vec(head_piece(), 0..12),
            cuts in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 0..8),
        ) {
            let page = pieces.concat();
            let bytes = page.as_bytes();
            let whole = meta_chunks(&[bytes]);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for point in points {
                chunks.push(&bytes[start..point]);
                start = point;
            }
            chunks.push(&bytes[start..]);
            proptest::prop_assert_eq!(meta_chunks(&chunks), whole.clone());
            let singles: Vec<&[u8]> = bytes.chunks(1).collect();
            proptest::prop_assert_eq!(meta_chunks(&singles), whole);
        }
    }
}

//! Fuzzing of the HTML rewrite every proxied page goes through — the `<meta>` policy rewrite
//! (`csp::MetaPolicies`), the reload client's injection (`inject::Injector`), and the two
//! chained as the proxy streams them (`HtmlRewrite`) — bounded so it runs in CI.
//!
//! Inputs are arbitrary bytes and HTML-ish pages made of pieces that trip naive scanners
//! (`<HEAD data-x='>'>`, `<!-- <head> -->`, a `<script>` holding `<head>`, BOMs, CRLF,
//! truncated tags, CSP `<meta>`s in many spellings, bytes that are not UTF-8), each cut into
//! chunks at arbitrary points. What must hold for any input: no panic; the output does not
//! depend on the chunks; it holds exactly one client tag more than the input, and without it
//! is the input byte for byte, except that a CSP `<meta>`'s `content` may be widened (every
//! directive keeps its sources but `'none'`, and gains only `'self'`, the reload socket's
//! origin, the nonce, or a copy of `default-src`); the tag goes at a token boundary within
//! the lookahead, and carries the nonce exactly when a rewritten `<meta>` before it relies on
//! one; and the output streams: once the lookahead is fed the injector holds nothing back,
//! and the whole rewrite never holds more than the lookahead plus `csp::MAX_TAG`.
//!
//! Run longer with `DEVFLOW_FUZZ_CASES=100000 cargo test --release -p devflow-preview-proxy
//! --test fuzz`; a failure prints the minimal input, which becomes a regression test.

use std::collections::VecDeque;

use bytes::Bytes;
use devflow_preview_proxy::csp::{MetaPolicies, MAX_TAG};
use devflow_preview_proxy::inject::Injector;
use devflow_preview_proxy::{HtmlRewrite, CLIENT_TAG};
use proptest::prelude::*;
use proptest::sample::Index;

const WS_ORIGIN: &str = "ws://127.0.0.1:4000";
/// How every client tag starts, with or without a nonce.
const CLIENT_SRC: &[u8] = b"<script src=\"/__devflow/client.js\"";
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// What a nonce the rewrite made up is replaced with before outputs are compared.
const MADE_UP_NONCE: &str = "made-up-nonce";

/// Pieces of pages (and of the ways pages go wrong) that pages are made of.
const PIECES: &[&[u8]] = &[
    b"<!DOCTYPE html>",
    b"<!doctype html>\r\n",
    b"<?xml version=\"1.0\"?>",
    b"<html>",
    b"<HTML lang=\"ja\">",
    b"<html",
    b"<head>",
    b"<HEAD data-x='>'>",
    b"<head data-y=\">\" >",
    b"<head",
    b"<he",
    b"<head/>",
    b"</head>",
    b"<header>",
    b"<body>",
    b"<BODY class=a>",
    b"</body>",
    b"</BODY >",
    b"</body",
    b"</bodyx>",
    b"</html>",
    b"<!-- <head> -->",
    b"<!-- </body> -->",
    b"<!--",
    b"-->",
    b"<!->",
    b"<script>document.write('<head>')</script>",
    b"<script>'</body>'</script>",
    b"<script>",
    b"</script>",
    b"<style>p{}</style>",
    b"<title>\xE8\xA6\x8B\xE5\x87\xBA\xE3\x81\x97</title>",
    b"<noscript><head></noscript>",
    b"<template><head></template>",
    BOM,
    b"\xEF\xBB",
    b"\xFF\xFE",
    b"\x80",
    b"\r\n",
    b"\n  ",
    b"\t",
    b"<p>text</p>",
    b"text",
    b"<meta charset=utf-8>",
    b"<link rel=stylesheet href=a.css>",
    b"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'self'\">",
    b"<META HTTP-EQUIV='content-security-policy' CONTENT=\"script-src 'nonce-abc' 'strict-dynamic'\">",
    b"<meta http-equiv=Content-Security-Policy content=\"script-src https://cdn.example; connect-src 'self'\">",
    b"<meta http-equiv=\"Content-Security-Policy\" content=\"script-src &#39;self&#39;; connect-src &apos;none&apos;\">",
    b"<meta content=\"script-src 'unsafe-inline', default-src 'self'\" http-equiv=\"Content-Security-Policy\">",
    b"<meta http-equiv=\"Content-Security-Policy\" content='img-src data:'>",
    b"<meta http-equiv=\"Content-Security-Policy\" content=script-src>",
    b"<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'sha256-abc=' ;; ,, connect-src *\">",
    b"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'\" content=\"x\">",
    b"<meta http-equiv=\"Content-Security-Policy\" content=\"",
    b"<meta http-equiv=\"refresh\" content=\"script-src 'none'\">",
    b"<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\" data-\xFF>",
];

/// Where a long stretch starts: in a tag of the head, a comment, a script, text.
const LONG_OPENERS: &[&[u8]] = &[
    b"<head><link href=\"",
    b"<head><meta http-equiv=\"Content-Security-Policy\" content=\"",
    b"<!-- ",
    b"<head><script>",
    b"<p>",
    b"",
    b"<head><title>",
    b"<html data-x='",
];

/// A page's bytes, shown escaped when a case fails (a minimal input to paste into a test).
#[derive(Clone)]
struct Page(Vec<u8>);

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::sample::select(PIECES).prop_map(<[u8]>::to_vec),
        1 => "[a-zA-Z<>/!=\"' ;-]{0,12}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..6),
    ]
}

fn page() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(piece(), 0..16).prop_map(|pieces| pieces.concat())
}

fn page_or_bytes() -> impl Strategy<Value = Page> {
    prop_oneof![
        3 => page(),
        1 => prop::collection::vec(any::<u8>(), 0..3000),
    ]
    .prop_map(Page)
}

/// A page with a long stretch in it: past any lookahead, and sometimes past `MAX_TAG`.
fn long_page() -> impl Strategy<Value = Page> {
    (
        page(),
        prop::sample::select(LONG_OPENERS),
        0..MAX_TAG + 4096,
        page(),
    )
        .prop_map(|(before, opener, len, after)| {
            let mut page = before;
            page.extend_from_slice(opener);
            page.extend(std::iter::repeat_n(b'a', len));
            page.extend_from_slice(&after);
            Page(page)
        })
}

/// `bytes` cut at the given points.
fn cut<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for point in points {
        chunks.push(&bytes[start..point]);
        start = point;
    }
    chunks.push(&bytes[start..]);
    chunks
}

/// What a streaming rewrite made of a page.
#[derive(Debug, Default)]
struct Streamed {
    out: Vec<u8>,
    /// After each chunk: input bytes fed so far, output bytes emitted so far.
    steps: Vec<(usize, usize)>,
}

fn injected(chunks: &[&[u8]], lookahead: usize) -> Streamed {
    let mut injector =
        Injector::with_lookahead(Bytes::from_static(CLIENT_TAG.as_bytes()), lookahead);
    let mut streamed = Streamed::default();
    let mut fed = 0;
    for chunk in chunks {
        fed += chunk.len();
        for piece in injector.push(Bytes::copy_from_slice(chunk)) {
            streamed.out.extend_from_slice(&piece);
        }
        streamed.steps.push((fed, streamed.out.len()));
    }
    for piece in injector.finish() {
        streamed.out.extend_from_slice(&piece);
    }
    streamed
}

fn tag_with_nonce(nonce: &str) -> String {
    format!("<script src=\"/__devflow/client.js\" nonce=\"{nonce}\"></script>")
}

/// Replaces a nonce the rewrite made up itself (random on every run) by a fixed word.
fn fixed_nonce(out: Vec<u8>, made_up: Option<&str>) -> Vec<u8> {
    match made_up {
        Some(nonce) => replace(&out, nonce.as_bytes(), MADE_UP_NONCE.as_bytes()),
        None => out,
    }
}

/// The `<meta>` rewrite alone. `header_nonce` as the proxy passes it: the nonce the header's
/// policy already needed, else `None` (a new one is made up when a `<meta>` needs one).
fn meta_only(chunks: &[&[u8]], header_nonce: Option<&str>) -> Vec<u8> {
    let mut meta = MetaPolicies::new(header_nonce.map(str::to_string), Some(WS_ORIGIN.into()));
    let mut out = Vec::new();
    for chunk in chunks {
        for piece in meta.push(Bytes::copy_from_slice(chunk)) {
            out.extend_from_slice(&piece);
        }
    }
    for piece in meta.finish() {
        out.extend_from_slice(&piece);
    }
    let made_up = meta.nonce_used().filter(|_| header_nonce.is_none());
    fixed_nonce(out, made_up)
}

/// The whole rewrite, set up as the proxy sets it up for a page.
fn rewritten(chunks: &[&[u8]], header_nonce: Option<&str>, lookahead: usize) -> Streamed {
    let snippet = match header_nonce {
        Some(nonce) => Bytes::from(tag_with_nonce(nonce)),
        None => Bytes::from_static(CLIENT_TAG.as_bytes()),
    };
    let mut html = HtmlRewrite {
        meta: MetaPolicies::new(header_nonce.map(str::to_string), Some(WS_ORIGIN.into())),
        injector: Injector::with_lookahead(snippet, lookahead),
    };
    let mut queue = VecDeque::new();
    let mut streamed = Streamed::default();
    let mut fed = 0;
    for chunk in chunks {
        fed += chunk.len();
        html.push(Bytes::copy_from_slice(chunk), &mut queue);
        for piece in queue.drain(..) {
            streamed.out.extend_from_slice(&piece);
        }
        streamed.steps.push((fed, streamed.out.len()));
    }
    html.finish(&mut queue);
    for piece in queue.drain(..) {
        streamed.out.extend_from_slice(&piece);
    }
    let made_up = html
        .meta
        .nonce_used()
        .filter(|_| header_nonce.is_none())
        .map(str::to_string);
    streamed.out = fixed_nonce(std::mem::take(&mut streamed.out), made_up.as_deref());
    streamed
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if !needle.is_empty() && haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned()
}

/// Two outputs around where they first differ.
fn difference(left: &[u8], right: &[u8]) -> String {
    let at = left.iter().zip(right).take_while(|(a, b)| a == b).count();
    let from = at.saturating_sub(40);
    format!(
        "they differ at byte {at}:\n {:?}\n {:?}",
        lossy(&left[from..]),
        lossy(&right[from..])
    )
}

/// Where `out` is `base` with one client tag inserted: the tag's range in `out`.
fn injection(out: &[u8], base: &[u8]) -> Option<std::ops::Range<usize>> {
    let len = out.len().checked_sub(base.len())?;
    let prefix = out.iter().zip(base).take_while(|(a, b)| a == b).count();
    let suffix = out
        .iter()
        .rev()
        .zip(base.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let first = base.len().saturating_sub(suffix);
    (first..=prefix.min(base.len())).find_map(|at| {
        let tag = &out[at..at + len];
        (tag.starts_with(CLIENT_SRC) && tag.ends_with(b"</script>")).then_some(at..at + len)
    })
}

/// Where the injector may put its tag: at the start, right after a tag's `>`, whitespace or
/// the BOM, or right before `</body`.
fn at_token_boundary(base: &[u8], at: usize) -> bool {
    at == 0
        || matches!(base[at - 1], b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'\x0C')
        || (at == BOM.len() && base.starts_with(BOM))
        || starts_with_ignore_case(&base[at..], b"</body")
}

/// Elements whose content is text up to their end tag: a tag put there would not run.
const TEXT_ELEMENTS: [&[u8]; 5] = [b"script", b"style", b"title", b"textarea", b"noscript"];

fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'>' || b == b'/'
}

/// For every position of `page` (and its end), whether a tag put there would land inside a
/// tag, a comment (or `<!…>`, `<?…>`), or the text of a script, style, title, textarea or
/// noscript — a forward reading of the page as the HTML tokenizer does it, with quoted
/// attribute values read the simple way the proxy reads them.
fn inside_markup(page: &[u8]) -> Vec<bool> {
    let mut inside = vec![false; page.len() + 1];
    let mut mark = |from: usize, to: usize| {
        for slot in &mut inside[from.min(page.len() + 1)..to.min(page.len() + 1)] {
            *slot = true;
        }
    };
    let find = |from: usize, needle: &[u8]| {
        (from..=page.len().saturating_sub(needle.len())).find(|&i| {
            page[i..].len() >= needle.len()
                && page[i..i + needle.len()].eq_ignore_ascii_case(needle)
        })
    };
    let mut i = 0;
    while i < page.len() {
        if page[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &page[i..];
        if rest.starts_with(b"<!--") {
            let end = find(i + 4, b"-->").map_or(page.len(), |e| e + 3);
            mark(i + 1, end);
            i = end;
        } else if rest.len() >= 2
            && (matches!(rest[1], b'!' | b'?')
                || (rest[1] == b'/' && rest.get(2).is_some_and(|b| !b.is_ascii_alphabetic())))
        {
            let end = find(i + 2, b">").map_or(page.len(), |e| e + 1);
            mark(i + 1, end);
            i = end;
        } else if rest.len() >= 2
            && (rest[1].is_ascii_alphabetic()
                || (rest[1] == b'/' && rest.get(2).is_some_and(u8::is_ascii_alphabetic)))
        {
            let end = tag_len(rest).map_or(page.len(), |len| i + len);
            mark(i + 1, end);
            let raw = TEXT_ELEMENTS.iter().find(|name| {
                starts_with_ignore_case(&rest[1..], name)
                    && rest.get(1 + name.len()).copied().is_some_and(is_delimiter)
            });
            i = end;
            if let Some(name) = raw.filter(|_| tag_len(rest).is_some()) {
                let close = [b"</".as_slice(), name].concat();
                let text_end = (end..page.len())
                    .find(|&at| {
                        starts_with_ignore_case(&page[at..], &close)
                            && page
                                .get(at + close.len())
                                .copied()
                                .is_some_and(is_delimiter)
                    })
                    .unwrap_or(page.len() + 1);
                // From right after the start tag to right before its end tag, inclusive.
                mark(end, text_end + 1);
                i = text_end.min(page.len());
            }
        } else {
            i += 1;
        }
    }
    inside
}

/// Checks the injection of one client tag into `base` (the page as the injector got it).
fn check_injection(
    out: &[u8],
    base: &[u8],
    lookahead: usize,
) -> Result<std::ops::Range<usize>, TestCaseError> {
    let tag = injection(out, base).ok_or_else(|| {
        TestCaseError::fail(format!(
            "the output is not the page with one client tag added:\n page {:?}\n  out {:?}",
            lossy(base),
            lossy(out)
        ))
    })?;
    prop_assert_eq!(
        count(out, CLIENT_SRC),
        count(base, CLIENT_SRC) + 1,
        "not exactly one client tag more"
    );
    prop_assert!(
        tag.start <= lookahead.max(16),
        "placed at {} past the lookahead {}",
        tag.start,
        lookahead
    );
    prop_assert!(
        !inside_markup(base)[tag.start],
        "placed inside markup at {}: {:?} | {:?}",
        tag.start,
        lossy(&base[tag.start.saturating_sub(60)..tag.start]),
        lossy(&base[tag.start..])
    );
    prop_assert!(
        at_token_boundary(base, tag.start),
        "placed inside a token at {}: {:?} | {:?}",
        tag.start,
        lossy(&base[..tag.start]),
        lossy(&base[tag.start..])
    );
    Ok(tag)
}

// ---- An independent reading of `<meta>` tags, to check what the rewrite changed. ----

/// The length of the tag starting at `bytes[0]` (`<name …>` or `</name …>`), skipping
/// quoted values.
fn tag_len(bytes: &[u8]) -> Option<usize> {
    let name_start = if bytes.get(1) == Some(&b'/') { 2 } else { 1 };
    let name_end = bytes
        .iter()
        .skip(name_start)
        .position(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')?
        + name_start;
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate().skip(name_end) {
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

/// A start tag's attributes: lowercased name, raw value text.
fn attributes(tag: &str) -> Vec<(String, String)> {
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
        let name = tag[start..i].to_ascii_lowercase();
        let mut j = i;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        let mut value = String::new();
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
                    value = tag[j + 1..close].to_string();
                    i = (close + 1).min(bytes.len());
                }
                _ => {
                    let from = j;
                    while j < bytes.len() && !bytes[j].is_ascii_whitespace() && bytes[j] != b'>' {
                        j += 1;
                    }
                    value = tag[from..j].to_string();
                    i = j;
                }
            }
        }
        if name.is_empty() {
            i += 1;
            continue;
        }
        out.push((name, value));
    }
}

/// The character references an attribute value may hold.
fn decode(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let entity = rest[1..]
            .find(';')
            .filter(|end| *end <= 8)
            .map(|end| (&rest[1..end + 1], end + 2));
        let decoded = entity.and_then(|(name, len)| {
            let c = match name {
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "lt" => Some('<'),
                "gt" => Some('>'),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, len))
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

type Policy = Vec<(String, Vec<String>)>;

fn policies(header: &str) -> Vec<Policy> {
    header
        .split(',')
        .map(|policy| {
            policy
                .split(';')
                .filter_map(|directive| {
                    let mut tokens = directive.split_ascii_whitespace();
                    let name = tokens.next()?.to_string();
                    Some((name, tokens.map(str::to_string).collect()))
                })
                .collect()
        })
        .collect()
}

fn has(sources: &[String], source: &str) -> bool {
    sources.iter().any(|s| s.eq_ignore_ascii_case(source))
}

/// `after` is `before` widened for the client: same policies, same directives in the same
/// order with every source but `'none'`, plus only what the client needs.
fn check_widened(before: &str, after: &str, nonce: &str) -> Result<(), String> {
    let (before, after) = (policies(before), policies(after));
    if before.len() != after.len() {
        return Err(format!("{} policies became {}", before.len(), after.len()));
    }
    let ours = format!("'nonce-{nonce}'");
    let added_ok = |source: &str| source == "'self'" || source == WS_ORIGIN || source == ours;
    for (old, new) in before.iter().zip(&after) {
        if new.len() < old.len() {
            return Err(format!("directives were dropped: {old:?} → {new:?}"));
        }
        for ((name, sources), (new_name, new_sources)) in old.iter().zip(new) {
            if name != new_name {
                return Err(format!("directive {name} became {new_name}"));
            }
            if let Some(lost) = sources
                .iter()
                .find(|s| !s.eq_ignore_ascii_case("'none'") && !has(new_sources, s))
            {
                return Err(format!("{name} lost {lost}: {sources:?} → {new_sources:?}"));
            }
            if let Some(extra) = new_sources
                .iter()
                .find(|s| !has(sources, s) && !added_ok(s))
            {
                return Err(format!("{name} gained {extra}"));
            }
        }
        let default_sources = old
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("default-src"))
            .map(|(_, sources)| sources.clone())
            .unwrap_or_default();
        for (name, sources) in &new[old.len()..] {
            if name != "script-src" && name != "connect-src" {
                return Err(format!("an added directive {name}"));
            }
            if let Some(extra) = sources
                .iter()
                .find(|s| !has(&default_sources, s) && !added_ok(s))
            {
                return Err(format!(
                    "the added {name} has {extra}, not from default-src"
                ));
            }
        }
    }
    Ok(())
}

/// A `<meta>` the rewrite changed: a CSP whose first `content` was widened, nothing else.
fn check_meta_pair(before: &[u8], after: &[u8], nonce: &str) -> Result<(), String> {
    let before = std::str::from_utf8(before).map_err(|_| "a non-UTF-8 <meta> changed")?;
    let after = std::str::from_utf8(after).map_err(|_| "a <meta> became non-UTF-8")?;
    let (old, new) = (attributes(before), attributes(after));
    if old.len() != new.len() {
        return Err(format!("attributes changed: {before} → {after}"));
    }
    let is_csp = old.iter().any(|(name, value)| {
        name == "http-equiv"
            && decode(value)
                .trim()
                .eq_ignore_ascii_case("content-security-policy")
    });
    if !is_csp {
        return Err(format!(
            "a <meta> that is no CSP changed: {before} → {after}"
        ));
    }
    let mut content_seen = false;
    for ((name, value), (new_name, new_value)) in old.iter().zip(&new) {
        if name != new_name {
            return Err(format!("attribute {name} became {new_name}"));
        }
        if name == "content" && !content_seen {
            content_seen = true;
            check_widened(&decode(value), &decode(new_value), nonce)?;
        } else if value != new_value {
            return Err(format!("attribute {name} changed: {before} → {after}"));
        }
    }
    Ok(())
}

/// `output` is `input` with nothing changed but CSP `<meta>` policies, widened.
fn check_only_policies_widened(input: &[u8], output: &[u8], nonce: &str) -> Result<(), String> {
    let (mut i, mut j) = (0, 0);
    loop {
        let synced = i;
        while i < input.len() && j < output.len() && input[i] == output[j] {
            i += 1;
            j += 1;
        }
        if i == input.len() && j == output.len() {
            return Ok(());
        }
        // The first difference must lie in a `<meta>` that starts after the last one.
        // Since `synced` both sides are equal, so a position maps across by a fixed shift.
        let output_at = |s: usize| s + j - i;
        let mut resynced = None;
        for start in (synced..=i.min(input.len().saturating_sub(1))).rev() {
            if !starts_with_ignore_case(&input[start..], b"<meta")
                || !input
                    .get(5 + start)
                    .is_some_and(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>')
            {
                continue;
            }
            let Some(before_len) = tag_len(&input[start..]) else {
                continue;
            };
            if start + before_len <= i {
                continue;
            }
            let out_start = output_at(start);
            let after_len = tag_len(&output[out_start..])
                .ok_or_else(|| format!("an unterminated <meta> came out at {out_start}"))?;
            check_meta_pair(
                &input[start..start + before_len],
                &output[out_start..out_start + after_len],
                nonce,
            )?;
            resynced = Some((start + before_len, out_start + after_len));
            break;
        }
        match resynced {
            Some((next_i, next_j)) => (i, j) = (next_i, next_j),
            None => {
                return Err(format!(
                    "changed outside a <meta> at byte {i}: {:?} became {:?}",
                    lossy(&input[i..]),
                    lossy(&output[j..])
                ))
            }
        }
    }
}

fn cases() -> u32 {
    std::env::var("DEVFLOW_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// The injector alone, on any input.
fn check_injector(page: &[u8], cuts: &[Index], lookahead: usize) -> Result<(), TestCaseError> {
    let whole = injected(&[page], lookahead);
    let chunked = injected(&cut(page, cuts), lookahead);
    prop_assert!(
        chunked.out == whole.out,
        "chunking changed the output: {}",
        difference(&whole.out, &chunked.out)
    );
    if page.len() <= 512 {
        let singles: Vec<&[u8]> = page.chunks(1).collect();
        let single = injected(&singles, lookahead);
        prop_assert!(
            single.out == whole.out,
            "one-byte chunks changed the output: {}",
            difference(&whole.out, &single.out)
        );
    }
    check_injection(&whole.out, page, lookahead)?;
    // Streamed: nothing is emitted before the decision, everything fed is after it, and the
    // decision is taken once the lookahead is full.
    let effective = lookahead.max(16);
    for &(fed, emitted) in &chunked.steps {
        let all = fed + CLIENT_TAG.len();
        prop_assert!(
            emitted == 0 || emitted == all,
            "{emitted} bytes out after {fed} in"
        );
        prop_assert!(
            fed < effective || emitted == all,
            "{fed} bytes fed (lookahead {lookahead}) but only {emitted} out"
        );
    }
    Ok(())
}

/// The whole page rewrite, on any input.
fn check_rewrite(
    page: &[u8],
    cuts: &[Index],
    header_nonce: Option<&str>,
    lookahead: usize,
) -> Result<(), TestCaseError> {
    let whole = rewritten(&[page], header_nonce, lookahead);
    let chunks = cut(page, cuts);
    let chunked = rewritten(&chunks, header_nonce, lookahead);
    prop_assert!(
        chunked.out == whole.out,
        "chunking changed the output ({} chunks): {}",
        chunks.len(),
        difference(&whole.out, &chunked.out)
    );
    if page.len() <= 512 {
        let singles: Vec<&[u8]> = page.chunks(1).collect();
        let single = rewritten(&singles, header_nonce, lookahead);
        prop_assert!(
            single.out == whole.out,
            "one-byte chunks changed the output: {}",
            difference(&whole.out, &single.out)
        );
    }

    // Without the tag: the page with only its CSP `<meta>` policies widened.
    let base = meta_only(&[page], header_nonce);
    let nonce = header_nonce.unwrap_or(MADE_UP_NONCE);
    check_only_policies_widened(page, &base, nonce).map_err(TestCaseError::fail)?;
    let tag = check_injection(&whole.out, &base, lookahead)?;

    // The tag carries the nonce exactly when the header's policy needs it or a rewritten
    // `<meta>` before it does.
    let tag_bytes = &whole.out[tag.clone()];
    let needs_nonce = header_nonce.is_some()
        || count(&base[..tag.start], format!("'nonce-{nonce}'").as_bytes()) > 0;
    if needs_nonce {
        let expected = tag_with_nonce(nonce);
        prop_assert_eq!(
            String::from_utf8_lossy(tag_bytes),
            expected,
            "the tag lacks the nonce a policy before it needs"
        );
    } else {
        prop_assert_eq!(
            String::from_utf8_lossy(tag_bytes),
            CLIENT_TAG,
            "the tag carries a nonce no policy before it needs"
        );
    }

    // Streamed: when no policy changed lengths, nothing fed more than the lookahead plus
    // one incomplete tag ago is still held.
    if base == page {
        for &(fed, emitted) in &chunked.steps {
            prop_assert!(
                emitted + MAX_TAG + lookahead.max(16) >= fed,
                "{fed} bytes fed, only {emitted} out (lookahead {lookahead})"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_injector_adds_one_tag_at_a_boundary_whatever_the_chunks(
        page in page_or_bytes(),
        cuts in prop::collection::vec(any::<Index>(), 0..10),
        lookahead in 16usize..400,
    ) {
        check_injector(&page.0, &cuts, lookahead)?;
    }

    #[test]
    fn the_meta_rewrite_only_widens_policies_whatever_the_chunks(
        page in page_or_bytes(),
        cuts in prop::collection::vec(any::<Index>(), 0..10),
    ) {
        let whole = meta_only(&[&page.0], Some("fixed"));
        let chunked = meta_only(&cut(&page.0, &cuts), Some("fixed"));
        prop_assert!(chunked == whole, "chunking changed the output: {}", difference(&whole, &chunked));
        if page.0.len() <= 512 {
            let singles: Vec<&[u8]> = page.0.chunks(1).collect();
            let single = meta_only(&singles, Some("fixed"));
            prop_assert!(single == whole, "one-byte chunks changed the output: {}", difference(&whole, &single));
        }
        check_only_policies_widened(&page.0, &whole, "fixed").map_err(TestCaseError::fail)?;
    }

    #[test]
    fn the_page_rewrite_is_the_page_plus_one_tag_whatever_the_chunks(
        page in page_or_bytes(),
        cuts in prop::collection::vec(any::<Index>(), 0..10),
        header_nonce in prop::option::of(Just("h3aderNonce")),
        lookahead in prop_oneof![16usize..400, Just(devflow_preview_proxy::inject::DEFAULT_LOOKAHEAD)],
    ) {
        check_rewrite(&page.0, &cuts, header_nonce, lookahead)?;
    }
}

proptest! {
    // Long pages cost more per case: a tenth of the cases.
    #![proptest_config(ProptestConfig { cases: (cases() / 10).max(10), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn long_pages_stream_past_the_lookahead(
        page in long_page(),
        cuts in prop::collection::vec(any::<Index>(), 0..24),
        lookahead in prop_oneof![16usize..400, Just(devflow_preview_proxy::inject::DEFAULT_LOOKAHEAD)],
    ) {
        check_injector(&page.0, &cuts, lookahead)?;
        check_rewrite(&page.0, &cuts, None, lookahead)?;
    }
}

// ---- What the fuzzing found, kept as regression tests. ----

const CSP_NONE: &str = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'self'\">";
const CSP_NONE_WIDENED: &str = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'self'; script-src 'nonce-made-up-nonce'; connect-src 'self' ws://127.0.0.1:4000\">";

/// The whole rewrite of `page` in one chunk (default lookahead), after checking every
/// property on it cut into one-byte chunks and at every single point.
fn rewrite_every_way(page: &[u8]) -> String {
    let lookahead = devflow_preview_proxy::inject::DEFAULT_LOOKAHEAD;
    check_rewrite(page, &[], None, lookahead).expect("properties hold");
    let whole = rewritten(&[page], None, lookahead).out;
    for point in 0..=page.len() {
        let chunks = [&page[..point], &page[point..]];
        assert_eq!(
            rewritten(&chunks, None, lookahead).out,
            whole,
            "cut at {point}"
        );
    }
    String::from_utf8_lossy(&whole).into_owned()
}

#[test]
fn a_tag_placed_before_a_nonce_policy_has_no_nonce_however_the_page_is_cut() {
    // The tag goes at the start of the content, before the `<meta>`, which does not govern
    // it; it used to carry the nonce only when the `<meta>` came in the same chunk.
    assert_eq!(
        rewrite_every_way(CSP_NONE.as_bytes()),
        format!("{CLIENT_TAG}{CSP_NONE_WIDENED}")
    );
}

#[test]
fn a_tag_placed_after_a_nonce_policy_has_the_nonce() {
    let page = format!("{CSP_NONE}<title>t</title></body>");
    assert_eq!(
        rewrite_every_way(page.as_bytes()),
        format!(
            "{CSP_NONE_WIDENED}<title>t</title>{}</body>",
            tag_with_nonce(MADE_UP_NONCE)
        )
    );
}

#[test]
fn a_body_end_in_a_script_or_comment_or_another_tag_is_not_the_body_end() {
    // Put inside the script's string, the tag would have ended the script early.
    assert_eq!(
        rewrite_every_way(b"<script>'</body>'</script>"),
        format!("{CLIENT_TAG}<script>'</body>'</script>")
    );
    assert_eq!(
        rewrite_every_way(b"<head<!DOCTYPE html><script>'</body>'</script>"),
        format!("{CLIENT_TAG}<head<!DOCTYPE html><script>'</body>'</script>")
    );
    assert_eq!(
        rewrite_every_way(b"<title>t</title><!-- </body> --><p>x</p></BODY>"),
        format!("<title>t</title><!-- </body> --><p>x</p>{CLIENT_TAG}</BODY>")
    );
    assert_eq!(
        rewrite_every_way(b"<html</body><head><link href=\""),
        format!("{CLIENT_TAG}<html</body><head><link href=\"")
    );
    // A quote in an end tag's name is part of the name, not a quoted value.
    assert_eq!(
        rewrite_every_way(b"</A\"<!DOCTYPE html></body>"),
        format!("</A\"<!DOCTYPE html>{CLIENT_TAG}</body>")
    );
}

#[test]
fn a_bom_cut_by_the_chunks_still_starts_the_page() {
    let page = format!("\u{feff}{CSP_NONE}");
    let singles: Vec<&[u8]> = page.as_bytes().chunks(1).collect();
    assert_eq!(
        meta_only(&singles, None),
        format!("\u{feff}{CSP_NONE_WIDENED}").into_bytes()
    );
    assert_eq!(
        rewrite_every_way(page.as_bytes()),
        format!("\u{feff}{CLIENT_TAG}{CSP_NONE_WIDENED}")
    );
}

#[test]
fn a_bom_after_the_start_is_text_that_ends_the_head() {
    // U+FEFF anywhere but first is a character: the `<meta>` after it is not in the head.
    let page = format!("\r\n\u{feff}{CSP_NONE}");
    let singles: Vec<&[u8]> = page.as_bytes().chunks(1).collect();
    assert_eq!(meta_only(&singles, None), page.clone().into_bytes());
    assert_eq!(
        meta_only(&[page.as_bytes()], None),
        page.clone().into_bytes()
    );
}

#[test]
fn a_tag_longer_than_the_limit_ends_the_head_scan_whole_or_cut() {
    let page = format!("<html data-x='{}'>{CSP_NONE}", "a".repeat(MAX_TAG + 10));
    let whole = meta_only(&[page.as_bytes()], None);
    assert_eq!(
        whole,
        page.clone().into_bytes(),
        "passed through as it came"
    );
    for point in [
        1,
        100,
        MAX_TAG,
        MAX_TAG + 5,
        page.len() - CSP_NONE.len() - 1,
    ] {
        let (a, b) = page.as_bytes().split_at(point);
        assert_eq!(meta_only(&[a, b], None), whole, "cut at {point}");
    }
    // Just within the limit, the scan goes on and the policy is widened.
    let page = format!("<html data-x='{}'>{CSP_NONE}", "a".repeat(MAX_TAG - 20));
    let whole = meta_only(&[page.as_bytes()], None);
    assert!(whole.ends_with(CSP_NONE_WIDENED.as_bytes()));
    let (a, b) = page.as_bytes().split_at(MAX_TAG - 5);
    assert_eq!(meta_only(&[a, b], None), whole);
}

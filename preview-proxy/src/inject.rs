//! The streaming injector: puts one snippet (the reload client's `<script>`) into an HTML
//! byte stream without buffering the page. Pure: bytes in, bytes out, no IO.
//!
//! Where: right after the `<head …>` start tag when the document has one before any content;
//! otherwise right before the first `</body>` end tag if it starts within the lookahead (one
//! in a comment, inside another tag or in the text of a `script`, `style`, `title`,
//! `textarea` or `noscript` element is not the body's end: a tag put there would not run);
//! otherwise at the start of the content (after any BOM, doctype, comments and `<html>` tag,
//! so the page keeps its standards mode). Every decision is taken on the first `lookahead` bytes only,
//! so the output never depends on how the stream is cut into chunks, and at most
//! `lookahead` bytes are ever held back.

use bytes::{Bytes, BytesMut};

/// How many bytes the injector may hold back while looking for its place (default).
pub const DEFAULT_LOOKAHEAD: usize = 16 * 1024;

/// Injects `snippet` exactly once into a stream of HTML chunks.
#[derive(Debug)]
pub struct Injector {
    snippet: Bytes,
    /// The snippet to place instead at or after this stream offset (see
    /// [`Injector::set_snippet_from`]).
    later_snippet: Option<(usize, Bytes)>,
    lookahead: usize,
    /// Bytes received but not yet emitted (only before the decision).
    held: BytesMut,
    scan: Scan,
    done: bool,
}

/// How far the search for the insertion point got (offsets from the start of the stream).
#[derive(Debug, Default)]
struct Scan {
    /// Where the prelude scan resumes: the end of the last complete prelude token.
    prelude_end: usize,
    /// Set once the prelude held no `<head>`: content starts at `prelude_end`.
    no_head: bool,
    /// Where the `</body` search resumes, and in what.
    body_from: usize,
    body_state: Markup,
}

/// What the `</body` search is inside of where it resumes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Markup {
    /// Between tags, in text.
    #[default]
    Between,
    /// `<!-- … -->`.
    Comment,
    /// `<!…>`, `<?…>` or `</` not followed by a letter: up to the next `>`.
    Bogus,
    /// A tag after its name: up to its `>`, skipping quoted values; a start tag of a text
    /// element goes on into that element's text.
    Tag {
        quote: Option<u8>,
        text_element: Option<&'static [u8]>,
    },
    /// The text of a `script`, `style`, … element, up to its end tag.
    Text(&'static [u8]),
}

/// Elements whose content is text up to their own end tag (raw text, escapable raw text, and
/// `noscript` as a browser with scripting reads it).
const TEXT_ELEMENTS: [&[u8]; 5] = [b"script", b"style", b"title", b"textarea", b"noscript"];

/// The outcome of scanning what is held so far.
enum Decision {
    /// Insert the snippet at this offset of the stream.
    At(usize),
    /// More bytes are needed.
    Undecided,
}

impl Injector {
    pub fn new(snippet: Bytes) -> Self {
        Self::with_lookahead(snippet, DEFAULT_LOOKAHEAD)
    }

    pub fn with_lookahead(snippet: Bytes, lookahead: usize) -> Self {
        Injector {
            snippet,
            later_snippet: None,
            lookahead: lookahead.max(16),
            held: BytesMut::new(),
            scan: Scan::default(),
            done: false,
        }
    }

    /// Whether the snippet has been placed (everything after passes straight through).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Places `snippet` instead when the place chosen is at or after stream offset `from`, if
    /// nothing has been placed yet: a `<meta>` policy ending at `from` governs the script tags
    /// after it, which must then carry its nonce, and not one placed before it. Choosing by
    /// the place, not by when the `<meta>` was seen, keeps the output independent of how the
    /// stream is cut into chunks.
    pub fn set_snippet_from(&mut self, from: usize, snippet: Bytes) {
        if !self.done {
            self.later_snippet = Some((from, snippet));
        }
    }

    /// Feeds one chunk; returns what can be sent now, in order.
    pub fn push(&mut self, chunk: Bytes) -> Vec<Bytes> {
        if self.done {
            return if chunk.is_empty() {
                Vec::new()
            } else {
                vec![chunk]
            };
        }
        if self.held.is_empty() {
            // The usual case: the first chunk holds the `<head>`; no copy is made.
            let complete = chunk.len() >= self.lookahead;
            let window = &chunk[..chunk.len().min(self.lookahead)];
            return match self.scan.decide(window, complete) {
                Decision::At(at) => self.emit(chunk, at),
                Decision::Undecided => {
                    self.held.extend_from_slice(&chunk);
                    Vec::new()
                }
            };
        }
        self.held.extend_from_slice(&chunk);
        let complete = self.held.len() >= self.lookahead;
        let window = &self.held[..self.held.len().min(self.lookahead)];
        match self.scan.decide(window, complete) {
            Decision::At(at) => {
                let held = std::mem::take(&mut self.held).freeze();
                self.emit(held, at)
            }
            Decision::Undecided => Vec::new(),
        }
    }

    /// The stream ended: returns the rest, with the snippet if it was not placed yet.
    pub fn finish(&mut self) -> Vec<Bytes> {
        if self.done {
            return Vec::new();
        }
        let held = std::mem::take(&mut self.held).freeze();
        let window = &held[..held.len().min(self.lookahead)];
        let at = match self.scan.decide(window, true) {
            Decision::At(at) => at,
            // `decide(…, true)` always decides; kept total for the type's sake.
            Decision::Undecided => held.len(),
        };
        self.emit(held, at)
    }

    /// Places the snippet at `at`; `bytes` starts at the start of the stream (nothing is
    /// emitted before the decision), so `at` is a stream offset.
    fn emit(&mut self, mut bytes: Bytes, at: usize) -> Vec<Bytes> {
        self.done = true;
        let at = at.min(bytes.len());
        let snippet = match self.later_snippet.take() {
            Some((from, later)) if at >= from => later,
            _ => self.snippet.clone(),
        };
        let before = bytes.split_to(at);
        [before, snippet, bytes]
            .into_iter()
            .filter(|b| !b.is_empty())
            .collect()
    }
}

impl Scan {
    /// Scans the first `lookahead` bytes of the stream (`window`). `complete`: no byte
    /// that could change the decision is still to come.
    fn decide(&mut self, window: &[u8], complete: bool) -> Decision {
        if !self.no_head {
            match scan_prelude(window, self.prelude_end) {
                Prelude::Head { after } => return Decision::At(after),
                Prelude::Content { at } => {
                    self.prelude_end = at;
                    self.no_head = true;
                    self.body_from = at;
                }
                Prelude::NeedMore { resume } => {
                    self.prelude_end = resume;
                    if !complete {
                        return Decision::Undecided;
                    }
                    return Decision::At(resume);
                }
            }
        }
        match find_body_end(window, self.body_from, &mut self.body_state) {
            BodySearch::Found(at) => Decision::At(at),
            BodySearch::NotYet { resume } => {
                self.body_from = resume;
                if complete {
                    Decision::At(self.prelude_end)
                } else {
                    Decision::Undecided
                }
            }
        }
    }
}

enum Prelude {
    /// `<head …>` ends just before `after`.
    Head { after: usize },
    /// Content (text or another element) starts at `at`: there is no explicit `<head>`.
    Content { at: usize },
    /// A token starting at `resume` is not complete yet.
    NeedMore { resume: usize },
}

/// Walks the tokens that may precede `<head>`: BOM, whitespace, comments, doctype or
/// processing instructions, and the `<html>` start tag.
fn scan_prelude(bytes: &[u8], mut pos: usize) -> Prelude {
    loop {
        if pos == 0 && bytes.starts_with(b"\xEF\xBB\xBF") {
            pos = 3;
        } else if pos == 0 && bytes.len() < 3 && b"\xEF\xBB\xBF".starts_with(bytes) {
            return Prelude::NeedMore { resume: 0 };
        }
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let rest = &bytes[pos..];
        if rest.is_empty() {
            return Prelude::NeedMore { resume: pos };
        }
        if rest[0] != b'<' {
            return Prelude::Content { at: pos };
        }
        if rest.len() < 2 {
            return Prelude::NeedMore { resume: pos };
        }
        match rest[1] {
            b'!' => {
                if rest.len() < 4 && b"<!--".starts_with(rest) {
                    return Prelude::NeedMore { resume: pos };
                }
                let end = if rest.starts_with(b"<!--") {
                    find(rest, 4, b"-->").map(|i| i + 3)
                } else {
                    find(rest, 2, b">").map(|i| i + 1)
                };
                match end {
                    Some(len) => pos += len,
                    None => return Prelude::NeedMore { resume: pos },
                }
            }
            b'?' => match find(rest, 2, b">") {
                Some(i) => pos += i + 1,
                None => return Prelude::NeedMore { resume: pos },
            },
            c if c.is_ascii_alphabetic() => {
                let name_len = rest[1..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
                    .count();
                if 1 + name_len == rest.len() {
                    // The name may go on in the next chunk; no name we act on is that long.
                    if name_len > 8 {
                        return Prelude::Content { at: pos };
                    }
                    return Prelude::NeedMore { resume: pos };
                }
                let name = &rest[1..1 + name_len];
                let is = |wanted: &[u8]| name.eq_ignore_ascii_case(wanted);
                if !(is(b"html") || is(b"head")) || !is_delimiter(rest[1 + name_len]) {
                    return Prelude::Content { at: pos };
                }
                match tag_end(rest, 1 + name_len) {
                    Some(len) if is(b"head") => return Prelude::Head { after: pos + len },
                    Some(len) => pos += len,
                    None => return Prelude::NeedMore { resume: pos },
                }
            }
            _ => return Prelude::Content { at: pos },
        }
    }
}

enum BodySearch {
    /// `</body` starts here.
    Found(usize),
    /// Not in the bytes so far; the search resumes at `resume` (in the state left behind).
    NotYet { resume: usize },
}

/// The first `</body>` end tag at or after `from` that is markup: not in a comment, inside
/// another tag or in a text element's text. `state` is what `from` is inside of; it is left
/// as what `resume` is inside of.
fn find_body_end(bytes: &[u8], from: usize, state: &mut Markup) -> BodySearch {
    let mut i = from;
    while i < bytes.len() {
        match *state {
            Markup::Comment => match find(bytes, i, b"-->") {
                Some(at) => {
                    *state = Markup::Between;
                    i = at + 3;
                }
                // The last two bytes may begin the `-->`.
                None => {
                    return BodySearch::NotYet {
                        resume: bytes.len().saturating_sub(2).max(i),
                    }
                }
            },
            Markup::Bogus => match bytes[i..].iter().position(|b| *b == b'>') {
                Some(at) => {
                    *state = Markup::Between;
                    i += at + 1;
                }
                None => i = bytes.len(),
            },
            Markup::Tag {
                mut quote,
                text_element,
            } => {
                let mut end = None;
                for (at, &b) in bytes.iter().enumerate().skip(i) {
                    match quote {
                        Some(q) if b == q => quote = None,
                        Some(_) => {}
                        None if b == b'"' || b == b'\'' => quote = Some(b),
                        None if b == b'>' => {
                            end = Some(at + 1);
                            break;
                        }
                        None => {}
                    }
                }
                match end {
                    Some(after) => {
                        *state = text_element.map_or(Markup::Between, Markup::Text);
                        i = after;
                    }
                    None => {
                        *state = Markup::Tag {
                            quote,
                            text_element,
                        };
                        i = bytes.len();
                    }
                }
            }
            Markup::Text(name) => match find_text_end(bytes, i, name) {
                Ok(at) => {
                    *state = Markup::Between;
                    i = at;
                }
                Err(resume) => return BodySearch::NotYet { resume },
            },
            Markup::Between => {
                let Some(lt) = bytes[i..].iter().position(|b| *b == b'<').map(|at| i + at) else {
                    return BodySearch::NotYet {
                        resume: bytes.len(),
                    };
                };
                let rest = &bytes[lt..];
                if rest.len() < 2 {
                    return BodySearch::NotYet { resume: lt };
                }
                let closing = rest[1] == b'/';
                let name_start = if closing { 2 } else { 1 };
                match rest[1] {
                    b'!' if rest.len() < 4 && b"<!--".starts_with(rest) => {
                        return BodySearch::NotYet { resume: lt }
                    }
                    b'!' if rest.starts_with(b"<!--") => {
                        *state = Markup::Comment;
                        i = lt + 4;
                    }
                    b'!' | b'?' => {
                        *state = Markup::Bogus;
                        i = lt + 2;
                    }
                    _ if rest.len() <= name_start => return BodySearch::NotYet { resume: lt },
                    _ if closing && !rest[2].is_ascii_alphabetic() => {
                        *state = Markup::Bogus;
                        i = lt + 2;
                    }
                    c if closing || c.is_ascii_alphabetic() => {
                        let name_len = rest[name_start..]
                            .iter()
                            .take_while(|b| !is_delimiter(**b))
                            .count();
                        if name_start + name_len == rest.len() {
                            // The name may go on in the next chunk.
                            return BodySearch::NotYet { resume: lt };
                        }
                        let name = &rest[name_start..name_start + name_len];
                        if closing && name.eq_ignore_ascii_case(b"body") {
                            return BodySearch::Found(lt);
                        }
                        let text_element = if closing {
                            None
                        } else {
                            TEXT_ELEMENTS
                                .iter()
                                .find(|t| name.eq_ignore_ascii_case(t))
                                .copied()
                        };
                        *state = Markup::Tag {
                            quote: None,
                            text_element,
                        };
                        i = lt + name_start + name_len;
                    }
                    // A `<` that starts no tag is text.
                    _ => i = lt + 1,
                }
            }
        }
    }
    BodySearch::NotYet { resume: i }
}

/// Where the end tag `</name` (any case, followed by a delimiter) starts, at or after
/// `from`; else where the search must resume (a match may begin in the last bytes).
fn find_text_end(bytes: &[u8], from: usize, name: &[u8]) -> Result<usize, usize> {
    let len = name.len() + 2;
    let mut i = from;
    while i + len < bytes.len() {
        if bytes[i] == b'<'
            && bytes[i + 1] == b'/'
            && bytes[i + 2..i + len].eq_ignore_ascii_case(name)
            && is_delimiter(bytes[i + len])
        {
            return Ok(i);
        }
        i += 1;
    }
    Err(i)
}

fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'>' || b == b'/'
}

/// The length of a start tag whose name ends at `from` (up to and including its `>`),
/// skipping quoted attribute values; `None` when the tag is not complete yet.
fn tag_end(tag: &[u8], from: usize) -> Option<usize> {
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
    use proptest::prelude::*;

    const SNIPPET: &str = "<script src=\"/__devflow/client.js\"></script>";

    fn inject_chunks(chunks: &[&[u8]], lookahead: usize) -> String {
        let mut injector =
            Injector::with_lookahead(Bytes::from_static(SNIPPET.as_bytes()), lookahead);
        let mut out = Vec::new();
        for chunk in chunks {
            for piece in injector.push(Bytes::copy_from_slice(chunk)) {
                out.extend_from_slice(&piece);
            }
        }
        for piece in injector.finish() {
            out.extend_from_slice(&piece);
        }
        String::from_utf8(out).expect("utf-8 in, utf-8 out")
    }

    fn inject(html: &str) -> String {
        inject_chunks(&[html.as_bytes()], DEFAULT_LOOKAHEAD)
    }

    #[test]
    fn goes_right_after_the_head_start_tag() {
        assert_eq!(
            inject("<!DOCTYPE html><html lang=\"en\"><head><title>x</title></head><body></body></html>"),
            format!("<!DOCTYPE html><html lang=\"en\"><head>{SNIPPET}<title>x</title></head><body></body></html>")
        );
    }

    #[test]
    fn head_with_attributes_comments_and_upper_case_is_found() {
        let page = "\u{feff}<!-- a <head> in a comment -->\n<!doctype html>\n<HTML>\n<HEAD data-x=\"a>b\">\n<meta charset=utf-8>";
        assert_eq!(
            inject(page),
            format!("\u{feff}<!-- a <head> in a comment -->\n<!doctype html>\n<HTML>\n<HEAD data-x=\"a>b\">{SNIPPET}\n<meta charset=utf-8>")
        );
    }

    #[test]
    fn a_header_element_is_not_the_head() {
        assert_eq!(
            inject("<!doctype html><header>top</header><p>x</p></body>"),
            format!("<!doctype html><header>top</header><p>x</p>{SNIPPET}</body>")
        );
    }

    #[test]
    fn without_head_goes_before_the_body_end() {
        assert_eq!(
            inject("<!doctype html><title>t</title><body><p>hi</p></BODY></html>"),
            format!("<!doctype html><title>t</title><body><p>hi</p>{SNIPPET}</BODY></html>")
        );
    }

    #[test]
    fn without_head_or_body_goes_at_the_start_of_the_content() {
        assert_eq!(
            inject("<p>fragment</p>"),
            format!("{SNIPPET}<p>fragment</p>")
        );
        assert_eq!(
            inject("<!doctype html>\n<p>fragment</p>"),
            format!("<!doctype html>\n{SNIPPET}<p>fragment</p>")
        );
        assert_eq!(inject(""), SNIPPET);
        assert_eq!(inject("plain text"), format!("{SNIPPET}plain text"));
    }

    #[test]
    fn a_body_end_past_the_lookahead_is_not_waited_for() {
        let page = format!("<p>{}</p></body>", "x".repeat(100));
        assert_eq!(
            inject_chunks(&[page.as_bytes()], 32),
            format!("{SNIPPET}{page}")
        );
    }

    #[test]
    fn an_unterminated_comment_does_not_hold_the_page_forever() {
        let page = format!("<!-- {}", "y".repeat(100));
        let mut injector = Injector::with_lookahead(Bytes::from_static(SNIPPET.as_bytes()), 32);
        let first = injector.push(Bytes::from(page.clone()));
        assert!(injector.is_done(), "decided once the lookahead is full");
        let out: Vec<u8> = first.iter().flat_map(|b| b.to_vec()).collect();
        assert_eq!(String::from_utf8(out).unwrap(), format!("{SNIPPET}{page}"));
    }

    #[test]
    fn the_head_is_emitted_as_soon_as_its_tag_is_complete() {
        let mut injector = Injector::new(Bytes::from_static(SNIPPET.as_bytes()));
        assert!(injector
            .push(Bytes::from_static(b"<!doctype html><html><he"))
            .is_empty());
        let out = injector.push(Bytes::from_static(b"ad><title>"));
        let text: Vec<u8> = out.iter().flat_map(|b| b.to_vec()).collect();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            format!("<!doctype html><html><head>{SNIPPET}<title>")
        );
        assert_eq!(
            injector.push(Bytes::from_static(b"rest")),
            vec![Bytes::from_static(b"rest")]
        );
    }

    fn html_piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("<!DOCTYPE html>".to_string()),
            Just("<!-- c <head> -->".to_string()),
            Just("<html lang=\"ja\">".to_string()),
            Just("<head>".to_string()),
            Just("<HEAD class='a>b'>".to_string()),
            Just("<header>".to_string()),
            Just("<body>".to_string()),
            Just("</body>".to_string()),
            Just("</bodyx>".to_string()),
            Just("<p>見出し</p>".to_string()),
            Just("\n  ".to_string()),
            Just("\u{feff}".to_string()),
            "[a-z<>/! ]{0,12}",
        ]
    }

    proptest! {
        #[test]
        fn chunking_never_changes_the_output(
            pieces in prop::collection::vec(html_piece(), 0..12),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
            lookahead in 16usize..200,
        ) {
            let page = pieces.concat();
            let bytes = page.as_bytes();
            let whole = inject_chunks(&[bytes], lookahead);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for point in points {
                chunks.push(&bytes[start..point]);
                start = point;
            }
            chunks.push(&bytes[start..]);
            let chunked = inject_chunks(&chunks, lookahead);
            prop_assert_eq!(&chunked, &whole);
            // Exactly one insertion, and the page is otherwise intact.
            let at = whole.find(SNIPPET).expect("the snippet is there");
            let without = format!("{}{}", &whole[..at], &whole[at + SNIPPET.len()..]);
            prop_assert_eq!(without, page);
        }

        #[test]
        fn one_byte_chunks_match_one_chunk(pieces in prop::collection::vec(html_piece(), 0..10)) {
            let page = pieces.concat();
            let bytes = page.as_bytes();
            let singles: Vec<&[u8]> = bytes.chunks(1).collect();
            prop_assert_eq!(inject_chunks(&singles, 64), inject_chunks(&[bytes], 64));
        }
    }
}

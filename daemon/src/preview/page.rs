//! The stylesheets and scripts an HTML page makes the browser fetch, for verification
//! after a patch. Pure: page text in, references out.
//!
//! A small tag scanner, not an HTML parser (none is in the dependency tree): it knows
//! comments, quoted and unquoted attribute values, character references in them, and the
//! raw-text elements (`script`, `style`, `textarea`, `title`, `noscript`, …) whose content
//! is not markup, which is what it takes not to mistake text for a tag.

/// What kind of resource a page references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stylesheet,
    Script,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Stylesheet => "stylesheet",
            Kind::Script => "script",
        }
    }
}

/// One `<link rel=stylesheet href>` or `<script src>`, its URL as written (references
/// decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: Kind,
    pub url: String,
}

/// What the page says about where its relative URLs point and what it loads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PageRefs {
    /// The first `<base href>`.
    pub base: Option<String>,
    /// In document order, each URL once.
    pub references: Vec<Reference>,
}

/// Elements whose content is text up to their end tag.
const RAW_TEXT: [&str; 8] = [
    "script", "style", "textarea", "title", "noscript", "xmp", "iframe", "noembed",
];

pub fn references(html: &str) -> PageRefs {
    let bytes = html.as_bytes();
    let mut refs = PageRefs::default();
    let mut at = 0;
    while let Some(offset) = html[at..].find('<') {
        let lt = at + offset;
        let rest = &html[lt..];
        if rest.starts_with("<!--") {
            at = html[lt + 4..]
                .find("-->")
                .map_or(html.len(), |end| lt + 4 + end + 3);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") || rest.starts_with("</") {
            at = html[lt + 1..]
                .find('>')
                .map_or(html.len(), |end| lt + 1 + end + 1);
            continue;
        }
        if !bytes.get(lt + 1).is_some_and(u8::is_ascii_alphabetic) {
            at = lt + 1;
            continue;
        }
        let name_end = html[lt + 1..]
            .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
            .map_or(html.len(), |i| lt + 1 + i);
        let name = html[lt + 1..name_end].to_ascii_lowercase();
        let (tag_end, attributes) = read_attributes(html, name_end);
        at = tag_end;
        let value = |wanted: &str| {
            attributes
                .iter()
                .find(|(name, _)| name == wanted)
                .map(|(_, value)| value.as_str())
        };
        match name.as_str() {
            "link" => {
                let rel = value("rel").unwrap_or("").to_ascii_lowercase();
                let tokens: Vec<&str> = rel.split_ascii_whitespace().collect();
                // An alternate stylesheet is fetched only when the user picks it.
                if tokens.contains(&"stylesheet") && !tokens.contains(&"alternate") {
                    if let Some(href) = value("href").filter(|h| !h.trim().is_empty()) {
                        push(&mut refs, Kind::Stylesheet, href);
                    }
                }
            }
            "script" => {
                if let Some(src) = value("src").filter(|s| !s.trim().is_empty()) {
                    let fetched =
                        is_script_type(value("type").unwrap_or("")) && value("nomodule").is_none();
                    if fetched {
                        push(&mut refs, Kind::Script, src);
                    }
                }
            }
            "base" if refs.base.is_none() => {
                refs.base = value("href").map(|h| h.trim().to_string());
            }
            _ => {}
        }
        if RAW_TEXT.contains(&name.as_str()) {
            at = find_end_tag(html, at, &name);
        }
    }
    refs
}

fn push(refs: &mut PageRefs, kind: Kind, url: &str) {
    let url = url.trim().to_string();
    if !refs.references.iter().any(|r| r.url == url) {
        refs.references.push(Reference { kind, url });
    }
}

/// Whether a `<script type>` is one the browser runs (and so fetches).
fn is_script_type(kind: &str) -> bool {
    let kind = kind.trim().to_ascii_lowercase();
    let essence = kind.split(';').next().unwrap_or("").trim();
    matches!(
        essence,
        "" | "module"
            | "text/javascript"
            | "application/javascript"
            | "text/ecmascript"
            | "application/ecmascript"
            | "text/jscript"
            | "application/x-javascript"
    )
}

/// Where the content of a raw-text element ends: at its `</name`, or the end of the page.
fn find_end_tag(html: &str, from: usize, name: &str) -> usize {
    let needle = format!("</{name}");
    let lower = html[from..].to_ascii_lowercase();
    lower.find(&needle).map_or(html.len(), |i| from + i)
}

/// Reads attributes from just after the tag name to the end of the tag: where the tag ends,
/// and `(lower-case name, decoded value)` pairs (an attribute without a value has "").
fn read_attributes(html: &str, from: usize) -> (usize, Vec<(String, String)>) {
    let bytes = html.as_bytes();
    let mut i = from;
    let mut out = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return (bytes.len(), out);
        }
        if bytes[i] == b'>' {
            return (i + 1, out);
        }
        let name_start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        let name = html[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            match bytes.get(i) {
                Some(&quote) if quote == b'"' || quote == b'\'' => {
                    let start = i + 1;
                    let end = html[start..]
                        .find(quote as char)
                        .map_or(html.len(), |e| start + e);
                    value = decode_references(&html[start..end]);
                    i = (end + 1).min(html.len());
                }
                Some(_) => {
                    let start = i;
                    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                        i += 1;
                    }
                    value = decode_references(&html[start..i]);
                }
                None => {}
            }
        }
        if !name.is_empty() {
            out.push((name, value));
        } else {
            i += 1;
        }
    }
}

/// The character references a URL in an attribute may use (`&amp;` above all).
fn decode_references(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest[1..].find(';').map(|e| e + 1).filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
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
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
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

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(html: &str) -> Vec<(Kind, String)> {
        references(html)
            .references
            .into_iter()
            .map(|r| (r.kind, r.url))
            .collect()
    }

    #[test]
    fn stylesheets_and_scripts_in_document_order() {
        let page = r#"<!doctype html><html><head>
            <link rel="preconnect" href="https://fonts.example">
            <LINK REL="Stylesheet" HREF="css/styles.css">
            <link rel=stylesheet href=/print.css media=print>
            <script src="js/app.js?v=1&amp;x=2" defer></script>
            <script type="module" src='/src/main.js'></script>
            </head><body><script src="js/app.js?v=1&amp;x=2"></script></body></html>"#;
        assert_eq!(
            urls(page),
            vec![
                (Kind::Stylesheet, "css/styles.css".to_string()),
                (Kind::Stylesheet, "/print.css".to_string()),
                (Kind::Script, "js/app.js?v=1&x=2".to_string()),
                (Kind::Script, "/src/main.js".to_string()),
            ]
        );
    }

    #[test]
    fn text_comments_and_raw_text_are_not_markup() {
        let page = r#"<!-- <link rel="stylesheet" href="commented.css"> -->
            <script>document.write('<script src="written.js"><\/script>')</script>
            <title><link rel=stylesheet href=title.css></title>
            <textarea><script src="typed.js"></script></textarea>
            <style>a::after { content: "<link rel=stylesheet href=x.css>"; }</style>
            <p data-x="<script src=attr.js>">text</p>
            <script src="real.js"></script>"#;
        assert_eq!(urls(page), vec![(Kind::Script, "real.js".to_string())]);
    }

    #[test]
    fn scripts_the_browser_does_not_fetch_are_left_out() {
        let page = r#"<script type="text/template" src="tpl.html"></script>
            <script nomodule src="legacy.js"></script>
            <script src=""></script>
            <link rel="alternate stylesheet" href="dark.css">
            <script type="text/javascript; charset=utf-8" src="ok.js"></script>"#;
        assert_eq!(urls(page), vec![(Kind::Script, "ok.js".to_string())]);
    }

    #[test]
    fn the_base_href_is_read() {
        let refs = references(
            r#"<base href="/app/"><base href="/ignored/"><link rel=stylesheet href=a.css>"#,
        );
        assert_eq!(refs.base.as_deref(), Some("/app/"));
        assert_eq!(refs.references.len(), 1);
    }

    #[test]
    fn character_references_are_decoded_and_broken_ones_kept() {
        assert_eq!(decode_references("a&amp;b&#x2F;c&#47;d"), "a&b/c/d");
        assert_eq!(decode_references("a&b;&unknown;"), "a&b;&unknown;");
        assert_eq!(decode_references("&"), "&");
    }

    #[test]
    fn an_unterminated_tag_does_not_loop() {
        assert!(urls("<link rel=stylesheet href=\"a.css").len() <= 1);
        assert!(urls("<script src=").is_empty());
        assert!(urls("<").is_empty());
    }
}

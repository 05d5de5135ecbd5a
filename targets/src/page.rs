//! From a page URL to the page's file, and from the parsed page to the stylesheets it uses
//! (linked files and `<style>` blocks, in document order) and to source lines.

use devflow_reference::SourceFile;
use scraper::{ElementRef, Html, Selector};

/// One stylesheet text and where it lives.
pub(crate) struct SheetSource<'a> {
    /// The `.css` file, or the page for a `<style>` block.
    pub file: &'a str,
    pub text: &'a str,
    /// 0-based line of `text`'s first byte in `file`.
    pub first_line: u32,
    /// A file of its own (not a block of a page): read once however often it is linked.
    pub whole_file: bool,
}

pub(crate) fn is_html(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".html") || lower.ends_with(".htm")
}

/// The workspace path a page URL names: `http://127.0.0.1:5173/about.html?x#y` →
/// `about.html`, `/` or nothing → `index.html`.
pub(crate) fn wanted_path(page_url: Option<&str>) -> String {
    let url = page_url.unwrap_or("").trim();
    let without_origin = match url.find("://") {
        Some(at) => {
            let rest = &url[at + 3..];
            rest.find('/').map_or("", |slash| &rest[slash..])
        }
        None => url,
    };
    let path = without_origin
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_start_matches('/');
    let path = percent_decode(path);
    if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            if let Some(byte) = text
                .get(at + 1..at + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            {
                out.push(byte);
                at += 3;
                continue;
            }
        }
        out.push(bytes[at]);
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The page's file: the path itself, `path.html`, `path/index.html`; a client-side route of a
/// single-page app (`/about` with no such file) falls back to the root `index.html`.
pub(crate) fn find<'a>(files: &'a [SourceFile], wanted: &str) -> Option<&'a SourceFile> {
    let candidates = [
        wanted.to_string(),
        format!("{wanted}.html"),
        format!("{}/index.html", wanted.trim_end_matches('/')),
    ];
    candidates
        .iter()
        .find_map(|c| files.iter().find(|f| f.path == *c && is_html(&f.path)))
        .or_else(|| {
            let route = !wanted.rsplit('/').next().unwrap_or("").contains('.');
            route
                .then(|| files.iter().find(|f| f.path == "index.html"))
                .flatten()
        })
}

/// A page whose content its scripts make (Vite's `<div id="app">` + a module script).
pub(crate) fn is_app_shell(html: &str) -> bool {
    let lower = html.to_ascii_lowercase();
    lower.contains("type=\"module\"") || lower.contains("type='module'")
}

/// A site path for `href` as seen from `from` (a workspace path); `None` for other origins.
pub(crate) fn resolve_href(from: &str, href: &str) -> Option<String> {
    let href = href.trim().split(['?', '#']).next().unwrap_or("");
    if href.is_empty()
        || href.starts_with("//")
        || href.contains("://")
        || href.starts_with("data:")
    {
        return None;
    }
    let mut parts: Vec<&str> = if href.starts_with('/') {
        Vec::new()
    } else {
        let mut dir: Vec<&str> = from.split('/').collect();
        dir.pop();
        dir
    };
    for segment in href.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    Some(percent_decode(&parts.join("/")))
}

/// The page's stylesheets in document order: same-origin `<link rel="stylesheet">` files
/// present in the workspace, and `<style>` blocks (with the line their text starts on).
pub(crate) fn stylesheets<'a>(
    files: &'a [SourceFile],
    page: &'a SourceFile,
    document: &Html,
) -> Vec<SheetSource<'a>> {
    let Ok(both) = Selector::parse("link[href], style") else {
        return Vec::new();
    };
    let block_starts = style_block_starts(&page.text);
    let mut block = 0;
    let mut out = Vec::new();
    for element in document.select(&both) {
        let value = element.value();
        if value.name() == "style" {
            if let Some(&(start, end)) = block_starts.get(block) {
                out.push(SheetSource {
                    file: &page.path,
                    text: &page.text[start..end],
                    first_line: line_of(&page.text, start),
                    whole_file: false,
                });
            }
            block += 1;
            continue;
        }
        let is_stylesheet = value.attr("rel").is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("stylesheet"))
        });
        let Some(path) = value
            .attr("href")
            .filter(|_| is_stylesheet)
            .and_then(|href| resolve_href(&page.path, href))
        else {
            continue;
        };
        if let Some(file) = files.iter().find(|f| f.path == path) {
            out.push(SheetSource {
                file: &file.path,
                text: &file.text,
                first_line: 0,
                whole_file: true,
            });
        }
    }
    out
}

/// Byte ranges of the contents of the page's `<style>` blocks, in order.
fn style_block_starts(html: &str) -> Vec<(usize, usize)> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = lower[at..].find("<style") {
        let open = at + found;
        let after_name = lower.as_bytes().get(open + 6).copied();
        if !matches!(after_name, Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/')) {
            at = open + 6;
            continue;
        }
        let Some(gt) = lower[open..].find('>') else {
            break;
        };
        let start = open + gt + 1;
        let end = lower[start..]
            .find("</style")
            .map_or(html.len(), |e| start + e);
        out.push((start, end));
        at = end;
    }
    out
}

/// 0-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> u32 {
    let newlines = text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    u32::try_from(newlines).unwrap_or(u32::MAX)
}

/// 1-based line of the element's start tag: the n-th `<tag` of the source for the n-th element
/// of that tag in the parsed tree. `None` for elements the parser implied (no tag in the source).
pub(crate) fn start_tag_line(html: &str, document: &Html, element: &ElementRef<'_>) -> Option<u32> {
    let tag = element.value().name().to_ascii_lowercase();
    let same_tag = Selector::parse(&tag).ok()?;
    let nth = document
        .select(&same_tag)
        .position(|e| e.id() == element.id())?;
    let lower = html.to_ascii_lowercase();
    let needle = format!("<{tag}");
    let mut seen = 0;
    let mut at = 0;
    while let Some(found) = lower[at..].find(&needle) {
        let open = at + found;
        at = open + needle.len();
        let boundary = lower.as_bytes().get(at).copied();
        if !matches!(boundary, Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/')) {
            continue;
        }
        if seen == nth {
            return Some(line_of(html, open) + 1);
        }
        seen += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_urls_become_workspace_paths() {
        assert_eq!(wanted_path(None), "index.html");
        assert_eq!(wanted_path(Some("http://127.0.0.1:5173/")), "index.html");
        assert_eq!(
            wanted_path(Some("http://127.0.0.1:5173/docs/a%20b.html?x=1#top")),
            "docs/a b.html"
        );
        assert_eq!(wanted_path(Some("/404.html")), "404.html");
        assert_eq!(wanted_path(Some("http://h:1")), "index.html");
    }

    #[test]
    fn hrefs_resolve_against_the_page() {
        assert_eq!(
            resolve_href("docs/a.html", "../css/x.css"),
            Some("css/x.css".into())
        );
        assert_eq!(
            resolve_href("docs/a.html", "/css/x.css?v=2"),
            Some("css/x.css".into())
        );
        assert_eq!(resolve_href("a.html", "https://cdn/x.css"), None);
        assert_eq!(resolve_href("a.html", "//cdn/x.css"), None);
    }
}

//! The site's markup as far as styling needs it: elements (tag, id, classes, attributes,
//! parent) of HTML pages and of HTML in scripts, `<style>` blocks and `style=""` attributes
//! with their byte positions, linked stylesheets and CSS imports. A small tag scanner, not an
//! HTML parser; in scripts only known tag names count, so `i<n` is not an element.

use std::ops::Range;

/// One element of the markup, or one made up for a selector the markup does not show.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Element {
    /// Lowercase tag name.
    pub tag: String,
    pub id: Option<String>,
    pub classes: Vec<String>,
    /// Other attributes, lowercase names, values with `&amp;`-style references decoded.
    pub attributes: Vec<(String, String)>,
    pub parent: Option<usize>,
    /// The HTML page it is on; `None` for markup in scripts and made-up elements, which
    /// are styled by the site's stylesheets in general.
    pub page: Option<usize>,
    /// Made up (not in the markup).
    pub synthetic: bool,
}

/// What the scan found in all files.
#[derive(Debug, Clone, Default)]
pub(crate) struct Markup {
    pub elements: Vec<Element>,
    /// `(file, content bytes, 0-based line of the content start)` of each `<style>` block.
    pub style_blocks: Vec<(usize, Range<usize>, u32)>,
    /// `(file, value bytes, 0-based line, element)` of each `style=""` attribute whose value
    /// needs no decoding (so its bytes are the CSS).
    pub style_attributes: Vec<(usize, Range<usize>, u32, usize)>,
    /// `(page, href)` of each `<link rel="stylesheet">`, in page order.
    pub stylesheet_links: Vec<(usize, String)>,
    /// `(script, specifier)` of each `import '….css'`.
    pub css_imports: Vec<(usize, String)>,
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Tag names accepted inside scripts.
const HTML_TAGS: &[&str] = &[
    "a", "article", "aside", "button", "code", "div", "em", "footer", "form", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "img", "input", "label", "li", "main", "nav", "ol", "p", "pre",
    "section", "select", "small", "span", "strong", "svg", "table", "td", "textarea", "th", "tr",
    "ul", "use",
];

impl Markup {
    /// Scans an HTML page (`page` = its file index).
    pub fn add_page(&mut self, page: usize, html: &str) {
        self.scan(page, html, true);
    }

    /// Scans a script for HTML in its strings and for CSS imports.
    pub fn add_script(&mut self, script: usize, text: &str) {
        self.scan(script, text, false);
        self.find_css_imports(script, text);
    }

    fn scan(&mut self, file: usize, text: &str, is_page: bool) {
        let bytes = text.as_bytes();
        let mut stack: Vec<(String, usize)> = Vec::new();
        let mut at = 0;
        while let Some(lt) = find(text, at, "<") {
            let rest = &text[lt..];
            if rest.starts_with("<!--") {
                at = find(text, lt + 4, "-->").map_or(text.len(), |end| end + 3);
                continue;
            }
            if rest.starts_with("</") {
                let name_end = text[lt + 2..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                    .map_or(text.len(), |i| lt + 2 + i);
                let name = text[lt + 2..name_end].to_ascii_lowercase();
                if let Some(depth) = stack.iter().rposition(|(tag, _)| *tag == name) {
                    stack.truncate(depth);
                }
                at = name_end;
                continue;
            }
            if rest.starts_with("<!") || rest.starts_with("<?") {
                at = find(text, lt + 1, ">").map_or(text.len(), |end| end + 1);
                continue;
            }
            if !bytes.get(lt + 1).is_some_and(u8::is_ascii_alphabetic) {
                at = lt + 1;
                continue;
            }
            let name_end = text[lt + 1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(text.len(), |i| lt + 1 + i);
            let tag = text[lt + 1..name_end].to_ascii_lowercase();
            let next = bytes.get(name_end).copied();
            let ends_name = next.is_none_or(|b| b.is_ascii_whitespace() || b == b'>' || b == b'/');
            if !ends_name || (!is_page && !HTML_TAGS.contains(&tag.as_str())) {
                at = lt + 1;
                continue;
            }
            let tag_scan = scan_attributes(text, name_end);
            let index = self.elements.len();
            let mut element = Element {
                tag: tag.clone(),
                parent: stack.last().map(|(_, i)| *i),
                page: is_page.then_some(file),
                ..Element::default()
            };
            for (name, value, span) in &tag_scan.attributes {
                match name.as_str() {
                    "id" => element.id = Some(decode(value)),
                    "class" => {
                        element.classes = decode(value)
                            .split_whitespace()
                            .map(str::to_string)
                            .collect()
                    }
                    "style" if !value.contains('&') && !value.contains("${") => {
                        self.style_attributes.push((
                            file,
                            span.clone(),
                            line_of(text, span.start),
                            index,
                        ));
                    }
                    _ => {}
                }
                if name != "class" && name != "id" {
                    element.attributes.push((name.clone(), decode(value)));
                }
            }
            if is_page && tag == "link" {
                let rel = element
                    .attributes
                    .iter()
                    .find(|(n, _)| n == "rel")
                    .map(|(_, v)| v.to_ascii_lowercase());
                let href = element.attributes.iter().find(|(n, _)| n == "href");
                if let (Some(rel), Some((_, href))) = (rel, href) {
                    if rel.split_whitespace().any(|r| r == "stylesheet") {
                        self.stylesheet_links.push((file, href.clone()));
                    }
                }
            }
            self.elements.push(element);
            at = tag_scan.end;
            let raw_text = matches!(tag.as_str(), "script" | "style" | "textarea" | "title");
            if is_page && raw_text {
                let close = find_ignore_case(text, at, &format!("</{tag}")).unwrap_or(text.len());
                if tag == "style" {
                    self.style_blocks.push((file, at..close, line_of(text, at)));
                }
                at = close;
            } else if !tag_scan.self_closing && !VOID.contains(&tag.as_str()) {
                stack.push((tag, index));
            }
        }
    }

    fn find_css_imports(&mut self, script: usize, text: &str) {
        let mut at = 0;
        while let Some(found) = find(text, at, ".css") {
            at = found + 4;
            let Some(&quote) = text.as_bytes().get(found + 4) else {
                continue;
            };
            if quote != b'\'' && quote != b'"' {
                continue;
            }
            let Some(open) = text[..found].rfind(quote as char) else {
                continue;
            };
            let before = text[..open].trim_end();
            if before.ends_with("import") || before.ends_with("import(") || before.ends_with("from")
            {
                self.css_imports
                    .push((script, text[open + 1..found + 4].to_string()));
            }
        }
    }
}

struct TagScan {
    end: usize,
    self_closing: bool,
    /// Name (lowercase), raw value, value bytes.
    attributes: Vec<(String, String, Range<usize>)>,
}

/// Reads attributes from just after the tag name to the end of the tag.
fn scan_attributes(text: &str, from: usize) -> TagScan {
    let bytes = text.as_bytes();
    let mut i = from;
    let mut attributes = Vec::new();
    let mut self_closing = false;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return TagScan {
                end: bytes.len(),
                self_closing,
                attributes,
            };
        }
        match bytes[i] {
            b'>' => {
                return TagScan {
                    end: i + 1,
                    self_closing,
                    attributes,
                }
            }
            b'/' => {
                self_closing = bytes.get(i + 1) == Some(&b'>');
                i += 1;
                continue;
            }
            _ => {}
        }
        self_closing = false;
        let name_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'>')
        {
            if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'>') {
                break;
            }
            i += 1;
        }
        let name = text[name_start..i].to_ascii_lowercase();
        let mut j = i;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if bytes.get(j) != Some(&b'=') {
            if !name.is_empty() {
                attributes.push((name, String::new(), i..i));
            } else {
                i += 1;
            }
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        let (value_span, next) = match bytes.get(j) {
            Some(&q) if q == b'"' || q == b'\'' => {
                let close = text[j + 1..]
                    .find(q as char)
                    .map_or(bytes.len(), |k| j + 1 + k);
                (j + 1..close, (close + 1).min(bytes.len()))
            }
            _ => {
                let mut k = j;
                while k < bytes.len() && !bytes[k].is_ascii_whitespace() && bytes[k] != b'>' {
                    k += 1;
                }
                (j..k, k)
            }
        };
        let value = text.get(value_span.clone()).unwrap_or("").to_string();
        attributes.push((name, value, value_span));
        i = next;
    }
}

fn find(text: &str, from: usize, needle: &str) -> Option<usize> {
    text.get(from..)?.find(needle).map(|i| from + i)
}

fn find_ignore_case(text: &str, from: usize, needle: &str) -> Option<usize> {
    let hay = text.as_bytes();
    let needle = needle.as_bytes();
    (from..hay.len().saturating_sub(needle.len() - 1))
        .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// 0-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> u32 {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u32
}

/// Decodes the character references attribute values commonly hold.
fn decode(value: &str) -> String {
    if !value.contains('&') {
        return value.to_string();
    }
    value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_element_tree_with_classes_links_and_style_blocks() {
        let html = "<!doctype html><html><head><link href=\"css/a.css\" rel=\"stylesheet\"><style>h1{color:red}</style></head>\n<body><!-- <p> --><nav class=\"navbar x\"><button class=\"btn btn-primary\" id=\"go\" disabled>Go</button></nav><img src=x><p style=\"margin: 4px\">t</p></body></html>";
        let mut markup = Markup::default();
        markup.add_page(3, html);
        let tags: Vec<String> = markup
            .elements
            .iter()
            .map(|e| format!("{}<{:?}", e.tag, e.parent))
            .collect();
        assert_eq!(
            tags,
            [
                "html<None",
                "head<Some(0)",
                "link<Some(1)",
                "style<Some(1)",
                "body<Some(0)",
                "nav<Some(4)",
                "button<Some(5)",
                "img<Some(4)",
                "p<Some(4)"
            ]
        );
        let button = &markup.elements[6];
        assert_eq!(button.classes, ["btn", "btn-primary"]);
        assert_eq!(button.id.as_deref(), Some("go"));
        assert_eq!(markup.stylesheet_links, [(3, "css/a.css".to_string())]);
        let (_, block, _) = &markup.style_blocks[0];
        assert_eq!(&html[block.clone()], "h1{color:red}");
        let (_, attribute, line, element) = &markup.style_attributes[0];
        assert_eq!(
            (&html[attribute.clone()], *line, *element),
            ("margin: 4px", 1, 8)
        );
    }

    #[test]
    fn reads_templates_and_css_imports_in_scripts() {
        let js = "import './style.css'\nfor (let i=0;i<n;i++) {}\nel.innerHTML = `<section id=\"center\"><button class=\"counter\"></button></section>`";
        let mut markup = Markup::default();
        markup.add_script(1, js);
        let tags: Vec<&str> = markup.elements.iter().map(|e| e.tag.as_str()).collect();
        assert_eq!(tags, ["section", "button"]);
        assert_eq!(markup.elements[1].parent, Some(0));
        assert_eq!(markup.css_imports, [(1, "./style.css".to_string())]);
    }
}

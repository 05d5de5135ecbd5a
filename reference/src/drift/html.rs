//! Finds the CSS inside an HTML page: `<style>` blocks and `style=""` attributes, with the
//! line each starts on. A small tag scanner, not an HTML parser: it knows comments, quoted
//! attribute values and raw-text elements (`script`, `style`, `textarea`, `title`), which is
//! all that is needed to not mistake text for markup.

/// A piece of CSS in an HTML page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HtmlCss {
    /// `<style>` content (a stylesheet) or a `style` attribute (declarations).
    pub is_attribute: bool,
    /// 0-based line of the first character of `css` in the page.
    pub first_line: u32,
    /// Attribute values have their character references decoded.
    pub css: String,
}

pub(super) fn css_in_html(html: &str) -> Vec<HtmlCss> {
    let lines = LineIndex::new(html);
    let bytes = html.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(lt) = find(html, at, "<") {
        let rest = &html[lt..];
        if rest.starts_with("<!--") {
            at = find(html, lt + 4, "-->").map_or(html.len(), |end| end + 3);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") || rest.starts_with("</") {
            at = find(html, lt + 1, ">").map_or(html.len(), |end| end + 1);
            continue;
        }
        if !bytes.get(lt + 1).is_some_and(u8::is_ascii_alphabetic) {
            at = lt + 1;
            continue;
        }
        let name_end = html[lt + 1..]
            .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
            .map_or(html.len(), |i| lt + 1 + i);
        let tag = html[lt + 1..name_end].to_ascii_lowercase();
        let (tag_end, style) = scan_attributes(html, name_end);
        if let Some((offset, value)) = style {
            out.push(HtmlCss {
                is_attribute: true,
                first_line: lines.line_of(offset),
                css: decode_references(value),
            });
        }
        at = tag_end;
        if matches!(tag.as_str(), "script" | "style" | "textarea" | "title") {
            let close = find_ignore_case(html, at, &format!("</{tag}")).unwrap_or(html.len());
            if tag == "style" {
                out.push(HtmlCss {
                    is_attribute: false,
                    first_line: lines.line_of(at),
                    css: html[at..close].to_string(),
                });
            }
            at = close;
        }
    }
    out
}

/// Reads attributes from just after the tag name to the end of the tag. Returns where the
/// tag ends and the raw `style` value with its byte offset.
fn scan_attributes(html: &str, from: usize) -> (usize, Option<(usize, &str)>) {
    let bytes = html.as_bytes();
    let mut i = from;
    let mut style = None;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return (bytes.len(), style);
        }
        if bytes[i] == b'>' {
            return (i + 1, style);
        }
        let name_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let name = &html[name_start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let (value_start, value_end, next) = match bytes.get(i) {
            Some(&quote @ (b'"' | b'\'')) => {
                let end = html[i + 1..]
                    .find(quote as char)
                    .map_or(bytes.len(), |e| i + 1 + e);
                (i + 1, end, (end + 1).min(bytes.len()))
            }
            _ => {
                let end = html[i..]
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .map_or(bytes.len(), |e| i + e);
                (i, end, end)
            }
        };
        if name.eq_ignore_ascii_case("style") && style.is_none() {
            style = Some((value_start, &html[value_start..value_end]));
        }
        i = next;
    }
}

fn find(haystack: &str, from: usize, needle: &str) -> Option<usize> {
    haystack.get(from..)?.find(needle).map(|i| from + i)
}

fn find_ignore_case(haystack: &str, from: usize, needle: &str) -> Option<usize> {
    let hay = haystack.as_bytes();
    let needle = needle.as_bytes();
    (from..hay.len().saturating_sub(needle.len() - 1))
        .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// The character references that appear in real `style` attributes.
fn decode_references(value: &str) -> String {
    if !value.contains('&') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&semi| semi <= 10).and_then(|semi| {
            let entity = &rest[1..semi];
            let ch = match entity {
                "quot" => Some('"'),
                "apos" => Some('\''),
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((ch, semi + 1))
        });
        match decoded {
            Some((ch, len)) => {
                out.push(ch);
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

/// Byte offset → 0-based line.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { starts }
    }

    fn line_of(&self, offset: usize) -> u32 {
        let line = self
            .starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1);
        u32::try_from(line).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_style_blocks_and_attributes_with_their_lines() {
        let html = "<!doctype html>\n<html>\n<head>\n<STYLE media=\"all\">\n  p { color: red }\n</style>\n\
                    <!-- <p style=\"color: blue\"> -->\n\
                    <script>var s = '<p style=\"color: green\">';</script>\n\
                    </head>\n<body>\n<p class=x style='margin: 4px; font-family: &quot;Inter&quot;' data-x=1>hi</p>\n\
                    <img src=a.png style=color:teal>\n</body>";
        let found = css_in_html(html);
        assert_eq!(
            found,
            [
                HtmlCss {
                    is_attribute: false,
                    first_line: 3,
                    css: "\n  p { color: red }\n".into()
                },
                HtmlCss {
                    is_attribute: true,
                    first_line: 10,
                    css: "margin: 4px; font-family: \"Inter\"".into()
                },
                HtmlCss {
                    is_attribute: true,
                    first_line: 11,
                    css: "color:teal".into()
                },
            ]
        );
    }

    #[test]
    fn survives_truncated_markup() {
        for html in [
            "<p style=\"color: red",
            "<style>a{}",
            "<!-- open",
            "<",
            "<p a",
            "a < b",
        ] {
            let _ = css_in_html(html);
        }
        assert_eq!(
            decode_references("a &amp b &#x41; &#66; &bogus;"),
            "a &amp b A B &bogus;"
        );
    }
}

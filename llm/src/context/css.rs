//! Just enough CSS and markup reading to rank files and cut excerpts: the rules of a
//! stylesheet with their selectors, declared properties and line ranges (comments, strings
//! and at-rule blocks handled, nesting followed), the simple parts of a selector, and the
//! tags, classes and ids of a page. Not a validator: broken input gives fewer rules, never
//! a panic.

/// One style rule: `selector { declarations }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub selector: String,
    /// 1-based lines of the selector's start and of the closing brace.
    pub start_line: usize,
    pub end_line: usize,
    /// Declared property names, lowercase (`color`, `--brand`).
    pub properties: Vec<String>,
}

/// The rules of a stylesheet, in source order (a nested rule follows its parent).
/// `line_comments`: `//` starts a comment (SCSS, Less).
pub fn rules(text: &str, line_comments: bool) -> Vec<Rule> {
    enum Frame {
        Rule(usize),
        Group,
    }
    let mut out: Vec<Rule> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut prelude = String::new();
    let mut prelude_line = 0usize;
    let mut line = 1usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                line += 1;
                prelude.push(' ');
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for inner in chars.by_ref() {
                    if inner == '\n' {
                        line += 1;
                    }
                    if last == '*' && inner == '/' {
                        break;
                    }
                    last = inner;
                }
            }
            '/' if line_comments && chars.peek() == Some(&'/') => {
                for inner in chars.by_ref() {
                    if inner == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '"' | '\'' => {
                prelude.push(c);
                let mut escaped = false;
                for inner in chars.by_ref() {
                    if inner == '\n' {
                        line += 1;
                    }
                    prelude.push(inner);
                    if escaped {
                        escaped = false;
                    } else if inner == '\\' {
                        escaped = true;
                    } else if inner == c {
                        break;
                    }
                }
            }
            '{' => {
                let head = prelude.trim().to_string();
                let start = if prelude_line == 0 {
                    line
                } else {
                    prelude_line
                };
                if head.starts_with('@') {
                    stack.push(Frame::Group);
                } else {
                    out.push(Rule {
                        selector: collapse_spaces(&head),
                        start_line: start,
                        end_line: start,
                        properties: Vec::new(),
                    });
                    stack.push(Frame::Rule(out.len() - 1));
                }
                prelude.clear();
                prelude_line = 0;
            }
            ';' | '}' => {
                if let Some(Frame::Rule(index)) = stack.last() {
                    if let Some((name, _)) = prelude.split_once(':') {
                        let name = name.trim().to_ascii_lowercase();
                        if !name.is_empty() && !name.contains(' ') {
                            out[*index].properties.push(name);
                        }
                    }
                }
                prelude.clear();
                prelude_line = 0;
                if c == '}' {
                    if let Some(Frame::Rule(index)) = stack.pop() {
                        out[index].end_line = line;
                    }
                }
            }
            _ => {
                if prelude_line == 0 && !c.is_whitespace() {
                    prelude_line = line;
                }
                prelude.push(c);
            }
        }
    }
    out
}

fn collapse_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A simple selector part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Element(String),
    Class(String),
    Id(String),
}

impl Part {
    /// Parses `button`, `.btn`, `#sidebar`.
    pub fn parse(text: &str) -> Option<Part> {
        let lower = text.trim().to_ascii_lowercase();
        if let Some(name) = lower.strip_prefix('.') {
            (!name.is_empty()).then(|| Part::Class(name.to_string()))
        } else if let Some(name) = lower.strip_prefix('#') {
            (!name.is_empty()).then(|| Part::Id(name.to_string()))
        } else if !lower.is_empty() && lower.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            Some(Part::Element(lower))
        } else {
            None
        }
    }

    /// Whether this part (from an instruction or a target) selects `other` (from a rule or a
    /// page): elements equal; a class or id name equal, or a dash-separated piece of it
    /// (`.btn` selects `.btn-primary`, `#sidebar` selects `#sidebar-wrapper`).
    pub fn selects(&self, other: &Part) -> bool {
        match (self, other) {
            (Part::Element(a), Part::Element(b)) => a == b,
            (Part::Class(a), Part::Class(b)) | (Part::Id(a), Part::Id(b)) => named_like(b, a),
            _ => false,
        }
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::Element(name) => write!(f, "{name}"),
            Part::Class(name) => write!(f, ".{name}"),
            Part::Id(name) => write!(f, "#{name}"),
        }
    }
}

/// `name` is `word`, or has it as a whole dash-separated piece.
pub fn named_like(name: &str, word: &str) -> bool {
    name == word
        || name.starts_with(&format!("{word}-"))
        || name.ends_with(&format!("-{word}"))
        || name.contains(&format!("-{word}-"))
}

/// The element, class and id parts of a selector list (`nav .btn-primary:hover, #x > a`).
pub fn selector_parts(selector: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut chars = selector.char_indices().peekable();
    let bytes = selector.as_bytes();
    while let Some((index, c)) = chars.next() {
        let kind = match c {
            '.' => Some('.'),
            '#' => Some('#'),
            '[' | '(' => {
                // Attribute selectors and pseudo-class arguments: skip to the closer.
                let close = if c == '[' { ']' } else { ')' };
                for (_, inner) in chars.by_ref() {
                    if inner == close {
                        break;
                    }
                }
                continue;
            }
            ':' => {
                // A pseudo-class or pseudo-element name is not an element.
                while let Some((_, next)) = chars.peek() {
                    if next.is_ascii_alphanumeric() || *next == '-' || *next == ':' {
                        chars.next();
                    } else {
                        break;
                    }
                }
                continue;
            }
            c if c.is_ascii_alphabetic() => {
                let previous = index.checked_sub(1).map(|i| bytes[i]);
                let starts_word = !matches!(previous, Some(b) if b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if starts_word {
                    let mut name = String::from(c);
                    while let Some((_, next)) = chars.peek() {
                        if next.is_ascii_alphanumeric() || *next == '-' || *next == '_' {
                            name.push(*next);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    parts.push(Part::Element(name.to_ascii_lowercase()));
                }
                continue;
            }
            _ => None,
        };
        if let Some(kind) = kind {
            let mut name = String::new();
            while let Some((_, next)) = chars.peek() {
                if next.is_ascii_alphanumeric() || *next == '-' || *next == '_' {
                    name.push(*next);
                    chars.next();
                } else {
                    break;
                }
            }
            if !name.is_empty() {
                let name = name.to_ascii_lowercase();
                parts.push(if kind == '.' {
                    Part::Class(name)
                } else {
                    Part::Id(name)
                });
            }
        }
    }
    parts
}

/// The tags (`<button`), classes and ids a page or component uses, with the 1-based line of
/// each use.
pub fn markup_parts(text: &str) -> Vec<(Part, usize)> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let mut rest = line;
        while let Some(open) = rest.find('<') {
            rest = &rest[open + 1..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if name.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
                out.push((Part::Element(name.to_ascii_lowercase()), number));
            }
        }
        for (attribute, make) in [
            ("class=", Part::Class as fn(String) -> Part),
            ("classname=", Part::Class),
            ("id=", Part::Id),
        ] {
            let lower = line.to_ascii_lowercase();
            let mut from = 0;
            while let Some(found) = lower[from..].find(attribute) {
                let at = from + found;
                from = at + attribute.len();
                // `data-id=` or `myclass=` are other attributes.
                let before = lower[..at].chars().next_back();
                if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == '-') {
                    continue;
                }
                let value = &line[from..];
                let Some(quote) = value.chars().next().filter(|q| *q == '"' || *q == '\'') else {
                    continue;
                };
                let inner = &value[1..];
                let end = inner.find(quote).unwrap_or(inner.len());
                for name in inner[..end].split_whitespace() {
                    out.push((make(name.to_ascii_lowercase()), number));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_rules_with_lines_and_properties_through_comments_and_media() {
        let css = "/* a { b: c } */\nh1,\nh2 {\n  color: red;\n  font-size: 2rem\n}\n@media (min-width: 768px) {\n  .btn { padding: 0 }\n}\na[href=\"{x}\"] { color: blue; }\n";
        let found = rules(css, false);
        assert_eq!(
            found,
            vec![
                Rule {
                    selector: "h1, h2".into(),
                    start_line: 2,
                    end_line: 6,
                    properties: vec!["color".into(), "font-size".into()],
                },
                Rule {
                    selector: ".btn".into(),
                    start_line: 8,
                    end_line: 8,
                    properties: vec!["padding".into()],
                },
                Rule {
                    selector: "a[href=\"{x}\"]".into(),
                    start_line: 10,
                    end_line: 10,
                    properties: vec!["color".into()],
                },
            ]
        );
    }

    #[test]
    fn follows_nesting_and_line_comments_in_scss() {
        let scss = "// top { }\n.card {\n  color: red;\n  &:hover { color: blue; }\n}\n";
        let found = rules(scss, true);
        let selectors: Vec<&str> = found.iter().map(|r| r.selector.as_str()).collect();
        assert_eq!(selectors, [".card", "&:hover"]);
        assert_eq!((found[0].start_line, found[0].end_line), (2, 5));
    }

    #[test]
    fn splits_selectors_into_simple_parts() {
        assert_eq!(
            selector_parts("nav .btn-primary:hover, #sidebar-wrapper > a[data-x=\"y.z\"]::before"),
            vec![
                Part::Element("nav".into()),
                Part::Class("btn-primary".into()),
                Part::Id("sidebar-wrapper".into()),
                Part::Element("a".into()),
            ]
        );
    }

    #[test]
    fn a_word_selects_dash_separated_names() {
        let btn = Part::parse(".btn").unwrap();
        assert!(btn.selects(&Part::Class("btn-primary".into())));
        assert!(btn.selects(&Part::Class("btn".into())));
        assert!(!btn.selects(&Part::Class("btnx".into())));
        assert!(!btn.selects(&Part::Id("btn".into())));
        let sidebar = Part::parse("#sidebar").unwrap();
        assert!(sidebar.selects(&Part::Id("sidebar-wrapper".into())));
    }

    #[test]
    fn reads_tags_classes_and_ids_of_markup() {
        let html =
            "<nav class=\"navbar bg-light\">\n  <button id='go' data-id=\"x\">Go</button>\n</nav>";
        let parts = markup_parts(html);
        assert!(parts.contains(&(Part::Element("nav".into()), 1)));
        assert!(parts.contains(&(Part::Class("navbar".into()), 1)));
        assert!(parts.contains(&(Part::Element("button".into()), 2)));
        assert!(parts.contains(&(Part::Id("go".into()), 2)));
        assert!(!parts.contains(&(Part::Id("x".into()), 2)));
    }
}

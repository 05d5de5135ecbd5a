//! Selector text helpers around the engine: a rule's selector "at rest" (state pseudo-classes
//! and pseudo-elements removed, so `a:hover` and `.btn::after` count as styling the element
//! they belong to), Selectors Level 4 specificity read from the text, the simple `tag.class`
//! description of an element, and the names a selector's last compound holds.

use scraper::ElementRef;

/// Pseudo-classes that depend on the pointer, focus or history, and pseudo-elements: dropped
/// before matching a static document, where they never hold.
const STATEFUL: &[&str] = &[
    "hover",
    "focus",
    "focus-visible",
    "focus-within",
    "active",
    "visited",
    "link",
    "any-link",
    "target",
    "before",
    "after",
    "first-line",
    "first-letter",
    "placeholder",
    "marker",
    "selection",
    "backdrop",
    "file-selector-button",
];

/// One `:name` or `::name` (with its `(…)` argument) in a selector.
struct Pseudo {
    start: usize,
    end: usize,
    name: String,
    element: bool,
}

/// The pseudo-classes and pseudo-elements of a selector at its top level (arguments skipped).
fn pseudos(text: &str) -> Vec<Pseudo> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    let mut quote: Option<u8> = None;
    let mut bracket = 0;
    while at < bytes.len() {
        let c = bytes[at];
        match (quote, c) {
            (Some(_), b'\\') => at += 1,
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'\\') => at += 1,
            (None, b'[') => bracket += 1,
            (None, b']') => bracket -= 1,
            (None, b':') if bracket == 0 => {
                let start = at;
                let element = bytes.get(at + 1) == Some(&b':');
                at += if element { 2 } else { 1 };
                let name_start = at;
                while at < bytes.len()
                    && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'-' || bytes[at] == b'_')
                {
                    at += 1;
                }
                let name = text[name_start..at].to_ascii_lowercase();
                if bytes.get(at) == Some(&b'(') {
                    let mut depth = 0;
                    while at < bytes.len() {
                        match bytes[at] {
                            b'(' => depth += 1,
                            b')' => {
                                depth -= 1;
                                if depth == 0 {
                                    at += 1;
                                    break;
                                }
                            }
                            _ => {}
                        }
                        at += 1;
                    }
                }
                out.push(Pseudo {
                    start,
                    end: at,
                    name,
                    element,
                });
                continue;
            }
            _ => {}
        }
        at += 1;
    }
    out
}

/// The selector with its state pseudo-classes and pseudo-elements removed (`a:hover` → `a`,
/// `:focus` → `*`).
pub(crate) fn at_rest(complex: &str) -> String {
    let mut out = String::with_capacity(complex.len());
    let mut from = 0;
    for pseudo in pseudos(complex) {
        let drop = STATEFUL.contains(&pseudo.name.as_str())
            || pseudo.name.starts_with('-')
            || pseudo.element;
        if !drop {
            continue;
        }
        out.push_str(&complex[from..pseudo.start]);
        // A compound that was only this pseudo still names an element.
        let alone_before = out
            .chars()
            .last()
            .is_none_or(|c| c.is_whitespace() || matches!(c, '>' | '+' | '~' | '('));
        let alone_after = complex[pseudo.end..]
            .chars()
            .next()
            .is_none_or(|c| c.is_whitespace() || matches!(c, '>' | '+' | '~' | ')' | ','));
        if alone_before && alone_after {
            out.push('*');
        }
        from = pseudo.end;
    }
    out.push_str(&complex[from..]);
    out
}

/// `(ids, classes/attributes/pseudo-classes, types/pseudo-elements)` of one complex selector.
/// `:where()` counts nothing; `:is()`/`:not()`/`:has()` count their arguments (summed, which
/// equals the maximum for the one-argument forms authors write most).
pub(crate) fn specificity(complex: &str) -> (u32, u32, u32) {
    let mut s = (0, 0, 0);
    let mut rest = complex.to_string();
    // Remove pseudo texts, counting them; arguments of :is/:not/:has are counted recursively.
    let found = pseudos(complex);
    for pseudo in found.iter().rev() {
        let text = &complex[pseudo.start..pseudo.end];
        match pseudo.name.as_str() {
            "where" => {}
            "is" | "not" | "has" | "matches" => {
                if let (Some(open), Some(close)) = (text.find('('), text.rfind(')')) {
                    let inner = specificity(&text[open + 1..close]);
                    s = (s.0 + inner.0, s.1 + inner.1, s.2 + inner.2);
                }
            }
            _ if pseudo.element => s.2 += 1,
            _ => s.1 += 1,
        }
        rest.replace_range(pseudo.start..pseudo.end, " ");
    }
    let bytes = rest.as_bytes();
    let mut at = 0;
    let mut at_compound_start = true;
    while at < bytes.len() {
        let c = bytes[at];
        match c {
            b'#' => {
                s.0 += 1;
                at_compound_start = false;
            }
            b'.' => {
                s.1 += 1;
                at_compound_start = false;
            }
            b'[' => {
                s.1 += 1;
                at = rest[at..].find(']').map_or(bytes.len(), |e| at + e);
                at_compound_start = false;
            }
            b' ' | b'>' | b'+' | b'~' | b'\t' | b'\n' => at_compound_start = true,
            b'*' => at_compound_start = false,
            _ if at_compound_start && (c.is_ascii_alphabetic() || c == b'_' || c >= 0x80) => {
                s.2 += 1;
                at_compound_start = false;
            }
            _ => {}
        }
        at += 1;
    }
    s
}

/// `tag.class1.class2` for an element: what the pick mode shows and counts alike elements by.
pub(crate) fn simple_of(element: &ElementRef<'_>) -> String {
    let value = element.value();
    let mut out = value.name().to_ascii_lowercase();
    for class in value.classes() {
        out.push('.');
        out.push_str(&escape_ident(class));
    }
    out
}

fn escape_ident(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        let plain = c.is_ascii_alphanumeric() || c == '-' || c == '_' || !c.is_ascii();
        if !plain || (i == 0 && c.is_ascii_digit()) {
            out.push('\\');
            if c.is_ascii_digit() {
                out.push_str(&format!("{:x} ", c as u32));
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The classes, ids and tag of a selector's last compound.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Names {
    pub tag: Option<String>,
    pub ids: Vec<String>,
    pub classes: Vec<String>,
}

impl Names {
    /// Whether a rule whose last compound holds `rule` names the same element: a class in
    /// common when the target names classes, else an id, else the tag.
    pub fn named_by(&self, rule: &Names) -> bool {
        if !self.classes.is_empty() {
            self.classes.iter().any(|c| rule.classes.contains(c))
        } else if !self.ids.is_empty() {
            self.ids.iter().any(|i| rule.ids.contains(i))
        } else {
            self.tag.is_some() && rule.tag == self.tag
        }
    }
}

pub(crate) fn last_compound_names(complex: &str) -> Names {
    let at_rest = at_rest(complex);
    let mut cleaned = at_rest.clone();
    for pseudo in pseudos(&at_rest).iter().rev() {
        cleaned.replace_range(pseudo.start..pseudo.end, "");
    }
    let last = cleaned
        .rsplit(|c: char| c.is_whitespace() || matches!(c, '>' | '+' | '~'))
        .find(|part| !part.is_empty())
        .unwrap_or("");
    let mut names = Names::default();
    let mut current = String::new();
    let mut kind = 't';
    let flush = |kind: char, current: &mut String, names: &mut Names| {
        if current.is_empty() {
            return;
        }
        let value = std::mem::take(current);
        match kind {
            '#' => names.ids.push(value),
            '.' => names.classes.push(value),
            _ if value != "*" => names.tag = Some(value.to_ascii_lowercase()),
            _ => {}
        }
    };
    let mut in_attribute = false;
    for c in last.chars() {
        match c {
            '[' => {
                flush(kind, &mut current, &mut names);
                in_attribute = true;
            }
            ']' => in_attribute = false,
            _ if in_attribute => {}
            '#' | '.' => {
                flush(kind, &mut current, &mut names);
                kind = c;
            }
            _ => current.push(c),
        }
    }
    flush(kind, &mut current, &mut names);
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_pseudo_elements_are_dropped_for_matching() {
        assert_eq!(at_rest("a.nav-link:hover"), "a.nav-link");
        assert_eq!(at_rest(".btn:focus-visible::after"), ".btn");
        assert_eq!(at_rest("ul :hover > li"), "ul * > li");
        assert_eq!(
            at_rest("li:nth-of-type(2):not(.x)"),
            "li:nth-of-type(2):not(.x)"
        );
        assert_eq!(at_rest("input::-webkit-input-placeholder"), "input");
    }

    #[test]
    fn specificity_counts_like_selectors_level_4() {
        assert_eq!(specificity("h1"), (0, 0, 1));
        assert_eq!(specificity("#a .b > p:hover"), (1, 2, 1));
        assert_eq!(specificity(":where(#a) p::before"), (0, 0, 2));
        assert_eq!(specificity(":is(.a) [x=\"#\"]"), (0, 2, 0));
        assert_eq!(specificity("*"), (0, 0, 0));
    }

    #[test]
    fn last_compounds_name_their_classes_ids_and_tag() {
        assert_eq!(
            last_compound_names("#app > div h1.title.big:hover"),
            Names {
                tag: Some("h1".into()),
                ids: vec![],
                classes: vec!["title".into(), "big".into()],
            }
        );
        assert!(last_compound_names("h1").named_by(&last_compound_names("main h1")));
        assert!(!last_compound_names(".card").named_by(&last_compound_names(".card h1")));
    }
}

//! CSS selectors, just enough to say which rules style which elements: type, `#id`, `.class`,
//! `[attr]`, `:root`, `:not()`/`:is()`/`:where()`, state pseudo-classes, descendant and child
//! combinators; Selectors Level 4 specificity. Conservative: what it cannot be sure about
//! (siblings, structural pseudo-classes, pseudo-elements) does not match.

use crate::markup::Element;

/// `(ids, classes/attributes/pseudo-classes, types/pseudo-elements)`.
pub(crate) type Specificity = (u32, u32, u32);

/// One compound selector: `button.btn#go:hover`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Compound {
    /// Lowercase type, `None` for none or `*`.
    pub tag: Option<String>,
    pub ids: Vec<String>,
    pub classes: Vec<String>,
    pub attributes: Vec<Attribute>,
    pub pseudo_classes: Vec<PseudoClass>,
    pub pseudo_element: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attribute {
    pub name: String,
    /// Operator (`=`, `~=`, `^=`, `$=`, `*=`, `|=`) and value.
    pub test: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PseudoClass {
    Root,
    Not(Vec<Complex>),
    /// `:is()` and `:matches()`.
    Is(Vec<Complex>),
    Where(Vec<Complex>),
    /// `:hover`, `:focus`, `:focus-visible`, `:active`: true only when asked for that state.
    Interaction(String),
    /// Anything else (`:first-child`, `:disabled`, `:checked` …): never assumed to hold.
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combinator {
    Descendant,
    Child,
    /// `+` and `~`: the markup scan keeps no sibling order, so these never match.
    Sibling,
}

/// A complex selector: compounds left to right with the combinators between them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Complex {
    pub compounds: Vec<Compound>,
    /// `combinators[i]` joins `compounds[i]` and `compounds[i + 1]`.
    pub combinators: Vec<Combinator>,
}

impl Complex {
    /// The compound that names the element the rule styles.
    pub fn subject(&self) -> Option<&Compound> {
        self.compounds.last()
    }

    pub fn specificity(&self) -> Specificity {
        self.compounds
            .iter()
            .map(Compound::specificity)
            .fold((0, 0, 0), add)
    }
}

fn add(a: Specificity, b: Specificity) -> Specificity {
    (a.0 + b.0, a.1 + b.1, a.2 + b.2)
}

impl Compound {
    pub fn specificity(&self) -> Specificity {
        let mut s = (
            self.ids.len() as u32,
            (self.classes.len() + self.attributes.len()) as u32,
            u32::from(self.tag.is_some()) + u32::from(self.pseudo_element),
        );
        for pseudo in &self.pseudo_classes {
            s = add(
                s,
                match pseudo {
                    PseudoClass::Where(_) => (0, 0, 0),
                    PseudoClass::Not(list) | PseudoClass::Is(list) => list
                        .iter()
                        .map(Complex::specificity)
                        .max()
                        .unwrap_or_default(),
                    _ => (0, 1, 0),
                },
            );
        }
        s
    }
}

/// Splits a selector list at its top-level commas.
pub(crate) fn split_list(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut current = String::new();
    for c in text.chars() {
        if escaped {
            escaped = false;
            current.push(c);
            continue;
        }
        match (quote, c) {
            (_, '\\') => escaped = true,
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            (None, ',') if depth <= 0 => {
                let item = current.trim();
                if !item.is_empty() {
                    out.push(collapse_spaces(item));
                }
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    let item = current.trim();
    if !item.is_empty() {
        out.push(collapse_spaces(item));
    }
    out
}

fn collapse_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A nested selector resolved against one parent selector (CSS Nesting): `&` stands for the
/// parent; without `&` the child is a descendant of the parent.
pub(crate) fn nest(parent: &str, child: &str) -> String {
    if child.contains('&') {
        child.replace('&', parent)
    } else {
        format!("{parent} {child}")
    }
}

/// Parses one complex selector; `None` for anything this module does not understand.
pub(crate) fn parse(text: &str) -> Option<Complex> {
    let chars: Vec<char> = text.trim().chars().collect();
    let mut at = 0;
    let mut compounds = Vec::new();
    let mut combinators = Vec::new();
    loop {
        let (compound, next) = parse_compound(&chars, at)?;
        compounds.push(compound);
        at = next;
        let mut saw_space = false;
        while chars.get(at).is_some_and(|c| c.is_whitespace()) {
            saw_space = true;
            at += 1;
        }
        let Some(&c) = chars.get(at) else {
            break;
        };
        let combinator = match c {
            '>' => Combinator::Child,
            '+' | '~' => Combinator::Sibling,
            _ if saw_space => {
                combinators.push(Combinator::Descendant);
                continue;
            }
            _ => return None,
        };
        at += 1;
        while chars.get(at).is_some_and(|c| c.is_whitespace()) {
            at += 1;
        }
        combinators.push(combinator);
    }
    Some(Complex {
        compounds,
        combinators,
    })
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '_' || !c.is_ascii()
}

/// Reads an identifier (with `\` escapes) starting at `at`.
fn read_ident(chars: &[char], mut at: usize) -> (String, usize) {
    let mut out = String::new();
    while let Some(&c) = chars.get(at) {
        if c == '\\' {
            if let Some(&next) = chars.get(at + 1) {
                out.push(next);
                at += 2;
                continue;
            }
            break;
        }
        if !is_ident_char(c) {
            break;
        }
        out.push(c);
        at += 1;
    }
    (out, at)
}

/// The text up to the bracket that closes the one just before `at`.
fn read_until_close(
    chars: &[char],
    mut at: usize,
    open: char,
    close: char,
) -> Option<(String, usize)> {
    let mut depth = 1;
    let mut quote: Option<char> = None;
    let mut out = String::new();
    while let Some(&c) = chars.get(at) {
        at += 1;
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == open => depth += 1,
            None if c == close => {
                depth -= 1;
                if depth == 0 {
                    return Some((out, at));
                }
            }
            None => {}
        }
        out.push(c);
    }
    None
}

fn parse_compound(chars: &[char], mut at: usize) -> Option<(Compound, usize)> {
    let mut compound = Compound::default();
    let start = at;
    if chars.get(at) == Some(&'*') {
        at += 1;
    } else if chars
        .get(at)
        .is_some_and(|&c| is_ident_char(c) || c == '\\')
    {
        let (tag, next) = read_ident(chars, at);
        compound.tag = Some(tag.to_ascii_lowercase());
        at = next;
    }
    while let Some(&c) = chars.get(at) {
        match c {
            '#' => {
                let (id, next) = read_ident(chars, at + 1);
                if id.is_empty() {
                    return None;
                }
                compound.ids.push(id);
                at = next;
            }
            '.' => {
                let (class, next) = read_ident(chars, at + 1);
                if class.is_empty() {
                    return None;
                }
                compound.classes.push(class);
                at = next;
            }
            '[' => {
                let (inner, next) = read_until_close(chars, at + 1, '[', ']')?;
                compound.attributes.push(parse_attribute(&inner)?);
                at = next;
            }
            ':' => {
                if chars.get(at + 1) == Some(&':') {
                    let (_, next) = read_ident(chars, at + 2);
                    compound.pseudo_element = true;
                    at = next;
                    if chars.get(at) == Some(&'(') {
                        let (_, next) = read_until_close(chars, at + 1, '(', ')')?;
                        at = next;
                    }
                    continue;
                }
                let (name, next) = read_ident(chars, at + 1);
                let name = name.to_ascii_lowercase();
                at = next;
                let argument = if chars.get(at) == Some(&'(') {
                    let (inner, next) = read_until_close(chars, at + 1, '(', ')')?;
                    at = next;
                    Some(inner)
                } else {
                    None
                };
                compound
                    .pseudo_classes
                    .push(pseudo_class(&name, argument.as_deref()));
            }
            _ => break,
        }
    }
    (at > start).then_some((compound, at))
}

fn pseudo_class(name: &str, argument: Option<&str>) -> PseudoClass {
    let list = || -> Vec<Complex> {
        argument
            .map(|a| split_list(a).iter().filter_map(|s| parse(s)).collect())
            .unwrap_or_default()
    };
    match name {
        "root" => PseudoClass::Root,
        // The legacy single-colon pseudo-elements.
        "before" | "after" | "first-line" | "first-letter" => PseudoClass::Other(name.to_string()),
        "not" => PseudoClass::Not(list()),
        "is" | "matches" | "-webkit-any" | "-moz-any" => PseudoClass::Is(list()),
        "where" => PseudoClass::Where(list()),
        "hover" | "focus" | "focus-visible" | "active" => {
            PseudoClass::Interaction(name.to_string())
        }
        _ => PseudoClass::Other(name.to_string()),
    }
}

fn parse_attribute(inner: &str) -> Option<Attribute> {
    let inner = inner.trim();
    let op_at = inner.find(['=', '~', '|', '^', '$', '*']);
    let Some(op_at) = op_at else {
        return Some(Attribute {
            name: inner.to_ascii_lowercase(),
            test: None,
        });
    };
    let name = inner[..op_at].trim().to_ascii_lowercase();
    let rest = &inner[op_at..];
    let (op, value) = if let Some(v) = rest.strip_prefix('=') {
        ("=", v)
    } else {
        let op = rest.get(..2)?;
        (op, rest.get(2..)?)
    };
    let mut value = value.trim();
    // A trailing ` i`/` s` case flag.
    if let Some((v, flag)) = value.rsplit_once(' ') {
        if flag.eq_ignore_ascii_case("i") || flag.eq_ignore_ascii_case("s") {
            value = v.trim();
        }
    }
    let value = value.trim_matches(|c| c == '"' || c == '\'');
    Some(Attribute {
        name,
        test: Some((op.to_string(), value.to_string())),
    })
}

/// Which element states a match may assume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// The element at rest: rules with `:hover`/`:focus` do not apply.
    Rest,
    /// Hovered and focused.
    Hover,
}

/// Whether `complex` matches element `index` of `elements` (ancestors followed by `parent`).
pub(crate) fn matches(complex: &Complex, elements: &[Element], index: usize, state: State) -> bool {
    let n = complex.compounds.len();
    n > 0 && match_from(complex, n - 1, elements, index, state)
}

fn match_from(
    complex: &Complex,
    at: usize,
    elements: &[Element],
    index: usize,
    state: State,
) -> bool {
    let (Some(compound), Some(element)) = (complex.compounds.get(at), elements.get(index)) else {
        return false;
    };
    if !compound_matches(compound, elements, index, element, state) {
        return false;
    }
    if at == 0 {
        return true;
    }
    match complex.combinators.get(at - 1) {
        Some(Combinator::Child) => element
            .parent
            .is_some_and(|p| match_from(complex, at - 1, elements, p, state)),
        Some(Combinator::Descendant) => {
            let mut ancestor = element.parent;
            while let Some(a) = ancestor {
                if match_from(complex, at - 1, elements, a, state) {
                    return true;
                }
                ancestor = elements.get(a).and_then(|e| e.parent);
            }
            false
        }
        Some(Combinator::Sibling) | None => false,
    }
}

fn compound_matches(
    compound: &Compound,
    elements: &[Element],
    index: usize,
    element: &Element,
    state: State,
) -> bool {
    if compound.pseudo_element {
        return false;
    }
    if let Some(tag) = &compound.tag {
        if !tag.eq_ignore_ascii_case(&element.tag) {
            return false;
        }
    }
    if !compound
        .ids
        .iter()
        .all(|id| element.id.as_deref() == Some(id.as_str()))
    {
        return false;
    }
    if !compound
        .classes
        .iter()
        .all(|class| element.classes.iter().any(|c| c == class))
    {
        return false;
    }
    if !compound
        .attributes
        .iter()
        .all(|a| attribute_matches(a, element))
    {
        return false;
    }
    compound.pseudo_classes.iter().all(|pseudo| match pseudo {
        PseudoClass::Root => element.tag == "html",
        PseudoClass::Not(list) => !list
            .iter()
            .any(|c| c.compounds.len() == 1 && matches(c, elements, index, state)),
        PseudoClass::Is(list) | PseudoClass::Where(list) => {
            list.iter().any(|c| matches(c, elements, index, state))
        }
        PseudoClass::Interaction(_) => state == State::Hover,
        PseudoClass::Other(_) => false,
    })
}

fn attribute_matches(attribute: &Attribute, element: &Element) -> bool {
    let value = match attribute.name.as_str() {
        "class" => Some(element.classes.join(" ")),
        "id" => element.id.clone(),
        name => element
            .attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone()),
    };
    let Some(value) = value else {
        return false;
    };
    let Some((op, wanted)) = &attribute.test else {
        return true;
    };
    let wanted = wanted.as_str();
    match op.as_str() {
        "=" => value == wanted,
        "~=" => value.split_whitespace().any(|w| w == wanted),
        "|=" => value == wanted || value.starts_with(&format!("{wanted}-")),
        "^=" => !wanted.is_empty() && value.starts_with(wanted),
        "$=" => !wanted.is_empty() && value.ends_with(wanted),
        "*=" => !wanted.is_empty() && value.contains(wanted),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(tag: &str, classes: &[&str], parent: Option<usize>) -> Element {
        Element {
            tag: tag.into(),
            classes: classes.iter().map(|c| c.to_string()).collect(),
            parent,
            ..Element::default()
        }
    }

    #[test]
    fn splits_lists_and_resolves_nesting() {
        assert_eq!(
            split_list("h6, .h6,\n  a:not(.x, .y)"),
            ["h6", ".h6", "a:not(.x, .y)"]
        );
        assert_eq!(nest("#a ul", "&:hover"), "#a ul:hover");
        assert_eq!(nest("#a", "> div"), "#a > div");
        assert_eq!(nest(".hero", ".base"), ".hero .base");
    }

    #[test]
    fn matches_compounds_and_ancestors_but_not_states_or_siblings() {
        let elements = vec![
            element("html", &[], None),
            element("body", &[], Some(0)),
            element("nav", &["navbar"], Some(1)),
            element("button", &["btn", "btn-primary"], Some(2)),
        ];
        let yes = |s: &str| matches(&parse(s).expect(s), &elements, 3, State::Rest);
        assert!(yes(".btn"));
        assert!(yes("button.btn-primary"));
        assert!(yes(".navbar .btn"));
        assert!(yes("body > nav > .btn"));
        assert!(yes(".btn:not(.btn-lg)"));
        assert!(yes(":is(.btn, .x)"));
        assert!(!yes(".btn:hover"));
        assert!(!yes(".btn-group > .btn"));
        assert!(!yes(".btn-check + .btn"));
        assert!(!yes(".btn::before"));
        assert!(matches(
            &parse(".btn:hover").expect("parses"),
            &elements,
            3,
            State::Hover
        ));
        assert!(matches(
            &parse(":root").expect("parses"),
            &elements,
            0,
            State::Rest
        ));
    }

    #[test]
    fn computes_specificity() {
        let s = |text: &str| parse(text).expect(text).specificity();
        assert_eq!(s("h1"), (0, 0, 1));
        assert_eq!(s(".btn-check + .btn:hover"), (0, 3, 0));
        assert_eq!(s("#sidebar-wrapper .sidebar-heading"), (1, 1, 0));
        assert_eq!(s("a:not([href]):not([class])"), (0, 2, 1));
        assert_eq!(s(":where(.x) p"), (0, 0, 1));
    }
}

//! Reads the design values out of one declaration's value: the colours in it, its lengths,
//! or its first font family. `var(--x)` is replaced by every value `--x` is defined with in
//! the site (its fallback when it has none), so a reference counts as on-token only if all
//! of them are.

use std::collections::{BTreeSet, HashMap};

use cssparser::{Parser, SourcePosition, Token};

use crate::color::{color_from_token, ColorValue, Rgba};
use crate::units::{Dimension, LengthUnit};

/// A design value found in the site.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Found {
    Color(Rgba),
    /// Absolute length in px (negative margins count by their size).
    Px(f64),
    /// First family of a `font-family` list, as written (unquoted).
    Family(String),
}

/// One value in a declaration: as written, where, and what it is (several values when it is
/// a `var()` whose custom property is defined more than once).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Item {
    pub text: String,
    pub line: u32,
    pub found: Vec<Found>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Colors,
    Lengths,
    Family,
}

/// Custom properties get at most this deep into each other.
const MAX_VAR_DEPTH: usize = 16;
/// At most this many `var()` expansions for one declaration: definitions that each use
/// another property several times would otherwise grow exponentially.
const MAX_VAR_EXPANSIONS: usize = 4_096;

pub(super) struct Vars<'a> {
    pub defs: &'a HashMap<String, Vec<String>>,
    /// Names used in `var()` with no definition and no fallback.
    pub unresolved: BTreeSet<String>,
    stack: Vec<String>,
    expansions: usize,
}

impl<'a> Vars<'a> {
    pub fn new(defs: &'a HashMap<String, Vec<String>>) -> Self {
        Self {
            defs,
            unresolved: BTreeSet::new(),
            stack: Vec::new(),
            expansions: 0,
        }
    }

    /// The items of a declaration value starting on `line`.
    pub fn items(&mut self, value: &str, line: u32, mode: Mode) -> Vec<Item> {
        if self.stack.is_empty() {
            self.expansions = 0;
        }
        let mut input = Parser::new(value);
        let mut out = Vec::new();
        match mode {
            Mode::Family => {
                let whole = strip_important(value);
                if let Some(item) = self.first_family(&mut input, line, whole) {
                    out.push(item);
                }
            }
            Mode::Colors | Mode::Lengths => self.walk(&mut input, line, mode, &mut out),
        }
        dedupe(out)
    }

    /// `font: italic 700 1rem/1.5 Inter, sans-serif` → the size item and the family item.
    pub fn font_shorthand(&mut self, value: &str, line: u32) -> (Option<Item>, Option<Item>) {
        let mut input = Parser::new(value);
        let mut size = None;
        loop {
            let Some((start, token_line, token)) = next_token(&mut input) else {
                return (None, None);
            };
            match token {
                // Style, variant and weight keywords or numbers come before the size.
                Token::Ident(_) | Token::Number { .. } => continue,
                Token::Dimension { value, unit, .. } => {
                    if let Some(unit) = LengthUnit::parse(&unit) {
                        let px = Dimension {
                            value: value.into(),
                            unit,
                        }
                        .to_px()
                        .abs();
                        size = (px > 0.0).then(|| Item {
                            text: input.slice_from(start).to_string(),
                            line: line + token_line,
                            found: vec![Found::Px(px)],
                        });
                    }
                    break;
                }
                Token::Percentage { .. } => break,
                // `var()` in a shorthand could stand for any part of it.
                _ => return (None, None),
            }
        }
        if input.try_parse(|i| i.expect_delim('/')).is_ok() && input.next().is_err() {
            return (size, None);
        }
        input.skip_whitespace();
        let rest = value
            .get(input.position().byte_index()..)
            .map(strip_important)
            .unwrap_or_default()
            .to_string();
        let family = self.first_family(&mut input, line, &rest);
        (size, family)
    }

    fn walk(&mut self, input: &mut Parser<'_>, line: u32, mode: Mode, out: &mut Vec<Item>) {
        while let Some((start, token_line, token)) = next_token(input) {
            let item_line = line + token_line;
            match (&token, mode) {
                (Token::Delim('!'), _) => return,
                (Token::Function(name), _) if name.eq_ignore_ascii_case("var") => {
                    let found = self.var(input, mode);
                    if !found.is_empty() {
                        out.push(Item {
                            text: input.slice_from(start).to_string(),
                            line: item_line,
                            found,
                        });
                    }
                }
                (Token::Function(name), Mode::Colors)
                    if name.to_ascii_lowercase().ends_with("gradient") =>
                {
                    let _ = input.parse_nested_block(|args| {
                        self.walk(args, item_line, mode, out);
                        Ok::<_, cssparser::ParseError<()>>(())
                    });
                }
                (_, Mode::Colors) => {
                    // A fully transparent colour is `transparent` written another way.
                    if let Some(ColorValue::Color(color)) = color_from_token(&token, input)
                        .filter(|c| !matches!(c, ColorValue::Color(c) if c.a == 0.0))
                    {
                        out.push(Item {
                            text: input.slice_from(start).to_string(),
                            line: item_line,
                            found: vec![Found::Color(color)],
                        });
                    }
                }
                (Token::Dimension { value, unit, .. }, Mode::Lengths) => {
                    let Some(unit) = LengthUnit::parse(unit) else {
                        continue;
                    };
                    let px = Dimension {
                        value: f64::from(*value),
                        unit,
                    }
                    .to_px()
                    .abs();
                    if px > 0.0 {
                        out.push(Item {
                            text: input.slice_from(start).to_string(),
                            line: item_line,
                            found: vec![Found::Px(px)],
                        });
                    }
                }
                // Keywords, `0`, percentages, viewport units and `calc()` are not token values.
                _ => {}
            }
        }
    }

    /// The first family of a family list; `whole` is the text to report for it.
    fn first_family(&mut self, input: &mut Parser<'_>, line: u32, whole: &str) -> Option<Item> {
        let (start, token_line, token) = next_token(input)?;
        let line = line + token_line;
        let family = match token {
            Token::Function(name) if name.eq_ignore_ascii_case("var") => {
                let found = self.var(input, Mode::Family);
                return (!found.is_empty()).then(|| Item {
                    text: input.slice_from(start).to_string(),
                    line,
                    found,
                });
            }
            Token::QuotedString(name) => name.to_string(),
            Token::Ident(name) => {
                let mut words = vec![name.to_string()];
                while let Ok(Token::Ident(word)) = input.try_parse(|i| i.next().cloned()) {
                    words.push(word.to_string());
                }
                let family = words.join(" ");
                if is_wide_keyword(&family) {
                    return None;
                }
                family
            }
            _ => return None,
        };
        Some(Item {
            text: whole.trim().to_string(),
            line,
            found: vec![Found::Family(family)],
        })
    }

    /// What a `var(--name, fallback)` (its arguments are next in `input`) stands for.
    fn var(&mut self, input: &mut Parser<'_>, mode: Mode) -> Vec<Found> {
        let parsed = input.parse_nested_block(|args| {
            let name = args.expect_ident()?.to_string();
            let fallback = if args.try_parse(|a| a.expect_comma()).is_ok() {
                let start = args.position();
                while args.next().is_ok() {}
                Some(args.slice_from(start).to_string())
            } else {
                None
            };
            Ok::<_, cssparser::ParseError<()>>((name, fallback))
        });
        let Ok((name, fallback)) = parsed else {
            return Vec::new();
        };
        self.expansions += 1;
        if self.stack.len() >= MAX_VAR_DEPTH
            || self.expansions > MAX_VAR_EXPANSIONS
            || self.stack.contains(&name)
        {
            return Vec::new();
        }
        let defs = self.defs;
        let texts: Vec<&str> = match (defs.get(&name), &fallback) {
            (Some(values), _) => values.iter().map(String::as_str).collect(),
            (None, Some(fallback)) => vec![fallback.as_str()],
            (None, None) => {
                self.unresolved.insert(name);
                return Vec::new();
            }
        };
        self.stack.push(name);
        let mut found = Vec::new();
        for text in texts {
            for item in self.items(text, 0, mode) {
                found.extend(item.found);
            }
        }
        self.stack.pop();
        found
    }
}

/// The next token that is not whitespace or a comment, with where it starts.
fn next_token<'i>(input: &mut Parser<'i>) -> Option<(SourcePosition, u32, Token<'i>)> {
    loop {
        // Also finishes skipping a function or block the caller did not enter.
        input.skip_whitespace();
        let start = input.position();
        let line = input.current_source_location().line;
        match input.next_including_whitespace_and_comments() {
            Ok(Token::Comment(_) | Token::WhiteSpace(_)) => continue,
            Ok(token) => return Some((start, line, token.clone())),
            Err(_) => return None,
        }
    }
}

fn is_wide_keyword(word: &str) -> bool {
    ["inherit", "initial", "unset", "revert", "revert-layer"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
}

fn strip_important(value: &str) -> &str {
    let trimmed = value.trim_end();
    match trimmed.rfind('!') {
        Some(bang) if trimmed[bang + 1..].trim().eq_ignore_ascii_case("important") => {
            trimmed[..bang].trim_end()
        }
        _ => trimmed,
    }
}

/// `padding: 8px 8px` is one use of `8px`.
fn dedupe(items: Vec<Item>) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::with_capacity(items.len());
    for item in items {
        if !out.iter().any(|seen| seen.text == item.text) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(items: &[Item]) -> Vec<(&str, u32, usize)> {
        items
            .iter()
            .map(|i| (i.text.as_str(), i.line, i.found.len()))
            .collect()
    }

    #[test]
    fn finds_colours_in_shorthands_and_gradients_but_not_keywords() {
        let defs = HashMap::new();
        let mut vars = Vars::new(&defs);
        let items = vars.items(
            "1px solid #CCC, linear-gradient(red,\n rgba(0, 0, 0, .5)) transparent currentColor !important",
            7,
            Mode::Colors,
        );
        assert_eq!(
            texts(&items),
            [("#CCC", 7, 1), ("red", 7, 1), ("rgba(0, 0, 0, .5)", 8, 1)]
        );
    }

    #[test]
    fn finds_lengths_but_skips_zero_auto_percent_and_calc() {
        let defs = HashMap::new();
        let mut vars = Vars::new(&defs);
        let items = vars.items(
            "0 auto 10% calc(1rem + 2px) -1.5rem 8px 8px 2vw",
            1,
            Mode::Lengths,
        );
        assert_eq!(texts(&items), [("-1.5rem", 1, 1), ("8px", 1, 1)]);
        assert_eq!(items[0].found, [Found::Px(24.0)]);
    }

    #[test]
    fn resolves_var_through_every_definition_and_fallbacks() {
        let mut defs = HashMap::new();
        defs.insert(
            "--ink".to_string(),
            vec!["#111".to_string(), "var(--dark)".to_string()],
        );
        defs.insert("--dark".to_string(), vec!["#222".to_string()]);
        defs.insert("--loop".to_string(), vec!["var(--loop)".to_string()]);
        let mut vars = Vars::new(&defs);
        let items = vars.items(
            "var(--ink) var(--missing, #333) var(--nowhere) var(--loop)",
            1,
            Mode::Colors,
        );
        assert_eq!(
            texts(&items),
            [("var(--ink)", 1, 2), ("var(--missing, #333)", 1, 1)]
        );
        assert_eq!(vars.unresolved.iter().collect::<Vec<_>>(), ["--nowhere"]);
    }

    #[test]
    fn bounds_exponential_var_expansion() {
        let mut defs = HashMap::new();
        for i in 0..30 {
            let next = format!("var(--v{}) var(--v{}) var(--v{})", i + 1, i + 1, i + 1);
            defs.insert(format!("--v{i}"), vec![next]);
        }
        defs.insert("--v30".to_string(), vec!["#fff".to_string()]);
        let mut vars = Vars::new(&defs);
        // Finishing at all is the point; 3^30 expansions would not.
        let items = vars.items("var(--v0)", 1, Mode::Colors);
        assert!(items.len() <= 1);
    }

    #[test]
    fn takes_the_first_family_of_a_list() {
        let mut defs = HashMap::new();
        defs.insert(
            "--sans".to_string(),
            vec!["system-ui, sans-serif".to_string()],
        );
        let mut vars = Vars::new(&defs);
        let items = vars.items("Helvetica Neue, Arial !important", 3, Mode::Family);
        assert_eq!(texts(&items), [("Helvetica Neue, Arial", 3, 1)]);
        assert_eq!(items[0].found, [Found::Family("Helvetica Neue".into())]);
        let items = vars.items("\"Segoe UI\", sans-serif", 1, Mode::Family);
        assert_eq!(items[0].found, [Found::Family("Segoe UI".into())]);
        let items = vars.items("var(--sans)", 1, Mode::Family);
        assert_eq!(items[0].found, [Found::Family("system-ui".into())]);
        assert!(vars.items("inherit", 1, Mode::Family).is_empty());
    }

    #[test]
    fn splits_the_font_shorthand_into_size_and_family() {
        let defs = HashMap::new();
        let mut vars = Vars::new(&defs);
        let (size, family) =
            vars.font_shorthand("italic 700 0.875rem/1.5 \"Inter\", sans-serif", 2);
        assert_eq!(size.map(|s| s.found), Some(vec![Found::Px(14.0)]));
        let family = family.expect("family");
        assert_eq!(family.text, "\"Inter\", sans-serif");
        assert_eq!(family.found, [Found::Family("Inter".into())]);
        assert_eq!(vars.font_shorthand("inherit", 1), (None, None));
    }
}

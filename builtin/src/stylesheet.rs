//! The site's CSS as rules and declarations with byte positions, so a change can be made as
//! an exact edit of the original text. Walks stylesheets, `<style>` blocks and `style=""`
//! attributes with cssparser's rule and declaration parsers; CSS nesting (`&:hover`, nested
//! `@media`) is flattened into rules whose selectors are resolved against their parents.
//!
//! Invalid CSS is skipped the way a browser skips it; nothing here fails.

use std::ops::Range;

use cssparser::{
    AtRuleParser, CowRcStr, DeclarationParser, ParseError, Parser, ParserState,
    QualifiedRuleParser, RuleBodyItemParser, RuleBodyParser, StyleSheetParser, Token,
};

use crate::selector;

/// Where a rule's text lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A `.css` file.
    File,
    /// A `<style>` block of an HTML page.
    StyleBlock,
    /// A `style=""` attribute (declarations only, no selector).
    StyleAttribute,
}

/// One style rule (or the declarations of one `style` attribute).
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// Index of the file in the site.
    pub source: usize,
    pub origin: Origin,
    /// Complex selectors with nesting resolved (`#next-steps ul a`); empty for attributes.
    pub selectors: Vec<String>,
    /// The selector list as written, for messages.
    pub selector_text: String,
    /// Enclosing conditional at-rules, normalised: `media (min-width: 1200px)`.
    pub conditions: Vec<String>,
    /// Byte offset in the file just after `{`.
    pub open: usize,
    /// Byte offset in the file of the closing `}` (the end of the text when it is missing).
    pub close: usize,
    /// 1-based line of the selector.
    pub line: u32,
    pub declarations: Vec<Declaration>,
}

/// One `property: value` of a rule.
#[derive(Debug, Clone)]
pub(crate) struct Declaration {
    /// Lowercase property name (custom properties keep their case).
    pub property: String,
    /// The value as written, trimmed, without `!important`.
    pub value: String,
    pub important: bool,
    /// Bytes of `value` in the file.
    pub value_span: Range<usize>,
    /// Byte offset in the file of the property name.
    pub start: usize,
    /// Byte offset in the file just after the value (and its `!important`).
    pub end: usize,
    /// 1-based line of the property name.
    pub line: u32,
}

impl Rule {
    pub fn is_attribute(&self) -> bool {
        self.origin == Origin::StyleAttribute
    }
}

/// Where a piece of CSS sits in its file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placement {
    pub source: usize,
    pub origin: Origin,
    /// Byte offset of the CSS text in the file.
    pub base: usize,
    /// 0-based line of that offset in the file.
    pub base_line: u32,
}

/// Every rule of a stylesheet (a file or a `<style>` block), in source order.
pub(crate) fn parse_stylesheet(css: &str, at: Placement) -> Vec<Rule> {
    let mut rules = Vec::new();
    let mut parser = Parser::new(css);
    let mut collector = Collector {
        css,
        at,
        rules: &mut rules,
        parents: Vec::new(),
        conditions: Vec::new(),
        current: None,
        rules_allowed: true,
    };
    for _ in StyleSheetParser::new(&mut parser, &mut collector) {}
    rules
}

/// The declarations of one `style=""` attribute as a rule without selectors.
pub(crate) fn parse_style_attribute(css: &str, at: Placement) -> Rule {
    let empty = || Rule {
        source: at.source,
        origin: Origin::StyleAttribute,
        selectors: Vec::new(),
        selector_text: String::new(),
        conditions: Vec::new(),
        open: at.base,
        close: at.base + css.len(),
        line: at.base_line + 1,
        declarations: Vec::new(),
    };
    let mut rules = vec![empty()];
    let mut parser = Parser::new(css);
    let mut collector = Collector {
        css,
        at,
        rules: &mut rules,
        parents: Vec::new(),
        conditions: Vec::new(),
        current: Some(0),
        rules_allowed: false,
    };
    for _ in RuleBodyParser::new(&mut parser, &mut collector) {}
    rules.into_iter().next().unwrap_or_else(empty)
}

struct Collector<'a, 'r> {
    css: &'a str,
    at: Placement,
    rules: &'r mut Vec<Rule>,
    /// Resolved selectors of the enclosing style rule; empty at the top level.
    parents: Vec<String>,
    conditions: Vec<String>,
    /// The rule that receives declarations met here.
    current: Option<usize>,
    rules_allowed: bool,
}

impl Collector<'_, '_> {
    fn line(&self, zero_based: u32) -> u32 {
        self.at.base_line + zero_based + 1
    }

    fn body(&mut self, input: &mut Parser<'_>, current: Option<usize>, parents: Vec<String>) {
        self.body_with(input, current, parents, self.conditions.clone());
    }

    fn body_with(
        &mut self,
        input: &mut Parser<'_>,
        current: Option<usize>,
        parents: Vec<String>,
        conditions: Vec<String>,
    ) {
        let mut inner = Collector {
            css: self.css,
            at: self.at,
            rules: &mut *self.rules,
            parents,
            conditions,
            current,
            rules_allowed: true,
        };
        for _ in RuleBodyParser::new(input, &mut inner) {}
    }

    /// Where the block that `input` is inside ends: at its `}`, or at the end of the text.
    fn close_of(&self, input: &mut Parser<'_>) -> usize {
        while input.next_including_whitespace_and_comments().is_ok() {}
        let at = input.position().byte_index();
        let rest = self.css.get(at..).unwrap_or("");
        let close = if rest.starts_with('}') {
            at
        } else {
            self.css.len()
        };
        self.at.base + close
    }
}

fn consume_all(input: &mut Parser<'_>) {
    while input.next().is_ok() {}
}

/// Splits `value !important` into the value and whether it was important.
fn strip_important(raw: &str) -> (&str, bool) {
    let trimmed = raw.trim_end();
    if let Some(bang) = trimmed.rfind('!') {
        if trimmed[bang + 1..].trim().eq_ignore_ascii_case("important") {
            return (trimmed[..bang].trim_end(), true);
        }
    }
    (trimmed, false)
}

impl<'i> DeclarationParser<'i> for Collector<'_, '_> {
    type Declaration = ();
    type Error = ();

    fn parse_value(
        &mut self,
        name: CowRcStr<'i>,
        input: &mut Parser<'i>,
        start: &ParserState,
    ) -> Result<(), ParseError<()>> {
        input.skip_whitespace();
        let value_start = input.position();
        let custom = name.starts_with("--");
        loop {
            match input.next_including_whitespace_and_comments() {
                // A `{}` block in a value means this was a nested rule (`a:hover { … }`);
                // failing lets cssparser re-read it as one.
                Ok(Token::CurlyBracketBlock) if !custom => {
                    return Err(ParseError::unexpected_token());
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let raw = input.slice_from(value_start);
        let (value, important) = strip_important(raw);
        let from = value_start.byte_index();
        let end_rel = from + raw.trim_end().len();
        let Some(current) = self.current else {
            return Ok(());
        };
        let declaration = Declaration {
            property: if custom {
                name.to_string()
            } else {
                name.to_ascii_lowercase()
            },
            value: value.to_string(),
            important,
            value_span: self.at.base + from..self.at.base + from + value.len(),
            start: self.at.base + start.position().byte_index(),
            end: self.at.base + end_rel,
            line: self.line(start.source_location().line),
        };
        if let Some(rule) = self.rules.get_mut(current) {
            rule.declarations.push(declaration);
        }
        Ok(())
    }
}

/// The conditional at-rules whose blocks hold rules or declarations that style the page.
fn styles_bearing(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "media" | "supports" | "layer" | "container" | "document" | "scope" | "starting-style"
    )
}

impl<'i> AtRuleParser<'i> for Collector<'_, '_> {
    /// The normalised condition (`media (min-width: 768px)`) when the block styles the page.
    type Prelude = Option<String>;
    type AtRule = ();
    type Error = ();

    fn parse_prelude(
        &mut self,
        name: CowRcStr<'i>,
        input: &mut Parser<'i>,
    ) -> Result<Option<String>, ParseError<()>> {
        let start = input.position();
        consume_all(input);
        if !styles_bearing(&name) {
            return Ok(None);
        }
        let prelude = input.slice_from(start);
        let words: Vec<&str> = prelude.split_whitespace().collect();
        Ok(Some(
            format!("{} {}", name.to_ascii_lowercase(), words.join(" "))
                .trim()
                .to_ascii_lowercase(),
        ))
    }

    fn rule_without_block(
        &mut self,
        _prelude: Option<String>,
        _start: &ParserState,
    ) -> Result<(), ()> {
        Ok(())
    }

    fn parse_block(
        &mut self,
        prelude: Option<String>,
        start: &ParserState,
        input: &mut Parser<'i>,
    ) -> Result<(), ParseError<()>> {
        let Some(condition) = prelude else {
            consume_all(input);
            return Ok(());
        };
        let mut conditions = self.conditions.clone();
        conditions.push(condition);
        if self.current.is_some() && !self.parents.is_empty() {
            // `h1 { @media (…) { font-size: … } }`: the parent's selectors under a condition.
            let open = self.at.base + input.position().byte_index();
            let index = self.rules.len();
            let selector_text = self
                .current
                .and_then(|c| self.rules.get(c))
                .map(|r| r.selector_text.clone())
                .unwrap_or_default();
            self.rules.push(Rule {
                source: self.at.source,
                origin: self.at.origin,
                selectors: self.parents.clone(),
                selector_text,
                conditions: conditions.clone(),
                open,
                close: open,
                line: self.line(start.source_location().line),
                declarations: Vec::new(),
            });
            let parents = self.parents.clone();
            self.body_with(input, Some(index), parents, conditions);
            let close = self.close_of(input);
            if let Some(rule) = self.rules.get_mut(index) {
                rule.close = close;
            }
        } else {
            self.body_with(input, None, Vec::new(), conditions);
        }
        Ok(())
    }
}

impl<'i> QualifiedRuleParser<'i> for Collector<'_, '_> {
    /// The selector list as written.
    type Prelude = String;
    type QualifiedRule = ();
    type Error = ();

    fn parse_prelude(&mut self, input: &mut Parser<'i>) -> Result<String, ParseError<()>> {
        let start = input.position();
        consume_all(input);
        Ok(input.slice_from(start).trim().to_string())
    }

    fn parse_block(
        &mut self,
        prelude: String,
        start: &ParserState,
        input: &mut Parser<'i>,
    ) -> Result<(), ParseError<()>> {
        let written = selector::split_list(&prelude);
        let selectors: Vec<String> = if self.parents.is_empty() {
            written
        } else {
            self.parents
                .iter()
                .flat_map(|parent| written.iter().map(|child| selector::nest(parent, child)))
                .collect()
        };
        let open = self.at.base + input.position().byte_index();
        let index = self.rules.len();
        self.rules.push(Rule {
            source: self.at.source,
            origin: self.at.origin,
            selectors: selectors.clone(),
            selector_text: prelude,
            conditions: self.conditions.clone(),
            open,
            close: open,
            line: self.line(start.source_location().line),
            declarations: Vec::new(),
        });
        self.body(input, Some(index), selectors);
        let close = self.close_of(input);
        if let Some(rule) = self.rules.get_mut(index) {
            rule.close = close;
        }
        Ok(())
    }
}

impl<'i> RuleBodyItemParser<'i, (), ()> for Collector<'_, '_> {
    fn parse_declarations(&self) -> bool {
        true
    }

    fn parse_qualified(&self) -> bool {
        self.rules_allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(css: &str) -> Vec<Rule> {
        parse_stylesheet(
            css,
            Placement {
                source: 0,
                origin: Origin::File,
                base: 0,
                base_line: 0,
            },
        )
    }

    fn listed(css: &str) -> Vec<String> {
        parse(css)
            .iter()
            .map(|r| {
                let decls: Vec<String> = r
                    .declarations
                    .iter()
                    .map(|d| {
                        format!(
                            "{}={}{}",
                            d.property,
                            &css[d.value_span.clone()],
                            if d.important { "!" } else { "" },
                        )
                    })
                    .collect();
                format!(
                    "{}@{} [{}] {{{}}} {}",
                    r.selectors.join(" | "),
                    r.line,
                    r.conditions.join(" & "),
                    decls.join(" "),
                    &css[r.close..r.close + 1]
                )
            })
            .collect()
    }

    #[test]
    fn records_rules_with_value_spans_conditions_and_closing_braces() {
        let css = "a, b { COLOR: Red; margin: 0 !important }\n@media (min-width:  1px) {\n  .x:hover { color: blue }\n}\n";
        assert_eq!(
            listed(css),
            [
                "a | b@1 [] {color=Red margin=0!} }",
                ".x:hover@3 [media (min-width: 1px)] {color=blue} }",
            ]
        );
    }

    #[test]
    fn flattens_nested_rules_and_nested_media() {
        let css = "h1 {\n  font-size: 56px;\n  @media (max-width: 1024px) {\n    font-size: 36px;\n  }\n}\n#n ul {\n  a { color: red; &:hover { color: blue } }\n  & > div { padding: 1px }\n}\n";
        assert_eq!(
            listed(css),
            [
                "h1@1 [] {font-size=56px} }",
                "h1@3 [media (max-width: 1024px)] {font-size=36px} }",
                "#n ul@7 [] {} }",
                "#n ul a@8 [] {color=red} }",
                "#n ul a:hover@8 [] {color=blue} }",
                "#n ul > div@9 [] {padding=1px} }",
            ]
        );
    }

    #[test]
    fn reads_attribute_declarations_at_their_offset() {
        let html = "<p style=\"color: red; margin: 4px\">";
        let rule = parse_style_attribute(
            &html[10..33],
            Placement {
                source: 2,
                origin: Origin::StyleAttribute,
                base: 10,
                base_line: 0,
            },
        );
        let spans: Vec<&str> = rule
            .declarations
            .iter()
            .map(|d| &html[d.value_span.clone()])
            .collect();
        assert_eq!(spans, ["red", "4px"]);
    }
}

//! Walks a stylesheet (or a `style=""` attribute) with cssparser's rule and declaration
//! parsers and collects every declaration with its line, plus every custom property
//! definition, so `var(--x)` can be resolved once all sources are read.
//!
//! Invalid CSS is skipped the way a browser skips it; nothing here fails.

use std::collections::HashMap;

use cssparser::{
    AtRuleParser, CowRcStr, DeclarationParser, ParseError, Parser, ParserState,
    QualifiedRuleParser, RuleBodyItemParser, RuleBodyParser, StyleSheetParser, Token,
};

/// One `property: value` of the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Declaration {
    /// Index of the source file.
    pub source: usize,
    /// 1-based line where the value starts.
    pub line: u32,
    /// Lowercase property name.
    pub property: String,
    /// The value as written, trimmed (may end in `!important`).
    pub value: String,
}

/// Everything collected from all sources.
#[derive(Debug, Default)]
pub(super) struct Collected {
    pub declarations: Vec<Declaration>,
    /// Custom property name (`--bs-body-color`) → its distinct values, in source order.
    pub custom_properties: HashMap<String, Vec<String>>,
}

impl Collected {
    /// A whole stylesheet (a `.css` file or a `<style>` block starting at `first_line`, 0-based).
    pub fn add_stylesheet(&mut self, source: usize, css: &str, first_line: u32) {
        let mut input = Parser::new(css);
        let mut collector = Collector {
            source,
            first_line,
            out: self,
            rules_allowed: true,
        };
        for _ in StyleSheetParser::new(&mut input, &mut collector) {}
    }

    /// The declarations of one `style=""` attribute whose value starts on `first_line`.
    pub fn add_style_attribute(&mut self, source: usize, css: &str, first_line: u32) {
        let mut input = Parser::new(css);
        let mut collector = Collector {
            source,
            first_line,
            out: self,
            rules_allowed: false,
        };
        for _ in RuleBodyParser::new(&mut input, &mut collector) {}
    }
}

struct Collector<'a> {
    source: usize,
    first_line: u32,
    out: &'a mut Collected,
    /// False in a `style` attribute, which holds declarations only.
    rules_allowed: bool,
}

impl Collector<'_> {
    fn body(&mut self, input: &mut Parser<'_>) {
        for _ in RuleBodyParser::new(input, self) {}
    }
}

fn consume_all(input: &mut Parser<'_>) {
    while input.next().is_ok() {}
}

impl<'i> DeclarationParser<'i> for Collector<'_> {
    type Declaration = ();
    type Error = ();

    fn parse_value(
        &mut self,
        name: CowRcStr<'i>,
        input: &mut Parser<'i>,
        _start: &ParserState,
    ) -> Result<(), ParseError<()>> {
        input.skip_whitespace();
        let line = input.current_source_location().line;
        let start = input.position();
        let custom = name.starts_with("--");
        loop {
            match input.next_including_whitespace_and_comments() {
                // A `{}` block in a value means this was a nested rule (`a:hover { … }`);
                // failing lets cssparser re-read it as one.
                Ok(Token::CurlyBracketBlock) if !custom => {
                    return Err(ParseError::unexpected_token())
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let value = input.slice_from(start).trim().to_string();
        if custom {
            let values = self
                .out
                .custom_properties
                .entry(name.to_string())
                .or_default();
            if !values.contains(&value) {
                values.push(value);
            }
        } else {
            self.out.declarations.push(Declaration {
                source: self.source,
                line: self.first_line + line + 1,
                property: name.to_ascii_lowercase(),
                value,
            });
        }
        Ok(())
    }
}

impl<'i> AtRuleParser<'i> for Collector<'_> {
    /// Whether the block holds rules or declarations that style the page.
    type Prelude = bool;
    type AtRule = ();
    type Error = ();

    fn parse_prelude(
        &mut self,
        name: CowRcStr<'i>,
        input: &mut Parser<'i>,
    ) -> Result<bool, ParseError<()>> {
        consume_all(input);
        // @font-face, @page, @property, @counter-style … describe things; they are not
        // styles the page uses.
        Ok(matches!(
            name.to_ascii_lowercase()
                .trim_start_matches("-webkit-")
                .trim_start_matches("-moz-"),
            "media"
                | "supports"
                | "layer"
                | "container"
                | "document"
                | "scope"
                | "starting-style"
                | "keyframes"
        ))
    }

    fn rule_without_block(&mut self, _prelude: bool, _start: &ParserState) -> Result<(), ()> {
        Ok(())
    }

    fn parse_block(
        &mut self,
        styles: bool,
        _start: &ParserState,
        input: &mut Parser<'i>,
    ) -> Result<(), ParseError<()>> {
        if styles {
            self.body(input);
        } else {
            consume_all(input);
        }
        Ok(())
    }
}

impl<'i> QualifiedRuleParser<'i> for Collector<'_> {
    type Prelude = ();
    type QualifiedRule = ();
    type Error = ();

    fn parse_prelude(&mut self, input: &mut Parser<'i>) -> Result<(), ParseError<()>> {
        consume_all(input);
        Ok(())
    }

    fn parse_block(
        &mut self,
        _prelude: (),
        _start: &ParserState,
        input: &mut Parser<'i>,
    ) -> Result<(), ParseError<()>> {
        self.body(input);
        Ok(())
    }
}

impl<'i> RuleBodyItemParser<'i, (), ()> for Collector<'_> {
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

    fn collect(css: &str) -> Collected {
        let mut collected = Collected::default();
        collected.add_stylesheet(0, css, 0);
        collected
    }

    fn listed(collected: &Collected) -> Vec<String> {
        collected
            .declarations
            .iter()
            .map(|d| format!("{}: {}: {}", d.line, d.property, d.value))
            .collect()
    }

    #[test]
    fn collects_declarations_in_rules_media_queries_and_nested_rules() {
        let collected = collect(
            "a { COLOR: Red }\n\
             @media (min-width: 1px) {\n  a:hover { color: blue !important; }\n}\n\
             .card {\n  padding: 8px;\n  &:hover { margin: 4px }\n  .title { font-size: 1rem }\n}\n\
             @font-face { font-family: Mine; src: url(x.woff) }\n\
             @import url(other.css);\n\
             b { border:\n  1px solid\n  #ccc }",
        );
        assert_eq!(
            listed(&collected),
            [
                "1: color: Red",
                "3: color: blue !important",
                "6: padding: 8px",
                "7: margin: 4px",
                "8: font-size: 1rem",
                "13: border: 1px solid\n  #ccc",
            ]
        );
    }

    #[test]
    fn records_custom_properties_once_per_distinct_value() {
        let collected = collect(
            ":root { --ink: #111; --pad: 4px 8px }\n.dark { --ink: #eee }\n.x { --ink: #111 }",
        );
        assert_eq!(collected.custom_properties["--ink"], ["#111", "#eee"]);
        assert_eq!(collected.custom_properties["--pad"], ["4px 8px"]);
        assert!(collected.declarations.is_empty());
    }

    #[test]
    fn skips_broken_css_like_a_browser_and_keeps_going() {
        let collected =
            collect("a { color: ; ] } } b { color: red } c { margin 4px; padding: 2px }");
        assert_eq!(
            listed(&collected),
            ["1: color: ", "1: color: red", "1: padding: 2px"]
        );
    }

    #[test]
    fn reads_style_attributes_as_declarations_only() {
        let mut collected = Collected::default();
        collected.add_style_attribute(3, "color: red; margin: 0 auto", 9);
        assert_eq!(listed(&collected), ["10: color: red", "10: margin: 0 auto"]);
        assert_eq!(collected.declarations[0].source, 3);
    }
}

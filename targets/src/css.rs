//! The style rules of one stylesheet text with their selector lists and 1-based lines:
//! cssparser's rule parsers, descending into conditional group rules (`@media`, `@supports`,
//! `@layer`, `@container`) and noting `@import`s. Invalid CSS is skipped the way a browser
//! skips it; nothing here fails.

use cssparser::{
    AtRuleParser, CowRcStr, ParseError, Parser, ParserState, QualifiedRuleParser, StyleSheetParser,
    Token,
};

/// One style rule as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CssRule {
    /// The selector list, trimmed, whitespace collapsed.
    pub selector: String,
    /// 1-based line of the selector in the file.
    pub line: u32,
}

/// What one stylesheet holds.
#[derive(Debug, Default)]
pub(crate) struct Sheet {
    pub rules: Vec<CssRule>,
    /// `@import` URLs, in order.
    pub imports: Vec<String>,
}

/// Reads a stylesheet whose first byte is on `first_line` (0-based) of its file.
pub(crate) fn read(css: &str, first_line: u32) -> Sheet {
    let mut parser = Parser::new(css);
    let mut sheet = Sheet::default();
    read_rules(&mut parser, &mut sheet, first_line, true);
    sheet
}

fn read_rules(parser: &mut Parser<'_>, sheet: &mut Sheet, first_line: u32, top_level: bool) {
    let mut reader = Reader {
        sheet,
        first_line,
        top_level,
    };
    for _ in StyleSheetParser::new(parser, &mut reader) {}
}

struct Reader<'s> {
    sheet: &'s mut Sheet,
    /// 0-based line of the text's first byte in its file.
    first_line: u32,
    top_level: bool,
}

/// The prelude of an at-rule this reader acts on.
enum AtPrelude {
    /// A group rule whose block holds style rules.
    Group,
    Import(String),
    Other,
}

impl<'i> AtRuleParser<'i> for Reader<'_> {
    type Prelude = AtPrelude;
    type AtRule = ();
    type Error = ();

    fn parse_prelude(
        &mut self,
        name: CowRcStr<'i>,
        input: &mut Parser<'i>,
    ) -> Result<AtPrelude, ParseError<()>> {
        let lower = name.to_ascii_lowercase();
        let prelude = match lower.as_str() {
            "media" | "supports" | "layer" | "container" | "document" | "scope" => AtPrelude::Group,
            "import" if self.top_level => {
                let url = match input.next() {
                    Ok(Token::QuotedString(s) | Token::UnquotedUrl(s)) => Some(s.to_string()),
                    Ok(Token::Function(f)) if f.eq_ignore_ascii_case("url") => input
                        .parse_nested_block(|block| {
                            block
                                .expect_string()
                                .map(|s| s.to_string())
                                .map_err(ParseError::<()>::from)
                        })
                        .ok(),
                    _ => None,
                };
                url.map_or(AtPrelude::Other, AtPrelude::Import)
            }
            _ => AtPrelude::Other,
        };
        while input.next().is_ok() {}
        Ok(prelude)
    }

    fn rule_without_block(&mut self, prelude: AtPrelude, _start: &ParserState) -> Result<(), ()> {
        if let AtPrelude::Import(url) = prelude {
            self.sheet.imports.push(url);
        }
        Ok(())
    }

    fn parse_block(
        &mut self,
        prelude: AtPrelude,
        _start: &ParserState,
        input: &mut Parser<'i>,
    ) -> Result<(), ParseError<()>> {
        if let AtPrelude::Group = prelude {
            read_rules(input, self.sheet, self.first_line, false);
        } else {
            while input.next().is_ok() {}
        }
        Ok(())
    }
}

impl<'i> QualifiedRuleParser<'i> for Reader<'_> {
    type Prelude = (String, u32);
    type QualifiedRule = ();
    type Error = ();

    fn parse_prelude(&mut self, input: &mut Parser<'i>) -> Result<(String, u32), ParseError<()>> {
        input.skip_whitespace();
        // cssparser counts lines from 0.
        let line = self.first_line + input.current_source_location().line + 1;
        let start = input.position();
        while input.next().is_ok() {}
        let text = input.slice_from(start);
        Ok((text.split_whitespace().collect::<Vec<_>>().join(" "), line))
    }

    fn parse_block(
        &mut self,
        (selector, line): (String, u32),
        _start: &ParserState,
        input: &mut Parser<'i>,
    ) -> Result<(), ParseError<()>> {
        while input.next().is_ok() {}
        if !selector.is_empty() {
            self.sheet.rules.push(CssRule { selector, line });
        }
        Ok(())
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
                if !current.trim().is_empty() {
                    out.push(current.trim().to_string());
                }
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rules_with_lines_inside_media_and_imports() {
        let css = "@import url(\"base.css\");\n/* c */\nh1,\n.title { color: red }\n@media (min-width: 10px) {\n  a:hover { x: y }\n}\n";
        let sheet = read(css, 0);
        assert_eq!(sheet.imports, ["base.css"]);
        assert_eq!(
            sheet.rules,
            [
                CssRule {
                    selector: "h1, .title".into(),
                    line: 3
                },
                CssRule {
                    selector: "a:hover".into(),
                    line: 6
                },
            ]
        );
        assert_eq!(read("p{}", 9).rules[0].line, 10);
    }

    #[test]
    fn splits_lists_but_not_inside_functions() {
        assert_eq!(
            split_list("a, :is(b, c) > d , [x=\",\"]"),
            ["a", ":is(b, c) > d", "[x=\",\"]"]
        );
    }
}

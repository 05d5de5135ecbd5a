//! CSS values as the pieces a design change touches: colours, lengths and `var()` references
//! with their byte spans, plus the arithmetic on them (scaling a length without float noise,
//! lightness and contrast of a colour). Splicing new text into a value keeps everything
//! else in it byte for byte.
//!
//! Pure: strings in, strings out.

use std::ops::Range;

use cssparser::{Parser, Token};
use devflow_reference::color::{parse_color_str, Rgba};
use devflow_reference::units::format_number;

/// Pixels per `rem`/`em`, as the drift report counts them.
pub(crate) const ROOT_PX: f64 = 16.0;

/// Where a length sits in its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// A plain component (`padding: 8px 16px`).
    Plain,
    /// Inside `calc()`, `min()`, `max()` or `clamp()`.
    Math,
    /// Inside another function (`linear-gradient(…)`, `translate(…)`).
    Function,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Color(Rgba),
    /// `transparent`, `currentColor`, `inherit` and friends.
    ColorKeyword,
    Length {
        value: f64,
        unit: String,
        place: Place,
    },
    Var {
        name: String,
        fallback: Option<String>,
    },
}

/// One piece of a value and its bytes in the value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Component {
    pub span: Range<usize>,
    pub piece: Piece,
}

const LENGTH_UNITS: &[&str] = &[
    "px", "rem", "em", "vw", "vh", "vmin", "vmax", "ch", "ex", "svh", "lvh", "dvh", "pt",
];

const COLOR_FUNCTIONS: &[&str] = &[
    "rgb", "rgba", "hsl", "hsla", "hwb", "lab", "lch", "oklab", "oklch", "color",
];

/// Every colour, length and `var()` of a value, in order.
pub(crate) fn components(value: &str) -> Vec<Component> {
    let mut parser = Parser::new(value);
    let mut out = Vec::new();
    collect(&mut parser, value, Place::Plain, &mut out);
    out
}

fn collect(input: &mut Parser<'_>, text: &str, place: Place, out: &mut Vec<Component>) {
    loop {
        let start = input.position().byte_index();
        let token = match input.next_including_whitespace_and_comments() {
            Ok(token) => token.clone(),
            Err(_) => break,
        };
        let end = input.position().byte_index();
        match token {
            Token::Hash(_) | Token::IDHash(_) => {
                if let Some(color) = text.get(start..end).and_then(parse_color_str) {
                    out.push(Component {
                        span: start..end,
                        piece: Piece::Color(color),
                    });
                }
            }
            Token::Ident(name) => {
                let lower = name.to_ascii_lowercase();
                if matches!(
                    lower.as_str(),
                    "transparent" | "currentcolor" | "inherit" | "initial" | "unset" | "revert"
                ) {
                    out.push(Component {
                        span: start..end,
                        piece: Piece::ColorKeyword,
                    });
                } else if let Some(color) = parse_color_str(&lower) {
                    out.push(Component {
                        span: start..end,
                        piece: Piece::Color(color),
                    });
                }
            }
            Token::Dimension { value, unit, .. } => {
                let unit = unit.to_ascii_lowercase();
                if LENGTH_UNITS.contains(&unit.as_str()) {
                    out.push(Component {
                        span: start..end,
                        piece: Piece::Length {
                            value: f64::from(value),
                            unit,
                            place,
                        },
                    });
                }
            }
            Token::Function(name) => {
                let lower = name.to_ascii_lowercase();
                if COLOR_FUNCTIONS.contains(&lower.as_str()) {
                    let _ = input.parse_nested_block(|i| {
                        while i.next().is_ok() {}
                        Ok::<_, cssparser::ParseError<()>>(())
                    });
                    let end = input.position().byte_index();
                    if let Some(color) = text.get(start..end).and_then(parse_color_str) {
                        out.push(Component {
                            span: start..end,
                            piece: Piece::Color(color),
                        });
                    }
                } else if lower == "var" {
                    let mut name = None;
                    let mut fallback = None;
                    let _ = input.parse_nested_block(|i| {
                        if let Ok(Token::Ident(n)) = i.next() {
                            name = Some(n.to_string());
                        }
                        if i.next().is_ok_and(|t| matches!(t, Token::Comma)) {
                            let from = i.position();
                            while i.next().is_ok() {}
                            fallback = Some(i.slice_from(from).trim().to_string());
                        }
                        while i.next().is_ok() {}
                        Ok::<_, cssparser::ParseError<()>>(())
                    });
                    let end = input.position().byte_index();
                    if let Some(name) = name.filter(|n| n.starts_with("--")) {
                        out.push(Component {
                            span: start..end,
                            piece: Piece::Var { name, fallback },
                        });
                    }
                } else if lower == "url" || lower == "format" || lower == "attr" {
                    let _ = input.parse_nested_block(|i| {
                        while i.next().is_ok() {}
                        Ok::<_, cssparser::ParseError<()>>(())
                    });
                } else {
                    let inner = if matches!(lower.as_str(), "calc" | "min" | "max" | "clamp")
                        && place != Place::Function
                    {
                        Place::Math
                    } else {
                        Place::Function
                    };
                    let _ = input.parse_nested_block(|i| {
                        collect(i, text, inner, out);
                        Ok::<_, cssparser::ParseError<()>>(())
                    });
                }
            }
            Token::ParenthesisBlock | Token::SquareBracketBlock | Token::CurlyBracketBlock => {
                let _ = input.parse_nested_block(|i| {
                    collect(i, text, place, out);
                    Ok::<_, cssparser::ParseError<()>>(())
                });
            }
            _ => {}
        }
    }
}

/// Replaces byte ranges of `value` (sorted, not overlapping) with new text.
pub(crate) fn splice(value: &str, mut replacements: Vec<(Range<usize>, String)>) -> String {
    replacements.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(value.len() + 16);
    let mut at = 0;
    for (range, text) in replacements {
        if range.start < at || range.end > value.len() {
            continue;
        }
        out.push_str(&value[at..range.start]);
        out.push_str(&text);
        at = range.end;
    }
    out.push_str(&value[at..]);
    out
}

/// The font-size and font-family parts of a `font` shorthand, as byte ranges of the value.
pub(crate) fn font_shorthand_parts(value: &str) -> (Option<Range<usize>>, Option<Range<usize>>) {
    let mut parser = Parser::new(value);
    let mut size = None;
    let mut after_size = false;
    loop {
        parser.skip_whitespace();
        let start = parser.position().byte_index();
        let token = match parser.next() {
            Ok(token) => token.clone(),
            Err(_) => break,
        };
        let end = parser.position().byte_index();
        if after_size {
            if matches!(token, Token::Delim('/')) {
                // The line height follows; the family starts after it.
                let _ = parser.next();
                continue;
            }
            let family = start..value.len();
            return (
                size,
                Some(family).filter(|r| !value[r.clone()].trim().is_empty()),
            );
        }
        match token {
            Token::Dimension { .. } | Token::Percentage { .. } => {
                size = Some(start..end);
                after_size = true;
            }
            Token::Ident(ref word)
                if matches!(
                    word.to_ascii_lowercase().as_str(),
                    "xx-small"
                        | "x-small"
                        | "small"
                        | "medium"
                        | "large"
                        | "x-large"
                        | "xx-large"
                        | "smaller"
                        | "larger"
                ) =>
            {
                size = Some(start..end);
                after_size = true;
            }
            Token::Function(ref name) if name.eq_ignore_ascii_case("var") && size.is_none() => {
                // `font: var(--font)` — the whole shorthand comes from a variable.
                let _ = parser.parse_nested_block(|i| {
                    while i.next().is_ok() {}
                    Ok::<_, cssparser::ParseError<()>>(())
                });
            }
            Token::Function(_) => {
                let _ = parser.parse_nested_block(|i| {
                    while i.next().is_ok() {}
                    Ok::<_, cssparser::ParseError<()>>(())
                });
                if size.is_none() {
                    size = Some(start..parser.position().byte_index());
                    after_size = true;
                }
            }
            _ => {}
        }
    }
    (size, None)
}

/// A length in pixels (`rem`/`em` at 16px), or `None` for relative units.
pub(crate) fn to_px(value: f64, unit: &str) -> Option<f64> {
    match unit {
        "px" => Some(value),
        "rem" | "em" => Some(value * ROOT_PX),
        "pt" => Some(value * 4.0 / 3.0),
        _ => None,
    }
}

/// Writes `px` pixels in `unit` (`px`, `rem` or `em`), rounded to whole pixels.
pub(crate) fn px_in_unit(px: f64, unit: &str) -> String {
    let px = px.round();
    match unit {
        "rem" | "em" => format!("{}{unit}", format_number(px / ROOT_PX)),
        _ => format!("{}px", format_number(px)),
    }
}

/// Multiplies a length, rounding to whole pixels (hundredths for viewport units) and
/// moving at least one step so the change is visible.
pub(crate) fn scale_length(value: f64, unit: &str, factor: f64) -> String {
    if value == 0.0 {
        return format!("0{unit}");
    }
    let step = match unit {
        "px" | "pt" => 1.0,
        "rem" | "em" => 1.0 / ROOT_PX,
        "ch" | "ex" => 0.25,
        _ => 0.01,
    };
    let mut scaled = (value * factor / step).round() * step;
    if (scaled - value).abs() < step / 2.0 {
        scaled = if factor > 1.0 {
            value + step * value.signum()
        } else {
            value - step * value.signum()
        };
    }
    if scaled.signum() != value.signum() {
        scaled = 0.0;
    }
    format!("{}{unit}", format_number((scaled * 1e4).round() / 1e4))
}

/// sRGB relative luminance (WCAG 2).
pub(crate) fn luminance(color: Rgba) -> f64 {
    let channel = |c: f64| {
        let c = c / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)
}

/// WCAG contrast ratio of two opaque colours (1..=21).
pub(crate) fn contrast(a: Rgba, b: Rgba) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// A hover state's shade of a colour: 15% darker, or 15% lighter for a colour that is
/// already dark (a darker hover on a near-black button would not show).
pub(crate) fn hover_shade(color: Rgba) -> Rgba {
    if luminance(color) < 0.05 {
        let mix = |c: f64| c + (255.0 - c) * 0.15;
        Rgba::new(mix(color.r), mix(color.g), mix(color.b), color.a)
    } else {
        Rgba::new(color.r * 0.85, color.g * 0.85, color.b * 0.85, color.a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(value: &str) -> Vec<String> {
        components(value)
            .iter()
            .map(|c| {
                let text = &value[c.span.clone()];
                match &c.piece {
                    Piece::Color(color) => format!("color {text} {}", color.to_hex()),
                    Piece::ColorKeyword => format!("keyword {text}"),
                    Piece::Length { place, .. } => format!("length {text} {place:?}"),
                    Piece::Var { name, fallback } => format!("var {name} {fallback:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn finds_colours_lengths_and_vars_with_their_places() {
        assert_eq!(
            pieces("1px solid RED, rgba(0, 0, 0, .5) calc(1.375rem + 1.5vw) var(--x, #fff) url(a.png) transparent"),
            [
                "length 1px Plain",
                "color RED #ff0000",
                "color rgba(0, 0, 0, .5) #00000080",
                "length 1.375rem Math",
                "length 1.5vw Math",
                "var --x Some(\"#fff\")",
                "keyword transparent",
            ]
        );
        assert_eq!(
            pieces("linear-gradient(180deg, #fff 10px, #000)"),
            [
                "color #fff #ffffff",
                "length 10px Function",
                "color #000 #000000"
            ]
        );
    }

    #[test]
    fn splits_the_font_shorthand() {
        let value = "italic 700 18px/145% var(--sans)";
        let (size, family) = font_shorthand_parts(value);
        assert_eq!(size.map(|r| &value[r]), Some("18px"));
        assert_eq!(family.map(|r| &value[r]), Some("var(--sans)"));
        let value = "1rem system-ui, sans-serif";
        let (size, family) = font_shorthand_parts(value);
        assert_eq!(size.map(|r| &value[r]), Some("1rem"));
        assert_eq!(family.map(|r| &value[r]), Some("system-ui, sans-serif"));
    }

    #[test]
    fn scales_lengths_to_whole_pixels_and_always_moves() {
        assert_eq!(scale_length(56.0, "px", 1.25), "70px");
        assert_eq!(scale_length(1.375, "rem", 1.25), "1.75rem");
        assert_eq!(scale_length(1.5, "vw", 1.25), "1.88vw");
        assert_eq!(scale_length(1.0, "px", 1.1), "2px");
        assert_eq!(scale_length(-1.0, "rem", 0.8), "-0.8125rem");
        assert_eq!(px_in_unit(24.0, "rem"), "1.5rem");
    }

    #[test]
    fn hover_shades_go_darker_unless_already_dark() {
        let indigo = parse_color_str("#4f46e5").expect("colour");
        assert_eq!(hover_shade(indigo).to_hex(), "#433cc3");
        let ink = parse_color_str("#0f172a").expect("colour");
        assert_eq!(hover_shade(ink).to_hex(), "#333a4a");
    }

    #[test]
    fn measures_contrast() {
        let white = Rgba::new(255.0, 255.0, 255.0, 1.0);
        let black = Rgba::new(0.0, 0.0, 0.0, 1.0);
        assert!((contrast(white, black) - 21.0).abs() < 1e-9);
        assert_eq!(
            splice("1px solid red", vec![(10..13, "#000".into())]),
            "1px solid #000"
        );
    }
}

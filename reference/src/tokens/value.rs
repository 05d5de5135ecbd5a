//! Token types and their values as canonical CSS text: colours as lowercase hex, lengths and
//! durations with their unit, font families as a CSS family list, shadows as `box-shadow`
//! text. Both DTCG value forms (draft strings and 2025.10 objects) render to the same text.

use serde_json::{Map, Value};

use crate::color::{hsl_to_rgb, parse_color_str, Rgba};
use crate::units::{format_number, parse_number, Dimension, Duration, LengthUnit, TimeUnit};

/// The DTCG types this crate understands; anything else is kept by name with its value as
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenType {
    Color,
    Dimension,
    FontFamily,
    FontWeight,
    Duration,
    Shadow,
    Number,
    CubicBezier,
    Other(String),
}

impl TokenType {
    pub fn parse(name: &str) -> Self {
        match name {
            "color" => Self::Color,
            "dimension" => Self::Dimension,
            "fontFamily" => Self::FontFamily,
            "fontWeight" => Self::FontWeight,
            "duration" => Self::Duration,
            "shadow" => Self::Shadow,
            "number" => Self::Number,
            "cubicBezier" => Self::CubicBezier,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Color => "color",
            Self::Dimension => "dimension",
            Self::FontFamily => "fontFamily",
            Self::FontWeight => "fontWeight",
            Self::Duration => "duration",
            Self::Shadow => "shadow",
            Self::Number => "number",
            Self::CubicBezier => "cubicBezier",
            Self::Other(name) => name,
        }
    }
}

/// Renders a (reference-free) token value as CSS text, or says why it is not a valid value
/// of that type. `legacy` allows Style Dictionary's unitless sizes (rem) and times (ms).
pub(super) fn render(ty: &TokenType, value: &Value, legacy: bool) -> Result<String, String> {
    match ty {
        TokenType::Color => color(value).map(|c| c.to_hex()),
        TokenType::Dimension => dimension(value, legacy),
        TokenType::FontFamily => font_family(value),
        TokenType::FontWeight => font_weight(value),
        TokenType::Duration => duration(value, legacy),
        TokenType::Shadow => shadow(value),
        TokenType::Number => number(value).map(format_number),
        TokenType::CubicBezier => cubic_bezier(value),
        TokenType::Other(_) => match value {
            Value::String(s) => Ok(s.trim().to_string()),
            Value::Number(_) => number(value).map(format_number),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Null => Err("a value is required".to_string()),
            Value::Array(_) | Value::Object(_) => Ok(value.to_string()),
        },
    }
}

/// The type a token without `$type` most likely has: Style Dictionary's category/type/item
/// convention first (`color.*`, `size.font.*`, `time.*`), then the shape of the value.
pub(super) fn infer(path: &str, value: &Value, legacy: bool) -> TokenType {
    if let Some(ty) = category_type(path) {
        if render(&ty, value, legacy).is_ok() {
            return ty;
        }
    }
    value_type(value)
}

fn category_type(path: &str) -> Option<TokenType> {
    let segments: Vec<String> = path.split('.').map(str::to_ascii_lowercase).collect();
    let has = |word: &str| segments.iter().any(|s| s.contains(word));
    let category = segments.first().map(String::as_str).unwrap_or_default();
    match category {
        "color" | "colors" | "colour" | "colours" => Some(TokenType::Color),
        "font" | "fonts" | "typography" | "type" => {
            if has("family") || has("face") {
                Some(TokenType::FontFamily)
            } else if has("weight") {
                Some(TokenType::FontWeight)
            } else if has("size") {
                Some(TokenType::Dimension)
            } else {
                None
            }
        }
        "size" | "sizes" | "sizing" | "space" | "spacing" | "radius" | "radii" | "dimension" => {
            Some(TokenType::Dimension)
        }
        "time" | "duration" | "durations" => Some(TokenType::Duration),
        "shadow" | "shadows" | "elevation" => Some(TokenType::Shadow),
        "opacity" | "z-index" | "zindex" => Some(TokenType::Number),
        _ => None,
    }
}

fn value_type(value: &Value) -> TokenType {
    match value {
        Value::String(s) => {
            let t = s.trim();
            let lower = t.to_ascii_lowercase();
            if (t.starts_with('#') || lower.starts_with("rgb") || lower.starts_with("hsl"))
                && parse_color_str(t).is_some()
            {
                TokenType::Color
            } else if Dimension::parse(t).is_some() && parse_number(t).is_none() {
                TokenType::Dimension
            } else if Duration::parse(t).is_some() {
                TokenType::Duration
            } else if parse_number(t).is_some() {
                TokenType::Number
            } else {
                TokenType::Other("string".to_string())
            }
        }
        Value::Number(_) => TokenType::Number,
        Value::Array(items) if items.len() == 4 && items.iter().all(Value::is_number) => {
            TokenType::CubicBezier
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_string) => {
            TokenType::FontFamily
        }
        Value::Object(m) if m.contains_key("colorSpace") || m.contains_key("components") => {
            TokenType::Color
        }
        Value::Object(m) if m.contains_key("offsetX") => TokenType::Shadow,
        Value::Object(m) => match m.get("unit").and_then(Value::as_str) {
            Some(unit) if LengthUnit::parse(unit).is_some() => TokenType::Dimension,
            Some(unit) if TimeUnit::parse(unit).is_some() => TokenType::Duration,
            _ => TokenType::Other("object".to_string()),
        },
        Value::Array(_) => TokenType::Other("array".to_string()),
        Value::Bool(_) => TokenType::Other("boolean".to_string()),
        Value::Null => TokenType::Other("null".to_string()),
    }
}

fn json_number(value: &Value) -> Option<f64> {
    value.as_f64()
}

fn number(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(_) => json_number(value).ok_or_else(|| "not a finite number".to_string()),
        Value::String(s) => parse_number(s).ok_or_else(|| "expected a number".to_string()),
        _ => Err("expected a number".to_string()),
    }
}

fn color(value: &Value) -> Result<Rgba, String> {
    match value {
        Value::String(s) => parse_color_str(s).ok_or_else(|| {
            "expected a CSS colour: hex (#rgb, #rgba, #rrggbb, #rrggbbaa), rgb(), hsl() or a colour name".to_string()
        }),
        Value::Object(m) => structured_color(m),
        _ => Err("expected a colour string or a {colorSpace, components} object".to_string()),
    }
}

/// The DTCG 2025.10 colour object: `{"colorSpace", "components", "alpha"?, "hex"?}`.
fn structured_color(m: &Map<String, Value>) -> Result<Rgba, String> {
    let alpha = match m.get("alpha") {
        None => None,
        Some(a) => Some(
            json_number(a)
                .filter(|a| (0.0..=1.0).contains(a))
                .ok_or("alpha must be a number from 0 to 1")?,
        ),
    };
    // `hex` is the exact sRGB value the author meant (and the fallback for wide-gamut
    // spaces), so it wins over components rounded to four decimals.
    let base = if let Some(hex) = m.get("hex").and_then(Value::as_str) {
        parse_color_str(hex)
            .filter(|_| hex.starts_with('#'))
            .ok_or_else(|| format!("`hex` must be #rrggbb, found `{hex}`"))?
    } else {
        let space = m
            .get("colorSpace")
            .and_then(Value::as_str)
            .ok_or("a colour object needs `colorSpace` and `components`")?;
        let components = match m.get("components") {
            Some(Value::Array(c)) if c.len() == 3 => c,
            _ => return Err("`components` must be an array of three numbers".to_string()),
        };
        // DTCG writes a missing component as the keyword "none", meaning 0.
        let mut c = [0.0; 3];
        for (slot, component) in c.iter_mut().zip(components) {
            *slot = match component {
                Value::String(s) if s == "none" => 0.0,
                other => json_number(other).ok_or("components must be numbers or \"none\"")?,
            };
        }
        match space {
            "srgb" => Rgba::new(c[0] * 255.0, c[1] * 255.0, c[2] * 255.0, 1.0),
            "srgb-linear" => {
                let encode = |v: f64| {
                    let v = v.clamp(0.0, 1.0);
                    let e = if v <= 0.003_130_8 {
                        12.92 * v
                    } else {
                        1.055 * v.powf(1.0 / 2.4) - 0.055
                    };
                    e * 255.0
                };
                Rgba::new(encode(c[0]), encode(c[1]), encode(c[2]), 1.0)
            }
            "hsl" => {
                let (r, g, b) = hsl_to_rgb(c[0], c[1] / 100.0, c[2] / 100.0);
                Rgba::new(r, g, b, 1.0)
            }
            other => {
                return Err(format!(
                    "colour space `{other}` is only supported with a `hex` fallback"
                ))
            }
        }
    };
    Ok(match alpha {
        Some(a) => Rgba { a, ..base },
        None => base,
    })
}

fn dimension(value: &Value, legacy: bool) -> Result<String, String> {
    const EXPECTED: &str = "expected a length in px, rem or em (e.g. \"16px\", \"1.5rem\")";
    match value {
        Value::String(s) => {
            if let Some(d) = Dimension::parse(s) {
                return Ok(d.to_css());
            }
            match parse_number(s) {
                // Style Dictionary's size/rem transform reads unitless sizes as rem.
                Some(n) if legacy => Ok(format!("{}rem", format_number(n))),
                _ => Err(EXPECTED.to_string()),
            }
        }
        Value::Number(_) => match json_number(value) {
            Some(n) if legacy => Ok(format!("{}rem", format_number(n))),
            Some(0.0) => Ok("0px".to_string()),
            _ => Err(EXPECTED.to_string()),
        },
        Value::Object(m) => {
            let amount = m.get("value").and_then(json_number);
            let unit = m
                .get("unit")
                .and_then(Value::as_str)
                .and_then(LengthUnit::parse);
            match (amount, unit) {
                (Some(value), Some(unit)) => Ok(Dimension { value, unit }.to_css()),
                _ => Err("expected {\"value\": number, \"unit\": \"px\" | \"rem\"}".to_string()),
            }
        }
        _ => Err(EXPECTED.to_string()),
    }
}

fn duration(value: &Value, legacy: bool) -> Result<String, String> {
    const EXPECTED: &str = "expected a duration in ms or s (e.g. \"150ms\")";
    match value {
        Value::String(s) => match (Duration::parse(s), parse_number(s)) {
            (Some(d), _) => Ok(d.to_css()),
            (None, Some(n)) if legacy => Ok(format!("{}ms", format_number(n))),
            _ => Err(EXPECTED.to_string()),
        },
        Value::Number(_) if legacy => json_number(value)
            .map(|n| format!("{}ms", format_number(n)))
            .ok_or_else(|| EXPECTED.to_string()),
        Value::Object(m) => {
            let amount = m.get("value").and_then(json_number);
            let unit = m
                .get("unit")
                .and_then(Value::as_str)
                .and_then(TimeUnit::parse);
            match (amount, unit) {
                (Some(value), Some(unit)) => Ok(Duration { value, unit }.to_css()),
                _ => Err("expected {\"value\": number, \"unit\": \"ms\" | \"s\"}".to_string()),
            }
        }
        _ => Err(EXPECTED.to_string()),
    }
}

const GENERIC_FAMILIES: [&str; 13] = [
    "serif",
    "sans-serif",
    "monospace",
    "cursive",
    "fantasy",
    "system-ui",
    "ui-serif",
    "ui-sans-serif",
    "ui-monospace",
    "ui-rounded",
    "math",
    "emoji",
    "fangsong",
];

/// The family names of a CSS `font-family` list, unquoted: `Inter, "Helvetica Neue", sans-serif`
/// → `["Inter", "Helvetica Neue", "sans-serif"]`.
pub fn font_families(css: &str) -> Vec<String> {
    use cssparser::{Parser, Token};
    let mut parser = Parser::new(css);
    let mut families = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut quoted: Option<String> = None;
    let mut flush = |current: &mut Vec<String>, quoted: &mut Option<String>| {
        if let Some(q) = quoted.take() {
            families.push(q);
        } else if !current.is_empty() {
            families.push(current.join(" "));
        }
        current.clear();
    };
    while let Ok(token) = parser.next() {
        match token {
            Token::Comma => flush(&mut current, &mut quoted),
            Token::QuotedString(s) => quoted = Some(s.to_string()),
            Token::Ident(s) => current.push(s.to_string()),
            Token::Delim('!') => break,
            _ => {}
        }
    }
    flush(&mut current, &mut quoted);
    families
}

fn serialize_family(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let plain_ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain_ident || GENERIC_FAMILIES.contains(&lower.as_str()) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn font_family(value: &Value) -> Result<String, String> {
    let families: Vec<String> = match value {
        // One name in DTCG ("Helvetica Neue"); a CSS list in many legacy sets.
        Value::String(s) if s.contains(',') || s.contains('"') || s.contains('\'') => {
            font_families(s)
        }
        Value::String(s) => vec![s.trim().to_string()],
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(|s| s.trim().to_string())
                    .ok_or("every family in the list must be a string")
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("expected a family name or an array of family names".to_string()),
    };
    if families.is_empty() || families.iter().any(String::is_empty) {
        return Err("family names may not be empty".to_string());
    }
    Ok(families
        .iter()
        .map(|f| serialize_family(f))
        .collect::<Vec<_>>()
        .join(", "))
}

fn font_weight(value: &Value) -> Result<String, String> {
    const EXPECTED: &str = "expected a weight from 1 to 1000 or a DTCG weight name (e.g. bold)";
    let weight = match value {
        Value::String(s) => match parse_number(s) {
            Some(n) => n,
            None => weight_keyword(s).ok_or(EXPECTED)?,
        },
        other => json_number(other).ok_or(EXPECTED)?,
    };
    if (1.0..=1000.0).contains(&weight) {
        Ok(format_number(weight))
    } else {
        Err(EXPECTED.to_string())
    }
}

/// DTCG's font weight names (Format Module, fontWeight).
fn weight_keyword(name: &str) -> Option<f64> {
    let key: String = name
        .trim()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .collect();
    Some(match key.as_str() {
        "thin" | "hairline" => 100.0,
        "extralight" | "ultralight" => 200.0,
        "light" => 300.0,
        "normal" | "regular" | "book" => 400.0,
        "medium" => 500.0,
        "semibold" | "demibold" => 600.0,
        "bold" => 700.0,
        "extrabold" | "ultrabold" => 800.0,
        "black" | "heavy" => 900.0,
        "extrablack" | "ultrablack" => 950.0,
        _ => return None,
    })
}

fn cubic_bezier(value: &Value) -> Result<String, String> {
    match value {
        Value::Array(items) if items.len() == 4 => {
            let numbers: Vec<String> = items
                .iter()
                .map(|v| {
                    json_number(v)
                        .map(format_number)
                        .ok_or("expected four numbers")
                })
                .collect::<Result<_, _>>()?;
            Ok(format!("cubic-bezier({})", numbers.join(", ")))
        }
        Value::String(s) => Ok(s.trim().to_string()),
        _ => Err("expected four numbers [x1, y1, x2, y2]".to_string()),
    }
}

fn shadow(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Value::Object(m) => one_shadow(m),
        Value::Array(layers) if !layers.is_empty() => layers
            .iter()
            .map(|layer| match layer {
                Value::Object(m) => one_shadow(m),
                _ => Err("every shadow layer must be an object".to_string()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|layers| layers.join(", ")),
        _ => Err("expected {color, offsetX, offsetY, blur, spread} or a list of them".to_string()),
    }
}

fn one_shadow(m: &Map<String, Value>) -> Result<String, String> {
    let length = |key: &str| -> Result<String, String> {
        match m.get(key) {
            None if key == "spread" || key == "blur" => Ok("0px".to_string()),
            None => Err(format!("a shadow needs `{key}`")),
            Some(v) => dimension(v, false).map_err(|e| format!("`{key}`: {e}")),
        }
    };
    let color = m
        .get("color")
        .ok_or("a shadow needs `color`")
        .map_err(str::to_string)
        .and_then(|c| color(c).map_err(|e| format!("`color`: {e}")))?;
    let inset = matches!(m.get("inset"), Some(Value::Bool(true)));
    Ok(format!(
        "{}{} {} {} {} {}",
        if inset { "inset " } else { "" },
        length("offsetX")?,
        length("offsetY")?,
        length("blur")?,
        length("spread")?,
        color.to_hex()
    ))
}

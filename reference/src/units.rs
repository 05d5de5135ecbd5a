//! Lengths and durations as values, and the one way numbers are written back as CSS text.
//!
//! `rem` and `em` are converted to pixels at the browser default of 16px: the reference and
//! the site are compared as written, not as laid out.

use cssparser::{Parser, Token};

/// Pixels per `rem`/`em` when comparing lengths.
pub const ROOT_FONT_SIZE_PX: f64 = 16.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthUnit {
    Px,
    Rem,
    Em,
}

impl LengthUnit {
    pub fn parse(unit: &str) -> Option<Self> {
        match unit.to_ascii_lowercase().as_str() {
            "px" => Some(Self::Px),
            "rem" => Some(Self::Rem),
            "em" => Some(Self::Em),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Px => "px",
            Self::Rem => "rem",
            Self::Em => "em",
        }
    }
}

/// A length in one of the units design tokens use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dimension {
    pub value: f64,
    pub unit: LengthUnit,
}

impl Dimension {
    pub fn to_px(self) -> f64 {
        match self.unit {
            LengthUnit::Px => self.value,
            LengthUnit::Rem | LengthUnit::Em => self.value * ROOT_FONT_SIZE_PX,
        }
    }

    /// `16px`, `0.75rem`.
    pub fn to_css(self) -> String {
        format!("{}{}", format_number(self.value), self.unit.as_str())
    }

    /// Parses `16px`, `1.5rem`, `0.5em`, or a bare `0` (as `0px`).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parser = Parser::new(text);
        let dimension = match parser.next().ok()? {
            Token::Dimension { value, unit, .. } => Self {
                value: f64::from(*value),
                unit: LengthUnit::parse(unit)?,
            },
            Token::Number { value, .. } if *value == 0.0 => Self {
                value: 0.0,
                unit: LengthUnit::Px,
            },
            _ => return None,
        };
        parser.is_exhausted().then_some(dimension)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Ms,
    S,
}

impl TimeUnit {
    pub fn parse(unit: &str) -> Option<Self> {
        match unit.to_ascii_lowercase().as_str() {
            "ms" => Some(Self::Ms),
            "s" => Some(Self::S),
            _ => None,
        }
    }
}

/// A duration as written (`150ms`, `0.3s`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Duration {
    pub value: f64,
    pub unit: TimeUnit,
}

impl Duration {
    pub fn to_css(self) -> String {
        let unit = match self.unit {
            TimeUnit::Ms => "ms",
            TimeUnit::S => "s",
        };
        format!("{}{unit}", format_number(self.value))
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut parser = Parser::new(text);
        let duration = match parser.next().ok()? {
            Token::Dimension { value, unit, .. } => Self {
                value: f64::from(*value),
                unit: TimeUnit::parse(unit)?,
            },
            _ => return None,
        };
        parser.is_exhausted().then_some(duration)
    }
}

/// Shortest decimal text for a number, without float noise from `f32` tokens or unit
/// conversions (`0.75`, `16`, `-4`; never `-0` or `0.30000000000000004`).
pub fn format_number(value: f64) -> String {
    let rounded = (value * 1e6).round() / 1e6;
    if rounded == 0.0 {
        return "0".to_string();
    }
    format!("{rounded}")
}

/// Parses a plain number written as text (`"1.5"`, `"400"`).
pub fn parse_number(text: &str) -> Option<f64> {
    let mut parser = Parser::new(text);
    let value = match parser.next().ok()? {
        Token::Number { value, .. } => f64::from(*value),
        _ => return None,
    };
    parser.is_exhausted().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_rem_and_em_at_sixteen_pixels() {
        assert_eq!(Dimension::parse("1rem").map(Dimension::to_px), Some(16.0));
        assert_eq!(Dimension::parse("0.75em").map(Dimension::to_px), Some(12.0));
        assert_eq!(Dimension::parse("24px").map(Dimension::to_px), Some(24.0));
        assert_eq!(Dimension::parse("0").map(Dimension::to_px), Some(0.0));
        assert_eq!(Dimension::parse("10vw"), None);
        assert_eq!(Dimension::parse("16"), None);
    }

    #[test]
    fn writes_numbers_without_float_noise() {
        assert_eq!(format_number(f64::from(0.1608_f32)), "0.1608");
        assert_eq!(format_number(16.0), "16");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(0.1 + 0.2), "0.3");
        assert_eq!(
            Duration::parse("0.30s").map(Duration::to_css).as_deref(),
            Some("0.3s")
        );
    }
}

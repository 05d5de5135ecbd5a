//! CSS colours as values: parsing (hex, `rgb()`/`rgba()`, `hsl()`/`hsla()`, named colours),
//! canonical hex text, CIELAB and the CIEDE2000 colour difference.
//!
//! Pure functions of their input. Parsing goes through cssparser's tokenizer so a colour is
//! read the same way whether it comes from a token file or from a site's stylesheet.

use cssparser::{Parser, Token};

/// An sRGB colour: channels 0..=255 (fractional while computing), alpha 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rgba {
    pub r: f64,
    pub g: f64,
    pub b: f64,
    pub a: f64,
}

/// A CIELAB colour (D65 white), the space CIEDE2000 is defined in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lab {
    pub l: f64,
    pub a: f64,
    pub b: f64,
}

impl Rgba {
    pub fn new(r: f64, g: f64, b: f64, a: f64) -> Self {
        Self {
            r: r.clamp(0.0, 255.0),
            g: g.clamp(0.0, 255.0),
            b: b.clamp(0.0, 255.0),
            a: a.clamp(0.0, 1.0),
        }
    }

    /// `#rrggbb`, or `#rrggbbaa` when the colour is not opaque; always lowercase.
    pub fn to_hex(&self) -> String {
        let byte = |v: f64| v.round().clamp(0.0, 255.0) as u8;
        let alpha = byte(self.a * 255.0);
        if alpha == 255 {
            format!(
                "#{:02x}{:02x}{:02x}",
                byte(self.r),
                byte(self.g),
                byte(self.b)
            )
        } else {
            format!(
                "#{:02x}{:02x}{:02x}{:02x}",
                byte(self.r),
                byte(self.g),
                byte(self.b),
                alpha
            )
        }
    }

    /// CIELAB of the colour's sRGB channels (alpha ignored).
    pub fn to_lab(&self) -> Lab {
        fn linear(channel: f64) -> f64 {
            let c = channel / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        }
        let (r, g, b) = (linear(self.r), linear(self.g), linear(self.b));
        // sRGB → XYZ (D65), then normalised by the D65 reference white.
        let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
        let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175_0 * b;
        let z = (0.019_333_9 * r + 0.119_192_0 * g + 0.950_304_1 * b) / 1.088_83;
        fn f(t: f64) -> f64 {
            const EPSILON: f64 = 216.0 / 24389.0;
            const KAPPA: f64 = 24389.0 / 27.0;
            if t > EPSILON {
                t.cbrt()
            } else {
                (KAPPA * t + 16.0) / 116.0
            }
        }
        let (fx, fy, fz) = (f(x), f(y), f(z));
        Lab {
            l: 116.0 * fy - 16.0,
            a: 500.0 * (fx - fy),
            b: 200.0 * (fy - fz),
        }
    }
}

/// CIEDE2000 colour difference (kL = kC = kH = 1), following Sharma, Wu and Dalal, "The
/// CIEDE2000 Color-Difference Formula: Implementation Notes, Supplementary Test Data, and
/// Mathematical Observations" (2005). About 1.0 is the smallest difference most people see.
pub fn ciede2000(x: Lab, y: Lab) -> f64 {
    use std::f64::consts::PI;
    let deg = |rad: f64| rad * 180.0 / PI;
    let rad = |deg: f64| deg * PI / 180.0;
    const POW25_7: f64 = 6_103_515_625.0; // 25^7

    let c1 = x.a.hypot(x.b);
    let c2 = y.a.hypot(y.b);
    let c_bar7 = ((c1 + c2) / 2.0).powi(7);
    let g = 0.5 * (1.0 - (c_bar7 / (c_bar7 + POW25_7)).sqrt());
    let a1 = (1.0 + g) * x.a;
    let a2 = (1.0 + g) * y.a;
    let c1p = a1.hypot(x.b);
    let c2p = a2.hypot(y.b);
    let hue = |b: f64, a: f64| {
        if b == 0.0 && a == 0.0 {
            0.0
        } else {
            let h = deg(b.atan2(a));
            if h < 0.0 {
                h + 360.0
            } else {
                h
            }
        }
    };
    let h1p = hue(x.b, a1);
    let h2p = hue(y.b, a2);
    let chroma_product = c1p * c2p;

    let dl = y.l - x.l;
    let dc = c2p - c1p;
    let dh = if chroma_product == 0.0 {
        0.0
    } else if (h2p - h1p).abs() <= 180.0 {
        h2p - h1p
    } else if h2p - h1p > 180.0 {
        h2p - h1p - 360.0
    } else {
        h2p - h1p + 360.0
    };
    let d_big_h = 2.0 * chroma_product.sqrt() * rad(dh / 2.0).sin();

    let l_bar = (x.l + y.l) / 2.0;
    let c_bar_p = (c1p + c2p) / 2.0;
    let h_bar_p = if chroma_product == 0.0 {
        h1p + h2p
    } else if (h1p - h2p).abs() <= 180.0 {
        (h1p + h2p) / 2.0
    } else if h1p + h2p < 360.0 {
        (h1p + h2p + 360.0) / 2.0
    } else {
        (h1p + h2p - 360.0) / 2.0
    };
    let t = 1.0 - 0.17 * rad(h_bar_p - 30.0).cos()
        + 0.24 * rad(2.0 * h_bar_p).cos()
        + 0.32 * rad(3.0 * h_bar_p + 6.0).cos()
        - 0.20 * rad(4.0 * h_bar_p - 63.0).cos();
    let d_theta = 30.0 * (-((h_bar_p - 275.0) / 25.0).powi(2)).exp();
    let c_bar_p7 = c_bar_p.powi(7);
    let r_c = 2.0 * (c_bar_p7 / (c_bar_p7 + POW25_7)).sqrt();
    let l50 = (l_bar - 50.0).powi(2);
    let s_l = 1.0 + 0.015 * l50 / (20.0 + l50).sqrt();
    let s_c = 1.0 + 0.045 * c_bar_p;
    let s_h = 1.0 + 0.015 * c_bar_p * t;
    let r_t = -rad(2.0 * d_theta).sin() * r_c;

    let (tl, tc, th) = (dl / s_l, dc / s_c, d_big_h / s_h);
    (tl * tl + tc * tc + th * th + r_t * tc * th)
        .max(0.0)
        .sqrt()
}

/// What one CSS component value is, colour-wise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ColorValue {
    Color(Rgba),
    /// `transparent`, `currentColor` and the CSS-wide keywords: not a colour of the site's own.
    Keyword,
}

/// Parses a whole string as exactly one colour (`#4f46e5`, `rgb(79 70 229 / 50%)`,
/// `hsl(243, 75%, 59%)`, `rebeccapurple`, `transparent`).
pub fn parse_color_str(text: &str) -> Option<Rgba> {
    let mut parser = Parser::new(text);
    let color = match parse_color_component(&mut parser)? {
        ColorValue::Color(c) => c,
        ColorValue::Keyword if text.trim().eq_ignore_ascii_case("transparent") => {
            Rgba::new(0.0, 0.0, 0.0, 0.0)
        }
        ColorValue::Keyword => return None,
    };
    parser.is_exhausted().then_some(color)
}

/// Reads the next component value as a colour, or `None` (nothing consumed that matters)
/// when it is not one.
pub(crate) fn parse_color_component(input: &mut Parser<'_>) -> Option<ColorValue> {
    let token = input.next().ok()?.clone();
    color_from_token(&token, input)
}

/// Interprets an already-read token (and, for functions, its arguments) as a colour.
pub(crate) fn color_from_token(token: &Token<'_>, input: &mut Parser<'_>) -> Option<ColorValue> {
    match token {
        Token::Hash(value) | Token::IDHash(value) => {
            let (r, g, b, a) = cssparser::color::parse_hash_color(value.as_bytes()).ok()?;
            Some(ColorValue::Color(Rgba::new(
                r.into(),
                g.into(),
                b.into(),
                a.into(),
            )))
        }
        Token::Ident(name) => named_color(name),
        Token::Function(name) => {
            let name = name.to_ascii_lowercase();
            let is_rgb = name == "rgb" || name == "rgba";
            let is_hsl = name == "hsl" || name == "hsla";
            if !is_rgb && !is_hsl {
                return None;
            }
            let args = input
                .parse_nested_block(|args| Ok::<_, cssparser::ParseError<()>>(read_args(args)))
                .ok()?;
            let color = if is_rgb {
                rgb_from_args(&args)
            } else {
                hsl_from_args(&args)
            }?;
            Some(ColorValue::Color(color))
        }
        _ => None,
    }
}

/// A named colour or a colour keyword; `None` for any other identifier.
pub(crate) fn named_color(name: &str) -> Option<ColorValue> {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "transparent" | "currentcolor" | "inherit" | "initial" | "unset" | "revert"
        | "revert-layer" => Some(ColorValue::Keyword),
        _ => cssparser::color::parse_named_color(&lower)
            .ok()
            .map(|(r, g, b)| ColorValue::Color(Rgba::new(r.into(), g.into(), b.into(), 1.0))),
    }
}

#[derive(Debug, Clone, Copy)]
enum Arg {
    Number(f64),
    Percent(f64),
    /// An angle in degrees.
    Angle(f64),
    None,
    Slash,
}

fn read_args(input: &mut Parser<'_>) -> Vec<Arg> {
    let mut args = Vec::new();
    while let Ok(token) = input.next() {
        let arg = match token {
            Token::Number { value, .. } => Arg::Number((*value).into()),
            Token::Percentage { unit_value, .. } => Arg::Percent(f64::from(*unit_value)),
            Token::Dimension { value, unit, .. } => {
                let v = f64::from(*value);
                match unit.to_ascii_lowercase().as_str() {
                    "deg" => Arg::Angle(v),
                    "grad" => Arg::Angle(v * 0.9),
                    "rad" => Arg::Angle(v.to_degrees()),
                    "turn" => Arg::Angle(v * 360.0),
                    _ => return Vec::new(),
                }
            }
            Token::Ident(name) if name.eq_ignore_ascii_case("none") => Arg::None,
            Token::Delim('/') => Arg::Slash,
            Token::Comma => continue,
            _ => return Vec::new(),
        };
        args.push(arg);
    }
    args
}

/// Splits `[c1, c2, c3, (/)? alpha?]` into three channels and an optional alpha.
fn channels(args: &[Arg]) -> Option<([Arg; 3], Option<Arg>)> {
    let values: Vec<Arg> = args
        .iter()
        .copied()
        .filter(|a| !matches!(a, Arg::Slash))
        .collect();
    let slash_at = args.iter().position(|a| matches!(a, Arg::Slash));
    if let Some(at) = slash_at {
        if at != 3 || args.len() != 5 {
            return None;
        }
    }
    match values.as_slice() {
        [a, b, c] => Some(([*a, *b, *c], None)),
        [a, b, c, alpha] => Some(([*a, *b, *c], Some(*alpha))),
        _ => None,
    }
}

fn alpha_of(arg: Option<Arg>) -> Option<f64> {
    match arg {
        None => Some(1.0),
        Some(Arg::Number(v)) | Some(Arg::Percent(v)) => Some(v),
        Some(Arg::None) => Some(0.0),
        Some(_) => None,
    }
}

fn rgb_from_args(args: &[Arg]) -> Option<Rgba> {
    let ([r, g, b], alpha) = channels(args)?;
    let channel = |arg: Arg| match arg {
        Arg::Number(v) => Some(v),
        Arg::Percent(v) => Some(v * 255.0),
        Arg::None => Some(0.0),
        _ => None,
    };
    Some(Rgba::new(
        channel(r)?,
        channel(g)?,
        channel(b)?,
        alpha_of(alpha)?,
    ))
}

fn hsl_from_args(args: &[Arg]) -> Option<Rgba> {
    let ([h, s, l], alpha) = channels(args)?;
    let hue = match h {
        Arg::Number(v) | Arg::Angle(v) => v,
        Arg::None => 0.0,
        _ => return None,
    };
    // Modern syntax allows bare numbers for saturation and lightness, meaning percent.
    let fraction = |arg: Arg| match arg {
        Arg::Percent(v) => Some(v),
        Arg::Number(v) => Some(v / 100.0),
        Arg::None => Some(0.0),
        _ => None,
    };
    let (r, g, b) = hsl_to_rgb(hue, fraction(s)?, fraction(l)?);
    Some(Rgba::new(r, g, b, alpha_of(alpha)?))
}

/// HSL (hue in degrees, saturation and lightness 0..=1) to sRGB channels 0..=255.
pub(crate) fn hsl_to_rgb(hue: f64, saturation: f64, lightness: f64) -> (f64, f64, f64) {
    let s = saturation.clamp(0.0, 1.0);
    let l = lightness.clamp(0.0, 1.0);
    let h = hue.rem_euclid(360.0);
    let f = |n: f64| {
        let k = (n + h / 30.0) % 12.0;
        let a = s * l.min(1.0 - l);
        l - a * (k - 3.0).min(9.0 - k).clamp(-1.0, 1.0)
    };
    (f(0.0) * 255.0, f(8.0) * 255.0, f(4.0) * 255.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All 34 pairs of Sharma, Wu and Dalal (2005), Table 1: L1 a1 b1, L2 a2 b2, ΔE00.
    const SHARMA_PAIRS: [[f64; 7]; 34] = [
        [50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425],
        [50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615],
        [50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412],
        [
            50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000,
        ],
        [
            50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000,
        ],
        [
            50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000,
        ],
        [50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669],
        [50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195],
        [50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045],
        [50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045],
        [50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461],
        [50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065],
        [50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492],
        [50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977],
        [50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030],
        [50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535],
        [50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000],
        [50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000],
        [50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000],
        [50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000],
        [
            60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644,
        ],
        [
            63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630,
        ],
        [61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731],
        [35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645],
        [
            22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373,
        ],
        [36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146],
        [90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441],
        [90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381],
        [6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377],
        [2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082],
    ];

    #[test]
    fn ciede2000_matches_all_sharma_reference_pairs_in_both_orders() {
        for (i, p) in SHARMA_PAIRS.iter().enumerate() {
            let x = Lab {
                l: p[0],
                a: p[1],
                b: p[2],
            };
            let y = Lab {
                l: p[3],
                a: p[4],
                b: p[5],
            };
            for (got, order) in [(ciede2000(x, y), "1→2"), (ciede2000(y, x), "2→1")] {
                assert!(
                    (got - p[6]).abs() < 1e-4,
                    "pair {} ({order}): got {got:.4}, want {}",
                    i + 1,
                    p[6]
                );
            }
        }
    }

    #[test]
    fn a_colour_does_not_differ_from_itself() {
        for hex in ["#4f46e5", "#000000", "#ffffff", "#fbbf24", "#0f172a"] {
            let lab = parse_color_str(hex).expect("valid hex").to_lab();
            assert_eq!(ciede2000(lab, lab), 0.0, "{hex}");
        }
    }

    #[test]
    fn srgb_red_has_the_published_lab_coordinates() {
        let lab = Rgba::new(255.0, 0.0, 0.0, 1.0).to_lab();
        assert!((lab.l - 53.24).abs() < 0.01, "{lab:?}");
        assert!((lab.a - 80.09).abs() < 0.01, "{lab:?}");
        assert!((lab.b - 67.20).abs() < 0.01, "{lab:?}");
        let white = Rgba::new(255.0, 255.0, 255.0, 1.0).to_lab();
        assert!((white.l - 100.0).abs() < 1e-3 && white.a.abs() < 1e-3 && white.b.abs() < 1e-3);
    }

    #[test]
    fn parses_every_css_colour_syntax_to_the_same_hex() {
        let cases = [
            ("#4F46E5", "#4f46e5"),
            ("#fff", "#ffffff"),
            ("#0f08", "#00ff0088"),
            ("#0f172a29", "#0f172a29"),
            ("rgb(79, 70, 229)", "#4f46e5"),
            ("rgba(79,70,229,0.5)", "#4f46e580"),
            ("rgb(79 70 229 / 50%)", "#4f46e580"),
            ("rgb(100% 0% 0%)", "#ff0000"),
            ("hsl(120, 100%, 50%)", "#00ff00"),
            ("hsla(240deg 100% 50% / 0.25)", "#0000ff40"),
            ("hsl(0.5turn 100% 25%)", "#008080"),
            ("RebeccaPurple", "#663399"),
            ("transparent", "#00000000"),
        ];
        for (text, hex) in cases {
            assert_eq!(
                parse_color_str(text).map(|c| c.to_hex()).as_deref(),
                Some(hex),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_text_that_is_not_exactly_one_colour() {
        for text in [
            "#12345",
            "rgb(1, 2)",
            "notacolor",
            "#fff #000",
            "currentColor",
            "16px",
            "",
        ] {
            assert_eq!(parse_color_str(text), None, "{text}");
        }
    }
}

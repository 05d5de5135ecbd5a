//! The reference tokens as the proposer asks about them: which token words name (`brand
//! primary` → `color.brand.primary`), the nearest token to a value, the next step of a
//! scale, the darkest or lightest colour for a role. Nearest-token matching mirrors the drift
//! report (CIEDE2000 + alpha, length ratio, roles from the path), so snapped is on-token.

use devflow_protocol::ResolvedToken;
use devflow_reference::color::{ciede2000, parse_color_str, Lab, Rgba};
use devflow_reference::drift::LENGTH_ON_TOKEN_PX;
use devflow_reference::tokens::font_families;
use devflow_reference::units::Dimension;
use devflow_reference::DriftKind;

/// One opacity percent costs one ΔE, as in the drift report.
const ALPHA_PENALTY: f64 = 100.0;

/// Path segments that say nothing about which colour a token is.
const GENERIC_SEGMENTS: &[&str] = &["color", "colors", "colour", "colours", "palette", "$value"];

#[derive(Debug, Clone)]
pub(crate) struct ColorToken {
    pub path: String,
    /// The token's value as CSS (`#4f46e5`).
    pub value: String,
    pub rgba: Rgba,
    pub lab: Lab,
    pub semantic: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct LengthToken {
    pub path: String,
    pub px: f64,
    pub semantic: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct FamilyToken {
    pub path: String,
    pub value: String,
    /// Lowercase family names.
    pub families: Vec<String>,
    pub semantic: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct WeightToken {
    pub path: String,
    pub value: String,
}

/// What kind of length a token or a declaration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LengthRole {
    FontSize,
    Spacing,
    Radius,
}

/// The reference tokens, grouped by what they can stand for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tokens {
    pub colors: Vec<ColorToken>,
    pub font_sizes: Vec<LengthToken>,
    pub spacing: Vec<LengthToken>,
    pub radii: Vec<LengthToken>,
    pub families: Vec<FamilyToken>,
    pub weights: Vec<WeightToken>,
}

fn segments(path: &str) -> Vec<String> {
    path.to_ascii_lowercase()
        .split(['.', '-', '_'])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn path_has(path: &str, words: &[&str]) -> bool {
    segments(path)
        .iter()
        .any(|segment| words.iter().any(|w| segment.starts_with(w)))
}

/// The role of a dimension token from its path: the drift report's own reading.
fn dimension_role(path: &str) -> Option<LengthRole> {
    match devflow_reference::drift::dimension_token_kind(path)? {
        DriftKind::Radius => Some(LengthRole::Radius),
        DriftKind::FontSize => Some(LengthRole::FontSize),
        DriftKind::Spacing => Some(LengthRole::Spacing),
        DriftKind::Color | DriftKind::FontFamily => None,
    }
}

impl Tokens {
    pub fn new(tokens: &[ResolvedToken]) -> Self {
        let mut out = Self::default();
        let mut unassigned = Vec::new();
        for token in tokens {
            let semantic = token.alias_of.is_some();
            match token.token_type.as_str() {
                "color" => {
                    if let Some(rgba) = parse_color_str(&token.value) {
                        out.colors.push(ColorToken {
                            path: token.path.clone(),
                            value: token.value.clone(),
                            rgba,
                            lab: rgba.to_lab(),
                            semantic,
                        });
                    }
                }
                "dimension" => {
                    let Some(px) = Dimension::parse(&token.value).map(Dimension::to_px) else {
                        continue;
                    };
                    if px <= 0.0 {
                        continue;
                    }
                    let length = LengthToken {
                        path: token.path.clone(),
                        px,
                        semantic,
                    };
                    match dimension_role(&token.path) {
                        Some(LengthRole::FontSize) => out.font_sizes.push(length),
                        Some(LengthRole::Spacing) => out.spacing.push(length),
                        Some(LengthRole::Radius) => out.radii.push(length),
                        None => unassigned.push(length),
                    }
                }
                "fontFamily" => {
                    let families: Vec<String> = font_families(&token.value)
                        .iter()
                        .map(|f| f.to_lowercase())
                        .collect();
                    if !families.is_empty() {
                        out.families.push(FamilyToken {
                            path: token.path.clone(),
                            value: token.value.clone(),
                            families,
                            semantic,
                        });
                    }
                }
                "fontWeight" => out.weights.push(WeightToken {
                    path: token.path.clone(),
                    value: token.value.clone(),
                }),
                _ => {}
            }
        }
        for list in [&mut out.font_sizes, &mut out.spacing, &mut out.radii] {
            if list.is_empty() {
                list.extend(unassigned.iter().cloned());
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.colors.is_empty()
            && self.font_sizes.is_empty()
            && self.spacing.is_empty()
            && self.radii.is_empty()
            && self.families.is_empty()
    }

    pub fn lengths(&self, role: LengthRole) -> &[LengthToken] {
        match role {
            LengthRole::FontSize => &self.font_sizes,
            LengthRole::Spacing => &self.spacing,
            LengthRole::Radius => &self.radii,
        }
    }

    /// The colour token the words name best, e.g. `brand primary` → `color.brand.primary`,
    /// `brand` → `color.brand.primary` (the plain member of the group beats `-hover`).
    pub fn color_named(&self, words: &[String]) -> Option<&ColorToken> {
        best_named(&self.colors, words, |t| (&t.path, t.semantic))
    }

    /// The font family token the words name (`heading`, `serif`, `body`).
    pub fn family_named(&self, words: &[String]) -> Option<&FamilyToken> {
        best_named(&self.families, words, |t| (&t.path, t.semantic))
    }

    /// The family token for a role: `heading`/`display` for headings, `body`/`base`/`sans`
    /// otherwise, else the first.
    pub fn family_for(&self, heading: bool) -> Option<&FamilyToken> {
        let wanted: &[&str] = if heading {
            &["heading", "headings", "display", "title"]
        } else {
            &[
                "body", "base", "text", "sans", "primary", "brand", "default",
            ]
        };
        wanted
            .iter()
            .find_map(|w| {
                self.families
                    .iter()
                    .find(|t| segments(&t.path).iter().any(|s| s == w))
            })
            .or_else(|| {
                if heading {
                    self.family_for(false)
                } else {
                    self.families.first()
                }
            })
    }

    /// The nearest colour token as the drift report picks it.
    pub fn nearest_color(&self, color: Rgba, property: &str) -> Option<(&ColorToken, f64)> {
        let lab = color.to_lab();
        let hints = color_role_hints(property);
        let mut best: Option<(&ColorToken, f64, (bool, bool))> = None;
        for token in &self.colors {
            let distance =
                ciede2000(lab, token.lab) + ALPHA_PENALTY * (color.a - token.rgba.a).abs();
            let preference = (!path_has(&token.path, hints), !token.semantic);
            let better = match &best {
                None => true,
                Some((current, d, p)) => {
                    if (distance - d).abs() > 1e-9 {
                        distance < *d
                    } else {
                        (preference, &token.path) < (*p, &current.path)
                    }
                }
            };
            if better {
                best = Some((token, distance, preference));
            }
        }
        best.map(|(t, d, _)| (t, d))
    }

    /// The nearest length token of a role (by ratio) and whether `px` is already on it.
    pub fn nearest_length(&self, role: LengthRole, px: f64) -> Option<(&LengthToken, bool)> {
        let px = px.abs();
        if px == 0.0 {
            return None;
        }
        let mut best: Option<(&LengthToken, f64)> = None;
        for token in self.lengths(role) {
            let ratio = px.max(token.px) / px.min(token.px) - 1.0;
            let better = match &best {
                None => true,
                Some((current, r)) => {
                    if (ratio - r).abs() > 1e-9 {
                        ratio < *r
                    } else {
                        (!token.semantic, &token.path) < (!current.semantic, &current.path)
                    }
                }
            };
            if better {
                best = Some((token, ratio));
            }
        }
        best.map(|(t, _)| (t, (px - t.px).abs() <= LENGTH_ON_TOKEN_PX))
    }

    /// The next token of the scale above (or below) `px`, skipping "pill"-like extremes.
    pub fn step(&self, role: LengthRole, px: f64, up: bool) -> Option<f64> {
        let px = px.abs();
        let mut scale: Vec<f64> = self
            .lengths(role)
            .iter()
            .map(|t| t.px)
            .filter(|&v| v < 999.0)
            .collect();
        scale.sort_by(f64::total_cmp);
        scale.dedup();
        if up {
            scale.into_iter().find(|&v| v > px + LENGTH_ON_TOKEN_PX)
        } else {
            scale
                .into_iter()
                .rev()
                .find(|&v| v < px - LENGTH_ON_TOKEN_PX)
        }
    }

    /// The middle of a scale (the "md" of `sm`/`md`/`lg`), for a value that had none.
    pub fn middle(&self, role: LengthRole) -> Option<f64> {
        let mut scale: Vec<f64> = self
            .lengths(role)
            .iter()
            .map(|t| t.px)
            .filter(|&v| v < 999.0)
            .collect();
        scale.sort_by(f64::total_cmp);
        scale.dedup();
        scale.get(scale.len() / 2).copied()
    }

    /// The largest radius token (a pill), when there is one.
    pub fn pill(&self) -> Option<f64> {
        self.radii
            .iter()
            .filter(|t| t.px >= 999.0 || path_has(&t.path, &["pill", "full", "round"]))
            .map(|t| t.px)
            .reduce(f64::max)
    }

    /// The darkest (or lightest) opaque colour token, preferring paths that suit the role
    /// (`hints`) and avoiding paths meant for another role (`avoid`).
    pub fn extreme_color(&self, dark: bool, hints: &[&str], avoid: &[&str]) -> Option<&ColorToken> {
        let lightness = |t: &ColorToken| if dark { t.lab.l } else { -t.lab.l };
        self.colors
            .iter()
            .filter(|t| t.rgba.a >= 0.99)
            .min_by(|a, b| {
                lightness(a)
                    .total_cmp(&lightness(b))
                    .then_with(|| path_has(&b.path, hints).cmp(&path_has(&a.path, hints)))
                    .then_with(|| path_has(&a.path, avoid).cmp(&path_has(&b.path, avoid)))
                    .then_with(|| b.semantic.cmp(&a.semantic))
                    .then_with(|| a.path.cmp(&b.path))
            })
    }

    /// Colour tokens meant for text: neutral ones (greys, black, white) first, since body
    /// text in a saturated colour is hard to read, then most contrasting with `background`.
    pub fn text_colors_for(&self, background: Rgba) -> Vec<&ColorToken> {
        let mut list: Vec<&ColorToken> = self
            .colors
            .iter()
            .filter(|t| {
                t.rgba.a >= 0.99
                    && path_has(
                        &t.path,
                        &["text", "on", "foreground", "fg", "content", "font", "ink"],
                    )
            })
            .collect();
        let neutral = |t: &ColorToken| t.lab.a.hypot(t.lab.b) < 10.0;
        list.sort_by(|a, b| {
            neutral(b)
                .cmp(&neutral(a))
                .then_with(|| {
                    crate::values::contrast(b.rgba, background)
                        .total_cmp(&crate::values::contrast(a.rgba, background))
                })
                .then_with(|| a.path.cmp(&b.path))
        });
        list
    }

    /// The colour token meant to sit on top of `token` (`color.text.on-primary` for
    /// `color.brand.primary`), when the reference has one.
    pub fn on_color(&self, token: &str) -> Option<&ColorToken> {
        let leaf = token.rsplit('.').next()?.to_ascii_lowercase();
        let wanted = format!("on-{leaf}");
        self.colors
            .iter()
            .find(|t| t.path.to_ascii_lowercase().rsplit('.').next() == Some(wanted.as_str()))
    }

    /// The hover variant of a colour token (`color.brand.primary-hover`).
    pub fn hover_of(&self, token: &str) -> Option<&ColorToken> {
        let lower = token.to_ascii_lowercase();
        self.colors.iter().find(|t| {
            let p = t.path.to_ascii_lowercase();
            p == format!("{lower}-hover") || p == format!("{lower}.hover")
        })
    }

    /// The bold (or regular) font weight token.
    pub fn weight(&self, bold: bool) -> Option<&WeightToken> {
        let wanted: &[&str] = if bold {
            &["bold", "strong", "heavy", "semibold"]
        } else {
            &["regular", "normal", "book", "body"]
        };
        wanted.iter().find_map(|w| {
            self.weights
                .iter()
                .find(|t| segments(&t.path).iter().any(|s| s == w))
        })
    }
}

/// The token whose path the words name best: most matching segments, then fewest segments
/// left unmatched, then semantic aliases, then a plain member of its group (`primary`,
/// `default`, `base`), then path order.
fn best_named<'t, T>(
    tokens: &'t [T],
    words: &[String],
    key: impl Fn(&T) -> (&String, bool),
) -> Option<&'t T> {
    const PLAIN: &[&str] = &["primary", "default", "base", "main", "500"];
    // (matched, fewest unmatched, semantic, plain)
    type Score = (usize, usize, bool, bool);
    let mut best: Option<(&T, Score, &String)> = None;
    for token in tokens {
        let (path, semantic) = key(token);
        let segs: Vec<String> = segments(path)
            .into_iter()
            .filter(|s| !GENERIC_SEGMENTS.contains(&s.as_str()))
            .collect();
        let matched = segs.iter().filter(|s| words.contains(s)).count();
        if matched == 0 {
            continue;
        }
        let unmatched = segs.len() - matched;
        let plain = segs.last().is_some_and(|s| PLAIN.contains(&s.as_str()));
        let score = (matched, usize::MAX - unmatched, semantic, plain);
        let better = match &best {
            None => true,
            Some((_, current, current_path)) => {
                score > *current || (score == *current && path < *current_path)
            }
        };
        if better {
            best = Some((token, score, path));
        }
    }
    best.map(|(t, _, _)| t)
}

/// Token path words that suit a property, for tie-breaks (as the drift report uses them).
pub(crate) fn color_role_hints(property: &str) -> &'static [&'static str] {
    if property.contains("background") {
        &["background", "surface", "bg", "canvas"]
    } else if property.contains("border")
        || property.contains("outline")
        || property.contains("rule")
    {
        &["border", "outline", "stroke", "divider"]
    } else if property.contains("shadow") {
        &["shadow", "elevation"]
    } else if property == "color" || property.ends_with("text-fill-color") {
        &["text", "foreground", "fg", "content", "on"]
    } else {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(path: &str, kind: &str, value: &str, alias: bool) -> ResolvedToken {
        ResolvedToken {
            path: path.into(),
            token_type: kind.into(),
            value: value.into(),
            description: None,
            alias_of: alias.then(|| "x".to_string()),
        }
    }

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    fn sample() -> Tokens {
        Tokens::new(&[
            token("color.brand.primary", "color", "#4f46e5", true),
            token("color.brand.primary-hover", "color", "#3730a3", true),
            token("color.brand.accent", "color", "#fbbf24", true),
            token("color.palette.slate.900", "color", "#0f172a", false),
            token("color.text.default", "color", "#0f172a", true),
            token("color.text.on-primary", "color", "#ffffff", true),
            token("space.2", "dimension", "8px", false),
            token("space.4", "dimension", "16px", false),
            token("radius.sm", "dimension", "4px", false),
            token("radius.md", "dimension", "8px", false),
            token("radius.pill", "dimension", "9999px", false),
        ])
    }

    #[test]
    fn names_tokens_from_instruction_words() {
        let tokens = sample();
        let named = |w: &str| tokens.color_named(&words(w)).map(|t| t.path.as_str());
        assert_eq!(
            named("make the button brand primary"),
            Some("color.brand.primary")
        );
        assert_eq!(named("brand"), Some("color.brand.primary"));
        assert_eq!(named("accent"), Some("color.brand.accent"));
        assert_eq!(named("nothing here"), None);
        assert_eq!(
            tokens
                .on_color("color.brand.primary")
                .map(|t| t.path.as_str()),
            Some("color.text.on-primary")
        );
        assert_eq!(
            tokens
                .hover_of("color.brand.primary")
                .map(|t| t.path.as_str()),
            Some("color.brand.primary-hover")
        );
    }

    #[test]
    fn steps_through_scales_and_finds_extremes() {
        let tokens = sample();
        assert_eq!(tokens.step(LengthRole::Spacing, 8.0, true), Some(16.0));
        assert_eq!(tokens.step(LengthRole::Spacing, 8.0, false), None);
        assert_eq!(tokens.step(LengthRole::Radius, 6.0, true), Some(8.0));
        assert_eq!(tokens.middle(LengthRole::Radius), Some(8.0));
        assert_eq!(tokens.pill(), Some(9999.0));
        assert_eq!(
            tokens
                .extreme_color(true, &["background"], &["text"])
                .map(|t| t.path.as_str()),
            Some("color.palette.slate.900")
        );
        let (nearest, on) = tokens
            .nearest_length(LengthRole::Spacing, 15.0)
            .expect("spacing tokens");
        assert_eq!((nearest.path.as_str(), on), ("space.4", false));
    }
}

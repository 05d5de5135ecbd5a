//! The reference tokens as the proposer asks about them: which token words name (`brand
//! primary` → `color.brand.primary`), the nearest token to a value, the next step of a
//! scale, the darkest or lightest colour for a role. Nearest-token matching is the drift
//! report's own ([`TokenIndex`]), so a snapped value is on-token by construction.

use devflow_protocol::ResolvedToken;
use devflow_reference::color::{ciede2000, Lab, Rgba};
use devflow_reference::drift::{path_has, LENGTH_ON_TOKEN_PX};
use devflow_reference::{DriftKind, TokenIndex};

pub(crate) use devflow_reference::drift::{ColorToken, FamilyToken, LengthToken};

/// A second token is "about as near" as the nearest when its distance is at most this many
/// times the nearest's: 20px between `16px` (ratio 0.25) and `24px` (0.2) is, 13px between
/// `12px` (0.08) and `16px` (0.23) is not. Which one the designer meant is then a guess
/// that only the reference screen can settle.
pub(crate) const ABOUT_AS_NEAR: f64 = 1.5;
/// One percent of opacity difference costs as much as one ΔE, as in the drift report.
const ALPHA_PENALTY: f64 = 100.0;

/// The drift report's colour distance: CIEDE2000 plus the opacity difference.
fn color_distance(x: Lab, x_alpha: f64, y: Lab, y_alpha: f64) -> f64 {
    ciede2000(x, y) + ALPHA_PENALTY * (x_alpha - y_alpha).abs()
}

/// Path segments that say nothing about which colour a token is.
const GENERIC_SEGMENTS: &[&str] = &["color", "colors", "colour", "colours", "palette", "$value"];

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

impl LengthRole {
    fn kind(self) -> DriftKind {
        match self {
            LengthRole::FontSize => DriftKind::FontSize,
            LengthRole::Spacing => DriftKind::Spacing,
            LengthRole::Radius => DriftKind::Radius,
        }
    }
}

/// The reference tokens: the drift report's index plus the font weights it does not judge.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tokens {
    index: TokenIndex,
    weights: Vec<WeightToken>,
}

fn segments(path: &str) -> Vec<String> {
    path.to_ascii_lowercase()
        .split(['.', '-', '_'])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Tokens {
    pub fn new(tokens: &[ResolvedToken]) -> Self {
        Self {
            index: TokenIndex::new(tokens),
            weights: tokens
                .iter()
                .filter(|t| t.token_type == "fontWeight")
                .map(|t| WeightToken {
                    path: t.path.clone(),
                    value: t.value.clone(),
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        DriftKind::ALL.iter().all(|&kind| !self.index.judges(kind))
    }

    pub fn colors(&self) -> &[ColorToken] {
        self.index.colors()
    }

    pub fn families(&self) -> &[FamilyToken] {
        self.index.families()
    }

    pub fn lengths(&self, role: LengthRole) -> &[LengthToken] {
        self.index.lengths(role.kind())
    }

    /// The colour token the words name best, e.g. `brand primary` → `color.brand.primary`,
    /// `brand` → `color.brand.primary` (the plain member of the group beats `-hover`).
    pub fn color_named(&self, words: &[String]) -> Option<&ColorToken> {
        best_named(self.colors(), words, |t| (&t.path, t.semantic))
    }

    /// The font family token the words name (`heading`, `serif`, `body`).
    pub fn family_named(&self, words: &[String]) -> Option<&FamilyToken> {
        best_named(self.families(), words, |t| (&t.path, t.semantic))
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
                self.families()
                    .iter()
                    .find(|t| segments(&t.path).iter().any(|s| s == w))
            })
            .or_else(|| {
                if heading {
                    self.family_for(false)
                } else {
                    self.families().first()
                }
            })
    }

    /// The nearest colour token as the drift report picks it, and its ΔE.
    pub fn nearest_color(&self, color: Rgba, property: &str) -> Option<(&ColorToken, f64)> {
        self.index
            .nearest_color(color, property)
            .map(|n| (n.token, n.distance))
    }

    /// The nearest length token of a role (by ratio) and whether `px` is already on it.
    pub fn nearest_length(&self, role: LengthRole, px: f64) -> Option<(&LengthToken, bool)> {
        self.index
            .nearest_length(role.kind(), px)
            .map(|n| (n.token, n.on_token))
    }

    /// The runner-up to `nearest` for `color` when it is about as near ([`ABOUT_AS_NEAR`]):
    /// the nearest token of another colour (a visibly different one, not an alias of the same
    /// value), by the drift report's distance; ties to semantic aliases, then path order.
    pub fn runner_up_color(&self, color: Rgba, nearest: &ColorToken) -> Option<&ColorToken> {
        let lab = color.to_lab();
        let distance = |t: &ColorToken| color_distance(lab, color.a, t.lab, t.rgba.a);
        let nearest_distance = distance(nearest);
        let others = self.colors().iter().filter(|t| {
            color_distance(t.lab, t.rgba.a, nearest.lab, nearest.rgba.a)
                >= devflow_reference::drift::COLOR_ON_TOKEN_DELTA_E
        });
        about_as_near(others, distance, nearest_distance, |t| {
            (&t.path, t.semantic)
        })
    }

    /// The runner-up to `nearest` for a length of `px` when it is about as near
    /// ([`ABOUT_AS_NEAR`], by ratio as the drift report measures): the nearest token of
    /// another size; ties to semantic aliases, then path order.
    pub fn runner_up_length(
        &self,
        role: LengthRole,
        px: f64,
        nearest: &LengthToken,
    ) -> Option<&LengthToken> {
        let px = px.abs();
        if px == 0.0 || !px.is_finite() {
            return None;
        }
        let distance = |t: &LengthToken| px.max(t.px) / px.min(t.px) - 1.0;
        let nearest_distance = distance(nearest);
        let others = self
            .lengths(role)
            .iter()
            .filter(|t| (t.px - nearest.px).abs() > LENGTH_ON_TOKEN_PX);
        about_as_near(others, distance, nearest_distance, |t| {
            (&t.path, t.semantic)
        })
    }

    /// The distinct values of a role's tokens, smallest first, without "pill"-like extremes.
    fn scale(&self, role: LengthRole) -> Vec<f64> {
        let mut scale: Vec<f64> = self
            .lengths(role)
            .iter()
            .map(|t| t.px)
            .filter(|&v| v < 999.0)
            .collect();
        scale.sort_by(f64::total_cmp);
        scale.dedup();
        scale
    }

    /// The next token of the scale above (or below) `px`.
    pub fn step(&self, role: LengthRole, px: f64, up: bool) -> Option<f64> {
        let px = px.abs();
        let scale = self.scale(role);
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
        let scale = self.scale(role);
        scale.get(scale.len() / 2).copied()
    }

    /// The path of the length token of `role` worth exactly `px`.
    pub fn path_at(&self, role: LengthRole, px: f64) -> Option<String> {
        self.lengths(role)
            .iter()
            .find(|t| (t.px - px).abs() < 0.01)
            .map(|t| t.path.clone())
    }

    /// The largest radius token (a pill), when there is one.
    pub fn pill(&self) -> Option<f64> {
        self.lengths(LengthRole::Radius)
            .iter()
            .filter(|t| t.px >= 999.0 || path_has(&t.path, &["pill", "full", "round"]))
            .map(|t| t.px)
            .reduce(f64::max)
    }

    /// The darkest (or lightest) opaque colour token, preferring paths that suit the role
    /// (`hints`) and avoiding paths meant for another role (`avoid`).
    pub fn extreme_color(&self, dark: bool, hints: &[&str], avoid: &[&str]) -> Option<&ColorToken> {
        let lightness = |t: &ColorToken| if dark { t.lab.l } else { -t.lab.l };
        self.colors()
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
            .colors()
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
        self.colors()
            .iter()
            .find(|t| t.path.to_ascii_lowercase().rsplit('.').next() == Some(wanted.as_str()))
    }

    /// The hover variant of a colour token (`color.brand.primary-hover`).
    pub fn hover_of(&self, token: &str) -> Option<&ColorToken> {
        let lower = token.to_ascii_lowercase();
        self.colors().iter().find(|t| {
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
/// The nearest of `others` by `distance` when it is within [`ABOUT_AS_NEAR`] times
/// `nearest_distance`; ties go to semantic aliases, then path order.
fn about_as_near<'t, T: 't>(
    others: impl Iterator<Item = &'t T>,
    distance: impl Fn(&T) -> f64,
    nearest_distance: f64,
    key: impl Fn(&T) -> (&String, bool),
) -> Option<&'t T> {
    others
        .map(|t| (t, distance(t)))
        .min_by(|(a, da), (b, db)| {
            let ((a_path, a_semantic), (b_path, b_semantic)) = (key(a), key(b));
            da.total_cmp(db)
                .then_with(|| b_semantic.cmp(&a_semantic))
                .then_with(|| a_path.cmp(b_path))
        })
        .filter(|(_, d)| *d <= ABOUT_AS_NEAR * nearest_distance)
        .map(|(t, _)| t)
}

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

    #[test]
    fn a_runner_up_is_another_value_about_as_near_as_the_nearest() {
        let tokens = sample();
        let runner_up = |px: f64| {
            let (nearest, _) = tokens.nearest_length(LengthRole::Radius, px).unwrap();
            tokens
                .runner_up_length(LengthRole::Radius, px, nearest)
                .map(|t| t.path.as_str())
        };
        // 5.8px: 8px is 0.38 away, 4px 0.45 (about as near); 5px: 4px 0.25, 8px 0.6 (not).
        assert_eq!(runner_up(5.8), Some("radius.sm"));
        assert_eq!(runner_up(5.0), None);
        let eight = &tokens.lengths(LengthRole::Radius)[1];
        assert_eq!(
            tokens.runner_up_length(LengthRole::Radius, 0.0, eight),
            None
        );
        let rgba = |css: &str| devflow_reference::color::parse_color_str(css).unwrap();
        let runner_up = |css: &str| {
            let (nearest, _) = tokens.nearest_color(rgba(css), "").unwrap();
            tokens
                .runner_up_color(rgba(css), nearest)
                .map(|t| t.value.as_str())
        };
        // Between indigo 500 and 700; the two `#0f172a` tokens are one colour, so a colour
        // near it has no runner-up among its aliases.
        let between = runner_up("#4338ca").unwrap();
        assert!(["#4f46e5", "#3730a3"].contains(&between), "{between}");
        assert_eq!(runner_up("#111111"), None);
    }
}

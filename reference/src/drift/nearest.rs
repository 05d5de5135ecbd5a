//! The reference side of drift: which tokens a colour, font size, spacing, radius or family
//! can be matched against, and the nearest one with its distance. Public because the builtin
//! proposer snaps values with exactly this matching: a value it snaps is then on-token in the
//! drift report by construction.
//!
//! Dimension tokens are split by role from their path (`space.*`, `radius.*`, `font.size.*`)
//! so a padding is never "on-token" because it equals a radius; a role with no tokens of its
//! own falls back to the dimension tokens that have no recognised role.

use devflow_protocol::ResolvedToken;

use super::extract::Found;
use super::DriftKind;
use crate::color::{ciede2000, parse_color_str, Lab, Rgba};
use crate::tokens::font_families;
use crate::units::Dimension;

/// Colours closer than this (CIEDE2000, alpha penalty included) are on-token.
pub const COLOR_ON_TOKEN_DELTA_E: f64 = 1.0;
/// Lengths within this many px of a token are on-token.
pub const LENGTH_ON_TOKEN_PX: f64 = 0.5;
/// One percent of opacity difference costs as much as one ΔE.
const ALPHA_PENALTY: f64 = 100.0;
/// Distances closer than this are a tie.
const SAME: f64 = 1e-9;

/// A colour token.
#[derive(Debug, Clone, PartialEq)]
pub struct ColorToken {
    pub path: String,
    /// The token's value as CSS (`#4f46e5`).
    pub value: String,
    pub rgba: Rgba,
    pub lab: Lab,
    /// Written as an alias (`color.text.default` → `{color.palette.slate.900}`).
    pub semantic: bool,
}

/// A dimension token, in px (`rem`/`em` at 16px).
#[derive(Debug, Clone, PartialEq)]
pub struct LengthToken {
    pub path: String,
    pub px: f64,
    pub semantic: bool,
}

/// A font family token.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyToken {
    pub path: String,
    /// The token's value as CSS (`Inter, "Helvetica Neue", sans-serif`).
    pub value: String,
    /// Its family names, lowercase, in order.
    pub families: Vec<String>,
    pub semantic: bool,
}

/// The nearest token to a value: the token, the distance (ΔE, length ratio, or 0/0.5/1 for
/// families) and whether the value counts as on-token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearest<'a, T> {
    pub token: &'a T,
    pub distance: f64,
    pub on_token: bool,
}

/// The reference tokens grouped by the kind of value they can stand for.
#[derive(Debug, Clone, Default)]
pub struct TokenIndex {
    colors: Vec<ColorToken>,
    font_sizes: Vec<LengthToken>,
    spacing: Vec<LengthToken>,
    radii: Vec<LengthToken>,
    families: Vec<FamilyToken>,
}

/// Whether a segment of the dotted/dashed `path` starts with one of `words`
/// (`color.surface.bg-alt` has `bg`), case-insensitively.
pub fn path_has(path: &str, words: &[&str]) -> bool {
    path.to_ascii_lowercase()
        .split(['.', '-', '_'])
        .any(|segment| words.iter().any(|w| segment.starts_with(w)))
}

/// Which lengths a dimension token is for, from its path; `None` for the rest.
pub(super) fn dimension_role(path: &str) -> Option<DriftKind> {
    if path_has(path, &["radius", "radii", "rounded", "corner"]) {
        Some(DriftKind::Radius)
    } else if path_has(
        path,
        &[
            "line", "leading", "letter", "tracking", "border", "width", "height",
        ],
    ) {
        None
    } else if path_has(
        path,
        &["font", "text", "typography", "type", "heading", "display"],
    ) {
        Some(DriftKind::FontSize)
    } else if path_has(
        path,
        &[
            "space", "spacing", "spacer", "gap", "margin", "padding", "gutter", "inset", "stack",
        ],
    ) {
        Some(DriftKind::Spacing)
    } else {
        None
    }
}

impl TokenIndex {
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
                    // A zero token has no ratio to anything; `0` in the site is skipped anyway.
                    if px <= 0.0 {
                        continue;
                    }
                    let length = LengthToken {
                        path: token.path.clone(),
                        px,
                        semantic,
                    };
                    match dimension_role(&token.path) {
                        Some(DriftKind::FontSize) => out.font_sizes.push(length),
                        Some(DriftKind::Spacing) => out.spacing.push(length),
                        Some(DriftKind::Radius) => out.radii.push(length),
                        _ => unassigned.push(length),
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

    pub fn colors(&self) -> &[ColorToken] {
        &self.colors
    }

    /// The length tokens of a kind (font size, spacing, radius); empty for the other kinds.
    pub fn lengths(&self, kind: DriftKind) -> &[LengthToken] {
        match kind {
            DriftKind::FontSize => &self.font_sizes,
            DriftKind::Spacing => &self.spacing,
            DriftKind::Radius => &self.radii,
            DriftKind::Color | DriftKind::FontFamily => &[],
        }
    }

    pub fn families(&self) -> &[FamilyToken] {
        &self.families
    }

    /// Whether the reference has any token to judge this kind of declaration by.
    pub fn judges(&self, kind: DriftKind) -> bool {
        match kind {
            DriftKind::Color => !self.colors.is_empty(),
            DriftKind::FontFamily => !self.families.is_empty(),
            DriftKind::FontSize | DriftKind::Spacing | DriftKind::Radius => {
                !self.lengths(kind).is_empty()
            }
        }
    }

    /// The nearest colour token to `color` used in `property`. Ties go to the token whose
    /// path suits the property (`color` → `text`, `background` → `surface`), then to
    /// semantic aliases over raw palette entries, then to path order.
    pub fn nearest_color(&self, color: Rgba, property: &str) -> Option<Nearest<'_, ColorToken>> {
        let lab = color.to_lab();
        let hints = color_role_hints(property);
        best(self.colors.iter().map(|t| {
            let distance = ciede2000(lab, t.lab) + ALPHA_PENALTY * (color.a - t.rgba.a).abs();
            (t, distance, (!path_has(&t.path, hints), !t.semantic))
        }))
        .map(|(token, distance)| Nearest {
            token,
            distance,
            on_token: distance < COLOR_ON_TOKEN_DELTA_E,
        })
    }

    /// The nearest length token of `kind` to `px` (its size: a negative margin counts as
    /// positive), by ratio; ties to semantic aliases, then path order. `None` for 0.
    pub fn nearest_length(&self, kind: DriftKind, px: f64) -> Option<Nearest<'_, LengthToken>> {
        let px = px.abs();
        if px == 0.0 || !px.is_finite() {
            return None;
        }
        best(self.lengths(kind).iter().map(|t| {
            let ratio = px.max(t.px) / px.min(t.px) - 1.0;
            (t, ratio, (false, !t.semantic))
        }))
        .map(|(token, distance)| Nearest {
            token,
            distance,
            on_token: (px - token.px).abs() <= LENGTH_ON_TOKEN_PX,
        })
    }

    /// The nearest family token to the first family of a list: 0 when it is a token's first
    /// family, 0.5 when it is somewhere in a token's stack, else 1.
    pub fn nearest_family(&self, family: &str) -> Option<Nearest<'_, FamilyToken>> {
        let family = family.to_lowercase();
        best(self.families.iter().map(|t| {
            let distance = if t.families.first() == Some(&family) {
                0.0
            } else if t.families.contains(&family) {
                0.5
            } else {
                1.0
            };
            (t, distance, (false, !t.semantic))
        }))
        .map(|(token, distance)| Nearest {
            token,
            distance,
            on_token: distance == 0.0,
        })
    }
}

/// A drift entry's match: the token path, distance and verdict for one found value.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Match {
    pub token: String,
    pub distance: f64,
    pub on_token: bool,
}

fn to_match<T: HasPath>(nearest: Nearest<'_, T>) -> Match {
    Match {
        token: nearest.token.path().to_string(),
        distance: nearest.distance,
        on_token: nearest.on_token,
    }
}

/// The nearest token for one value drift found in a declaration of `property`.
pub(super) fn nearest(
    index: &TokenIndex,
    kind: DriftKind,
    property: &str,
    found: &Found,
) -> Option<Match> {
    match (kind, found) {
        (DriftKind::Color, Found::Color(color)) => {
            index.nearest_color(*color, property).map(to_match)
        }
        (DriftKind::FontSize | DriftKind::Spacing | DriftKind::Radius, Found::Px(px)) => {
            index.nearest_length(kind, *px).map(to_match)
        }
        (DriftKind::FontFamily, Found::Family(family)) => {
            index.nearest_family(family).map(to_match)
        }
        _ => None,
    }
}

/// Token path words that suit a colour property, for tie-breaks.
fn color_role_hints(property: &str) -> &'static [&'static str] {
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

/// The candidate with the smallest distance, then the smallest preference, then path.
fn best<'a, T: HasPath>(
    candidates: impl Iterator<Item = (&'a T, f64, (bool, bool))>,
) -> Option<(&'a T, f64)> {
    let mut best: Option<(&'a T, f64, (bool, bool))> = None;
    for candidate in candidates {
        let better = match &best {
            None => true,
            Some(current) => {
                if (candidate.1 - current.1).abs() > SAME {
                    candidate.1 < current.1
                } else {
                    (candidate.2, candidate.0.path()) < (current.2, current.0.path())
                }
            }
        };
        if better {
            best = Some(candidate);
        }
    }
    best.map(|(token, distance, _)| (token, distance))
}

/// The path a tie is broken on.
trait HasPath {
    fn path(&self) -> &str;
}

impl HasPath for ColorToken {
    fn path(&self) -> &str {
        &self.path
    }
}

impl HasPath for LengthToken {
    fn path(&self) -> &str {
        &self.path
    }
}

impl HasPath for FamilyToken {
    fn path(&self) -> &str {
        &self.path
    }
}

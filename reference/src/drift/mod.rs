//! Drift: how far a site's CSS is from the reference tokens. Every colour, font size,
//! spacing (margin/padding/gap), radius and font family the site declares — in stylesheets,
//! `<style>` blocks and `style=""` attributes — is mapped to its nearest token of the matching
//! type, with the distance and whether it is on-token.
//!
//! Pure: file contents in, a `DriftReport` out; the same input gives the same report.
//!
//! - Colours: CIEDE2000 ΔE plus 100 × the opacity difference; on-token below 1.0.
//! - Lengths (`rem`/`em` at 16px): distance is the ratio `max/min − 1`; on-token within 0.5px.
//! - Font families: the first family of the list, case-insensitively: 0 = the token's first
//!   family, 0.5 = somewhere in its stack, 1 = absent; on-token only at 0.
//! - Score = Σ weight × on-token / Σ weight over the judged entries, with weights colour 3,
//!   font family 2, font size 2, spacing 1, radius 1: colour and type are what people see as
//!   "the brand", while spacing values are numerous and individually subtle. A site with
//!   nothing to judge scores 1.
//!
//! Not judged (left out of entries and score): keywords (`inherit`, `transparent`,
//! `currentColor`, `auto`), `0`, percentages, viewport units, `calc()`; a `var()` with no
//! definition and no fallback (listed in the summary); kinds the reference has no tokens for.
//! A `var(--x)` is on-token when every value `--x` is defined with is; definitions of custom
//! properties are not uses and are not listed themselves.

mod css;
mod extract;
mod html;
mod nearest;

use devflow_protocol::{DriftEntry, DriftKindSummary, DriftReport, ResolvedToken};

use css::Collected;
use extract::{Item, Mode, Vars};

pub use nearest::{
    path_has, ColorToken, FamilyToken, LengthToken, Nearest, TokenIndex, COLOR_ON_TOKEN_DELTA_E,
    LENGTH_ON_TOKEN_PX,
};

/// Which lengths a dimension token is for, read from its path (`space.*` → spacing,
/// `radius.*` → radius, `font.size.*` → font size); `None` for the rest (line heights,
/// borders, sizes). Drift and the builtin proposer must agree on this, so it lives here once.
pub fn dimension_token_kind(path: &str) -> Option<DriftKind> {
    nearest::dimension_role(path)
}

/// A file of the site: its path as shown in reports (`css/styles.css`) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }
}

/// The kinds of design value drift looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DriftKind {
    Color,
    FontFamily,
    FontSize,
    Spacing,
    Radius,
}

impl DriftKind {
    pub const ALL: [DriftKind; 5] = [
        Self::Color,
        Self::FontFamily,
        Self::FontSize,
        Self::Spacing,
        Self::Radius,
    ];

    /// This kind's weight in the score.
    pub fn weight(self) -> f64 {
        match self {
            Self::Color => 3.0,
            Self::FontFamily | Self::FontSize => 2.0,
            Self::Spacing | Self::Radius => 1.0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Color => "color",
            Self::FontFamily => "fontFamily",
            Self::FontSize => "fontSize",
            Self::Spacing => "spacing",
            Self::Radius => "radius",
        }
    }
}

/// Counts for one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindSummary {
    pub kind: DriftKind,
    /// Values of this kind found in the site (judged or not).
    pub found: usize,
    /// Values of this kind in the report's entries (found values a token was matched to).
    pub judged_entries: usize,
    pub on_token: usize,
    /// False when the reference has no tokens for this kind: its values are not in the report.
    pub judged: bool,
}

impl KindSummary {
    /// The wire form, with the kind's own score (`on_token / judged`).
    fn to_wire(&self) -> DriftKindSummary {
        let judged = if self.judged { self.judged_entries } else { 0 };
        DriftKindSummary {
            kind: self.kind.as_str().to_string(),
            declarations: count(self.found),
            judged: count(judged),
            on_token: count(self.on_token),
            score: (judged > 0).then(|| round(self.on_token as f64 / judged as f64, 1e4)),
            weight: self.kind.weight(),
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What the report's entries do not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftSummary {
    pub kinds: Vec<KindSummary>,
    /// Custom properties used in `var()` that are defined nowhere in the given sources and
    /// have no fallback.
    pub unresolved_custom_properties: Vec<String>,
}

/// A drift report with what it is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftAnalysis {
    pub report: DriftReport,
    /// The kind of each entry of `report.entries`, index for index.
    pub entry_kinds: Vec<DriftKind>,
    pub summary: DriftSummary,
}

/// The drift report of a site against tokens; see [`analyze_drift`].
pub fn drift_report(
    tokens: &[ResolvedToken],
    css: &[SourceFile],
    html: &[SourceFile],
) -> DriftReport {
    analyze_drift(tokens, css, html).report
}

/// Maps every colour, font size, spacing, radius and font family declared in `css` files and
/// in `html` pages (`<style>` and `style=""`) to its nearest token. Entries are in source
/// order: `css` files first, then `html` pages, each top to bottom.
pub fn analyze_drift(
    tokens: &[ResolvedToken],
    css: &[SourceFile],
    html: &[SourceFile],
) -> DriftAnalysis {
    let files: Vec<&SourceFile> = css.iter().chain(html).collect();
    let mut collected = Collected::default();
    for (index, file) in css.iter().enumerate() {
        collected.add_stylesheet(index, &file.text, 0);
    }
    for (offset, file) in html.iter().enumerate() {
        let index = css.len() + offset;
        for piece in html::css_in_html(&file.text) {
            if piece.is_attribute {
                collected.add_style_attribute(index, &piece.css, piece.first_line);
            } else {
                collected.add_stylesheet(index, &piece.css, piece.first_line);
            }
        }
    }

    let index = TokenIndex::new(tokens);
    let mut vars = Vars::new(&collected.custom_properties);
    let mut entries = Vec::new();
    let mut entry_kinds = Vec::new();
    let mut kinds: Vec<KindSummary> = DriftKind::ALL
        .iter()
        .map(|&kind| KindSummary {
            kind,
            found: 0,
            judged_entries: 0,
            on_token: 0,
            judged: index.judges(kind),
        })
        .collect();

    for declaration in &collected.declarations {
        let property = declaration.property.as_str();
        let unprefixed = unprefixed(property);
        let items: Vec<(DriftKind, Item)> = if unprefixed == "font" {
            let (size, family) = vars.font_shorthand(&declaration.value, declaration.line);
            size.map(|i| (DriftKind::FontSize, i))
                .into_iter()
                .chain(family.map(|i| (DriftKind::FontFamily, i)))
                .collect()
        } else if let Some(kind) = property_kind(unprefixed) {
            vars.items(&declaration.value, declaration.line, mode(kind))
                .into_iter()
                .map(|item| (kind, item))
                .collect()
        } else {
            continue;
        };

        for (kind, item) in items {
            let Some(summary) = kinds.iter_mut().find(|k| k.kind == kind) else {
                continue;
            };
            summary.found += 1;
            if !summary.judged {
                continue;
            }
            // The worst of the values a `var()` can take decides.
            let mut worst: Option<nearest::Match> = None;
            let mut all_on = true;
            for found in &item.found {
                let Some(m) = nearest::nearest(&index, kind, unprefixed, found) else {
                    continue;
                };
                all_on &= m.on_token;
                if worst.as_ref().is_none_or(|w| m.distance > w.distance) {
                    worst = Some(m);
                }
            }
            let Some(worst) = worst else {
                continue;
            };
            summary.judged_entries += 1;
            if all_on {
                summary.on_token += 1;
            }
            entries.push(DriftEntry {
                kind: kind.as_str().to_string(),
                file: files
                    .get(declaration.source)
                    .map(|f| f.path.clone())
                    .unwrap_or_default(),
                line: item.line,
                property: property.to_string(),
                value: item.text,
                nearest_token: Some(worst.token),
                distance: round(worst.distance, 1e3),
                on_token: all_on,
            });
            entry_kinds.push(kind);
        }
    }

    let (weighted_on, weighted_all) =
        entries
            .iter()
            .zip(&entry_kinds)
            .fold((0.0, 0.0), |(on, all), (entry, kind)| {
                let w = kind.weight();
                (on + if entry.on_token { w } else { 0.0 }, all + w)
            });
    let score = if weighted_all > 0.0 {
        round(weighted_on / weighted_all, 1e4)
    } else {
        1.0
    };
    let kind_summaries = kinds.iter().map(KindSummary::to_wire).collect();
    DriftAnalysis {
        report: DriftReport {
            score,
            entries,
            kinds: kind_summaries,
        },
        entry_kinds,
        summary: DriftSummary {
            kinds,
            unresolved_custom_properties: vars.unresolved.into_iter().collect(),
        },
    }
}

fn round(value: f64, scale: f64) -> f64 {
    (value * scale).round() / scale
}

/// A property without its vendor prefix: `-webkit-border-radius` → `border-radius`.
pub fn unprefixed(property: &str) -> &str {
    ["-webkit-", "-moz-", "-ms-", "-o-"]
        .iter()
        .find_map(|prefix| property.strip_prefix(prefix))
        .unwrap_or(property)
}

/// Which kind of design value a (lowercase) property holds, its vendor prefix ignored. `font`
/// holds a size and a family at once and is `None` here: its caller reads both.
pub fn property_kind(property: &str) -> Option<DriftKind> {
    let p = unprefixed(property);
    if p == "font-family" {
        Some(DriftKind::FontFamily)
    } else if p == "font-size" {
        Some(DriftKind::FontSize)
    } else if p == "border-radius" || (p.starts_with("border-") && p.ends_with("-radius")) {
        Some(DriftKind::Radius)
    } else if p == "margin"
        || (p.starts_with("margin-") && p != "margin-trim")
        || p == "padding"
        || p.starts_with("padding-")
        || matches!(
            p,
            "gap" | "row-gap" | "column-gap" | "grid-gap" | "grid-row-gap" | "grid-column-gap"
        )
    {
        Some(DriftKind::Spacing)
    } else if p == "color"
        || p.ends_with("-color")
        || matches!(
            p,
            "background"
                | "background-image"
                | "border"
                | "border-top"
                | "border-right"
                | "border-bottom"
                | "border-left"
                | "border-block"
                | "border-inline"
                | "border-block-start"
                | "border-block-end"
                | "border-inline-start"
                | "border-inline-end"
                | "outline"
                | "box-shadow"
                | "text-shadow"
                | "column-rule"
                | "text-decoration"
                | "text-emphasis"
                | "fill"
                | "stroke"
        )
    {
        Some(DriftKind::Color)
    } else {
        None
    }
}

/// How to read the values of a kind out of a declaration.
fn mode(kind: DriftKind) -> Mode {
    match kind {
        DriftKind::Color => Mode::Colors,
        DriftKind::FontFamily => Mode::Family,
        DriftKind::FontSize | DriftKind::Spacing | DriftKind::Radius => Mode::Lengths,
    }
}

#[cfg(test)]
mod tests;

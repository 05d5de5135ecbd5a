//! The FrontSwatch reference (design tokens and screens) and the drift of a site from it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A design token after alias resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedToken {
    /// Dotted path, e.g. `color.brand.primary`.
    pub path: String,
    /// DTCG type: color, dimension, fontFamily, fontWeight, duration, shadow, number.
    #[serde(rename = "type")]
    pub token_type: String,
    /// The resolved value as CSS text (`#4f46e5`, `16px`, `150ms`).
    pub value: String,
    pub description: Option<String>,
    /// The alias it was written as, when it was one.
    pub alias_of: Option<String>,
}

/// A reference screen: an image or an HTML page showing the ideal design of one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceScreen {
    /// `home` = `/`, `about` = `/about`.
    pub name: String,
    pub media_type: String,
    /// Where the panel can load it from.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub reference_id: String,
    pub tokens: Vec<ResolvedToken>,
    pub screens: Vec<ReferenceScreen>,
    /// The drift score of the site against these tokens, once computed.
    pub drift_score: Option<f64>,
}

/// One style declaration of the site mapped to its nearest token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct DriftEntry {
    /// color, fontFamily, fontSize, spacing or radius: says how to read `distance`
    /// (CIEDE2000 ΔE for colours, a ratio for lengths, 0/0.5/1 for font families).
    pub kind: String,
    pub file: String,
    pub line: u32,
    pub property: String,
    pub value: String,
    pub nearest_token: Option<String>,
    pub distance: f64,
    pub on_token: bool,
}

/// How far the site's styles are from the reference: `score` 1 = fully on-token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport {
    pub score: f64,
    pub entries: Vec<DriftEntry>,
    /// One summary per kind (color, fontFamily, fontSize, spacing, radius), in that order.
    /// Empty in reports stored before the summary existed.
    #[serde(default)]
    pub kinds: Vec<DriftKindSummary>,
}

/// The drift of one kind of design value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "camelCase")]
pub struct DriftKindSummary {
    /// color, fontFamily, fontSize, spacing or radius.
    pub kind: String,
    /// Values of this kind the site declares (keywords, `0`, `calc()` … are not counted).
    pub declarations: u32,
    /// Of those, the ones judged against a token (the entries of this kind); 0 when the
    /// reference has no tokens of this kind.
    pub judged: u32,
    pub on_token: u32,
    /// `onToken / judged`; `null` when nothing of this kind was judged.
    pub score: Option<f64>,
    /// This kind's weight in the overall score.
    pub weight: f64,
}

//! Drift on small hand-written sites: matching, var() resolution, HTML sources, scoring.

use super::*;
use crate::tokens::{resolve_tokens, TokenFile};

const TOKENS: &str = r##"{
  "color": {
    "$type": "color",
    "palette": { "indigo": { "$value": "#4f46e5" }, "white": { "$value": "#ffffff" }, "veil": { "$value": "#0f172a29" } },
    "text": { "inverse": { "$value": "{color.palette.white}" } },
    "surface": { "page": { "$value": "{color.palette.white}" } }
  },
  "space": { "$type": "dimension", "0": { "$value": "0px" }, "2": { "$value": "8px" }, "4": { "$value": "16px" } },
  "radius": { "$type": "dimension", "md": { "$value": "6px" } },
  "font": { "family": { "$type": "fontFamily", "sans": { "$value": ["Inter", "Arial", "sans-serif"] } } }
}"##;

fn tokens() -> Vec<ResolvedToken> {
    resolve_tokens(&[TokenFile::new("tokens.json", TOKENS)]).expect("valid tokens")
}

fn rows(report: &DriftReport) -> Vec<String> {
    report
        .entries
        .iter()
        .map(|e| {
            format!(
                "{}:{} {}: {} → {} {} {}",
                e.file,
                e.line,
                e.property,
                e.value,
                e.nearest_token.as_deref().unwrap_or("-"),
                e.distance,
                if e.on_token { "on" } else { "off" }
            )
        })
        .collect()
}

#[test]
fn maps_each_value_to_its_nearest_token_with_role_tie_breaks() {
    let css = SourceFile::new(
        "a.css",
        "body { color: #FFF; background-color: rgb(255 255 255); border: 1px solid #4f46e6 }\n\
         .card { padding: 0.5rem 15px; margin: 0 auto; border-radius: 6px; gap: 6px }\n\
         .shade { box-shadow: 0 1px 2px rgba(15, 23, 42, .16); outline-color: transparent }\n\
         h1 { font-family: inter, serif; } p { font-family: Arial } code { font-family: monospace }",
    );
    let analysis = analyze_drift(&tokens(), &[css], &[]);
    assert_eq!(
        rows(&analysis.report),
        [
            "a.css:1 color: #FFF → color.text.inverse 0 on",
            "a.css:1 background-color: rgb(255 255 255) → color.surface.page 0 on",
            "a.css:1 border: #4f46e6 → color.palette.indigo 0.125 on",
            "a.css:2 padding: 0.5rem → space.2 0 on",
            "a.css:2 padding: 15px → space.4 0.067 off",
            "a.css:2 border-radius: 6px → radius.md 0 on",
            "a.css:2 gap: 6px → space.2 0.333 off",
            "a.css:3 box-shadow: rgba(15, 23, 42, .16) → color.palette.veil 0.078 on",
            "a.css:4 font-family: inter, serif → font.family.sans 0 on",
            "a.css:4 font-family: Arial → font.family.sans 0.5 off",
            "a.css:4 font-family: monospace → font.family.sans 1 off",
        ]
    );
    // On: 4 colours (weight 3), 1 of 3 spacings (1), the radius (1), 1 of 3 families (2).
    let on = 4.0 * 3.0 + 1.0 + 1.0 + 2.0;
    let all = 4.0 * 3.0 + 3.0 * 1.0 + 1.0 + 3.0 * 2.0;
    assert_eq!(analysis.report.score, round(on / all, 1e4));
}

#[test]
fn var_references_count_as_on_token_only_when_every_definition_is() {
    let css = SourceFile::new(
        "v.css",
        ":root { --brand: #4f46e5; --pad: 8px 16px; --ink: #4f46e5 }\n\
         .dark { --ink: #123456 }\n\
         a { color: var(--brand); padding: var(--pad); }\n\
         b { color: var(--ink); background: var(--undefined); border-color: var(--nope, #fff) }",
    );
    let analysis = analyze_drift(&tokens(), &[css], &[]);
    assert_eq!(
        rows(&analysis.report),
        [
            "v.css:3 color: var(--brand) → color.palette.indigo 0 on",
            "v.css:3 padding: var(--pad) → space.2 0 on",
            "v.css:4 color: var(--ink) → color.palette.indigo 20.801 off",
            "v.css:4 border-color: var(--nope, #fff) → color.surface.page 0 on",
        ]
    );
    assert_eq!(
        analysis.summary.unresolved_custom_properties,
        ["--undefined"]
    );
}

#[test]
fn reads_style_blocks_and_inline_styles_of_html_pages_at_their_lines() {
    let html = SourceFile::new(
        "index.html",
        "<html>\n<head>\n<style>\n  h1 {\n    color: #4f46e5;\n  }\n</style>\n</head>\n\
         <body>\n  <p style=\"margin: 8px; color: red\">x</p>\n</body></html>",
    );
    let analysis = analyze_drift(&tokens(), &[], &[html]);
    let rows = rows(&analysis.report);
    assert_eq!(
        rows[0],
        "index.html:5 color: #4f46e5 → color.palette.indigo 0 on"
    );
    assert_eq!(rows[1], "index.html:10 margin: 8px → space.2 0 on");
    assert!(
        rows[2].starts_with("index.html:10 color: red → "),
        "{}",
        rows[2]
    );
}

#[test]
fn kinds_without_tokens_are_counted_but_not_judged() {
    let css = SourceFile::new(
        "t.css",
        "p { font-size: 14px; font: bold 12px/1 Inter; color: #4f46e5 }",
    );
    let analysis = analyze_drift(&tokens(), &[css], &[]);
    let font_size = analysis
        .summary
        .kinds
        .iter()
        .find(|k| k.kind == DriftKind::FontSize)
        .expect("font size summary");
    assert_eq!((font_size.found, font_size.judged), (2, false));
    assert_eq!(
        analysis.entry_kinds,
        [DriftKind::FontFamily, DriftKind::Color]
    );
    assert_eq!(analysis.report.score, 1.0);
}

#[test]
fn a_site_without_design_values_scores_one() {
    let report = drift_report(
        &tokens(),
        &[SourceFile::new("e.css", "a { display: block }")],
        &[],
    );
    assert_eq!((report.score, report.entries.len()), (1.0, 0));
}

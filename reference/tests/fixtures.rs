//! The crate against the shared fixtures: the two token sets (Style Dictionary legacy and
//! DTCG in both value forms), the hostile upload zips, and the drift of the fixture sites.
//! Refresh snapshots with `UPDATE_EXPECT=1 cargo test -p devflow-reference`, then review them.

use std::fmt::Write as _;
use std::path::PathBuf;

use devflow_protocol::ResolvedToken;
use devflow_reference::{
    analyze_drift, load_site_sources, load_token_dir, read_reference_zip, DriftAnalysis,
    ReferenceError, SourceFile, TokenFile,
};
use expect_test::{expect, Expect};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

fn read(relative: &str) -> String {
    let path = fixtures().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dtcg(file: &str) -> Vec<ResolvedToken> {
    devflow_reference::resolve_tokens(&[TokenFile::new(
        file,
        read(&format!("tokens/dtcg-small/{file}")),
    )])
    .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn listing(tokens: &[ResolvedToken]) -> String {
    let mut out = String::new();
    for t in tokens {
        let _ = write!(out, "{} {} {}", t.path, t.token_type, t.value);
        if let Some(alias) = &t.alias_of {
            let _ = write!(out, " ← {{{alias}}}");
        }
        out.push('\n');
    }
    out
}

#[test]
fn legacy_style_dictionary_tokens_resolve_with_types_from_their_category() {
    let tokens = load_token_dir(&fixtures().join("tokens/legacy-basic")).expect("legacy set loads");
    expect![[r#"
        color.base.gray.dark color #111111
        color.base.gray.light color #cccccc
        color.base.gray.medium color #999999
        color.base.green color #00ff00
        color.base.red color #ff0000
        color.font.base color #ff0000 ← {color.base.red}
        color.font.secondary color #00ff00 ← {color.base.green}
        color.font.tertiary color #cccccc ← {color.base.gray.light}
        size.font.base dimension 1rem ← {size.font.medium}
        size.font.large dimension 2rem
        size.font.medium dimension 1rem
        size.font.small dimension 0.75rem
    "#]]
    .assert_eq(&listing(&tokens));
    let small = tokens
        .iter()
        .find(|t| t.path == "size.font.small")
        .expect("size.font.small");
    assert_eq!(
        small.description.as_deref(),
        Some("the small size of the font")
    );
}

#[test]
fn dtcg_string_form_resolves_all_35_tokens() {
    let tokens = dtcg("tokens.json");
    assert_eq!(tokens.len(), 35);
    expect![[r#"
        color.brand.accent color #fbbf24 ← {color.palette.amber.400}
        color.brand.primary color #4f46e5 ← {color.palette.indigo.500}
        color.brand.primary-hover color #3730a3 ← {color.palette.indigo.700}
        color.palette.amber.400 color #fbbf24
        color.palette.indigo.500 color #4f46e5
        color.palette.indigo.700 color #3730a3
        color.palette.shadow color #0f172a29
        color.palette.slate.50 color #f8fafc
        color.palette.slate.500 color #64748b
        color.palette.slate.900 color #0f172a
        color.palette.white color #ffffff
        color.surface.background color #ffffff ← {color.palette.white}
        color.surface.subtle color #f8fafc ← {color.palette.slate.50}
        color.text.default color #0f172a ← {color.palette.slate.900}
        color.text.muted color #64748b ← {color.palette.slate.500}
        color.text.on-primary color #ffffff ← {color.palette.white}
        font.family.body fontFamily Inter, "Helvetica Neue", Arial, sans-serif ← {font.family.sans}
        font.family.heading fontFamily Merriweather ← {font.family.serif}
        font.family.sans fontFamily Inter, "Helvetica Neue", Arial, sans-serif
        font.family.serif fontFamily Merriweather
        font.weight.bold fontWeight 700
        font.weight.regular fontWeight 400
        motion.duration.fast duration 150ms
        motion.duration.slow duration 300ms
        radius.button dimension 8px ← {radius.md}
        radius.md dimension 8px
        radius.pill dimension 9999px
        radius.sm dimension 4px
        shadow.card shadow 0px 2px 8px 0px #0f172a29
        space.0 dimension 0px
        space.1 dimension 4px
        space.2 dimension 8px
        space.4 dimension 16px
        space.6 dimension 24px
        space.8 dimension 32px
    "#]]
    .assert_eq(&listing(&tokens));
    let primary = tokens
        .iter()
        .find(|t| t.path == "color.brand.primary")
        .expect("primary");
    assert_eq!(
        primary.description.as_deref(),
        Some("Primary actions, links, focus rings.")
    );
}

#[test]
fn both_dtcg_value_forms_resolve_to_the_same_tokens() {
    let strings = dtcg("tokens.json");
    let structured = dtcg("tokens.2025-10.json");
    assert_eq!(strings, structured);
}

/// The variant of a reference error, for a table of expected outcomes.
fn variant(error: &ReferenceError) -> &'static str {
    match error {
        ReferenceError::NotAZip(_) => "NotAZip",
        ReferenceError::TooManyEntries { .. } => "TooManyEntries",
        ReferenceError::UnsafeName { .. } => "UnsafeName",
        ReferenceError::Symlink { .. } => "Symlink",
        ReferenceError::Encrypted { .. } => "Encrypted",
        ReferenceError::DuplicateEntry { .. } => "DuplicateEntry",
        ReferenceError::FileTooLarge { .. } => "FileTooLarge",
        ReferenceError::TooLarge { .. } => "TooLarge",
        ReferenceError::Unreadable { .. } => "Unreadable",
        ReferenceError::NotUtf8 { .. } => "NotUtf8",
        ReferenceError::NoTokenFiles => "NoTokenFiles",
        ReferenceError::DuplicateScreen { .. } => "DuplicateScreen",
        ReferenceError::NotAnImage { .. } => "NotAnImage",
        ReferenceError::Tokens(_) => "Tokens",
    }
}

#[test]
fn rejects_every_hostile_fixture_zip_with_the_reason() {
    let cases = [
        ("zip-slip.zip", "UnsafeName"),
        ("absolute-path.zip", "UnsafeName"),
        ("windows-backslash.zip", "UnsafeName"),
        ("windows-drive.zip", "UnsafeName"),
        ("nul-in-name.zip", "UnsafeName"),
        ("control-chars.zip", "UnsafeName"),
        ("deep-nesting.zip", "UnsafeName"),
        ("symlink.zip", "Symlink"),
        ("symlink-dir-escape.zip", "Symlink"),
        ("duplicate-names.zip", "DuplicateEntry"),
        ("encrypted.zip", "Encrypted"),
        ("too-many-entries.zip", "TooManyEntries"),
        ("bomb-ratio.zip", "FileTooLarge"),
        ("not-a-zip.zip", "NotAZip"),
        ("truncated.zip", "NotAZip"),
        ("empty.zip", "NoTokenFiles"),
        // A site zip is a well-formed upload, but not a reference.
        ("html5-boilerplate.zip", "NoTokenFiles"),
    ];
    for (name, expected) in cases {
        let path = fixtures().join("zips").join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match read_reference_zip(&bytes) {
            Err(e) => assert_eq!(variant(&e), expected, "{name}: {e}"),
            Ok(bundle) => panic!("{name}: accepted with {} tokens", bundle.tokens.len()),
        }
    }
}

/// Counts, score and the first entries: enough to review, small enough to read.
fn summary(analysis: &DriftAnalysis, first: usize) -> String {
    let mut out = format!("score {}\n", analysis.report.score);
    // The wire summary per kind, checked against the entries it summarises.
    for (k, internal) in analysis.report.kinds.iter().zip(&analysis.summary.kinds) {
        assert_eq!(k.kind, internal.kind.as_str());
        let entries: Vec<_> = analysis
            .report
            .entries
            .iter()
            .filter(|e| e.kind == k.kind)
            .collect();
        assert_eq!(k.judged as usize, entries.len(), "{}", k.kind);
        assert_eq!(
            k.on_token as usize,
            entries.iter().filter(|e| e.on_token).count(),
            "{}",
            k.kind
        );
        let _ = writeln!(
            out,
            "{:<10} found {:>4}  judged {:>4}  on-token {:>4}  score {}{}",
            k.kind,
            k.declarations,
            k.judged,
            k.on_token,
            k.score.map_or("-".to_string(), |s| s.to_string()),
            if internal.judged {
                ""
            } else {
                "  (no tokens: not judged)"
            }
        );
    }
    assert_eq!(analysis.report.kinds.len(), 5);
    let unresolved = &analysis.summary.unresolved_custom_properties;
    let _ = writeln!(out, "unresolved var(): {}", unresolved.len());
    for e in analysis.report.entries.iter().take(first) {
        let _ = writeln!(
            out,
            "{}:{} {}: {} → {} {} {}",
            e.file,
            e.line,
            e.property,
            e.value,
            e.nearest_token.as_deref().unwrap_or("-"),
            e.distance,
            if e.on_token { "on" } else { "off" }
        );
    }
    out
}

fn check_drift(site_css: &str, snapshot: Expect) {
    let css = [SourceFile::new(
        site_css,
        read(&format!("sites/{site_css}")),
    )];
    let analysis = analyze_drift(&dtcg("tokens.json"), &css, &[]);
    snapshot.assert_eq(&summary(&analysis, 8));
    // The report is deterministic and independent of the DTCG form of the tokens.
    let again = analyze_drift(&dtcg("tokens.2025-10.json"), &css, &[]);
    assert_eq!(analysis.report, again.report);
}

#[test]
fn drift_of_simple_sidebar_against_dtcg_small() {
    check_drift(
        "simple-sidebar/css/styles.css",
        expect![[r#"
            score 0.3866
            color      found  387  judged  387  on-token   61  score 0.1576
            fontFamily found    5  judged    5  on-token    0  score 0
            fontSize   found   62  judged    0  on-token    0  score -  (no tokens: not judged)
            spacing    found  787  judged  787  on-token  591  score 0.751
            radius     found   75  judged   75  on-token   12  score 0.16
            unresolved var(): 2
            simple-sidebar/css/styles.css:96 font-family: var(--bs-body-font-family) → font.family.body 1 off
            simple-sidebar/css/styles.css:100 color: var(--bs-body-color) → color.text.default 9.932 off
            simple-sidebar/css/styles.css:102 background-color: var(--bs-body-bg) → color.surface.background 0 on
            simple-sidebar/css/styles.css:108 margin: 1rem → space.4 0 on
            simple-sidebar/css/styles.css:117 margin-bottom: 0.5rem → space.2 0 on
            simple-sidebar/css/styles.css:168 margin-bottom: 1rem → space.4 0 on
            simple-sidebar/css/styles.css:180 margin-bottom: 1rem → space.4 0 on
            simple-sidebar/css/styles.css:187 padding-left: 2rem → space.8 0 on
        "#]],
    );
}

#[test]
fn drift_of_html5_boilerplate_against_dtcg_small() {
    check_drift(
        "html5-boilerplate/css/style.css",
        expect![[r#"
            score 0.1739
            color      found    7  judged    7  on-token    1  score 0.1429
            fontFamily found    0  judged    0  on-token    0  score -
            fontSize   found    1  judged    0  on-token    0  score -  (no tokens: not judged)
            spacing    found    2  judged    2  on-token    1  score 0.5
            radius     found    0  judged    0  on-token    0  score -
            unresolved var(): 0
            html5-boilerplate/css/style.css:15 color: #222 → color.text.default 11.649 off
            html5-boilerplate/css/style.css:28 background: #b3d4fc → color.surface.subtle 16.75 off
            html5-boilerplate/css/style.css:33 background: #b3d4fc → color.surface.subtle 16.75 off
            html5-boilerplate/css/style.css:45 border-top: #ccc → color.surface.subtle 10.17 off
            html5-boilerplate/css/style.css:46 margin: 1em → space.4 0 on
            html5-boilerplate/css/style.css:113 margin: -1px → space.1 3 off
            html5-boilerplate/css/style.css:191 background: #fff → color.surface.background 0 on
            html5-boilerplate/css/style.css:192 color: #000 → color.text.default 12.123 off
        "#]],
    );
}

#[test]
fn drift_of_the_whole_boilerplate_site_includes_its_pages_style_blocks() {
    let site = load_site_sources(&fixtures().join("sites/html5-boilerplate")).expect("site reads");
    let analysis = analyze_drift(&dtcg("tokens.json"), &site.css, &site.html);
    let pages: Vec<&str> = analysis
        .report
        .entries
        .iter()
        .map(|e| e.file.as_str())
        .filter(|f| f.ends_with(".html"))
        .collect();
    assert!(pages.contains(&"404.html"), "{pages:?}");
    expect![[r#"
        score 0.1515
        color      found    9  judged    9  on-token    1  score 0.1111
        fontFamily found    1  judged    1  on-token    0  score 0
        fontSize   found    3  judged    0  on-token    0  score -  (no tokens: not judged)
        spacing    found    4  judged    4  on-token    2  score 0.5
        radius     found    0  judged    0  on-token    0  score -
        unresolved var(): 0
    "#]]
    .assert_eq(&summary(&analysis, 0));
}

#[test]
fn drift_of_simple_sidebar_against_the_legacy_tokens_judges_colours_and_font_sizes() {
    let tokens = load_token_dir(&fixtures().join("tokens/legacy-basic")).expect("legacy set loads");
    let css = [SourceFile::new(
        "css/styles.css",
        read("sites/simple-sidebar/css/styles.css"),
    )];
    expect![[r#"
        score 0.0249
        color      found  387  judged  387  on-token    0  score 0
        fontFamily found    5  judged    0  on-token    0  score -  (no tokens: not judged)
        fontSize   found   62  judged   62  on-token   16  score 0.2581
        spacing    found  787  judged    0  on-token    0  score -  (no tokens: not judged)
        radius     found   75  judged    0  on-token    0  score -  (no tokens: not judged)
        unresolved var(): 2
    "#]]
    .assert_eq(&summary(&analyze_drift(&tokens, &css, &[]), 0));
}

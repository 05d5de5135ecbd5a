//! The instruction table: common design instructions, half of them in Japanese, on the three
//! fixture sites, each with the files it must edit and the CSS declarations that must change.
//! Every proposal is applied with devflow-patch (the engine the daemon uses), and its reason
//! must be in the instruction's language.

mod common;

use devflow_reference::SourceFile;

/// What must hold of one declaration after the proposal is applied.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// `file`, `selector`, `property`: the value `from` (or none: added) becomes `to`.
    Set(
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
    ),
    /// The declaration's first length grew.
    Grew(&'static str, &'static str, &'static str),
    /// The declaration's first length shrank.
    Shrank(&'static str, &'static str, &'static str),
    /// Every value of the declaration afterwards, in source order.
    Values(
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    ),
}

use Check::{Grew, Set, Shrank, Values};

struct Case {
    site: &'static str,
    tokens: &'static str,
    instruction: &'static str,
    target: Option<&'static str>,
    files: &'static [&'static str],
    checks: &'static [Check],
}

const SIDEBAR: &str = "simple-sidebar";
const VITE: &str = "vite-vanilla";
const H5BP: &str = "html5-boilerplate";
const SS_CSS: &str = "css/styles.css";
const VITE_CSS: &str = "src/style.css";
const H5_CSS: &str = "css/style.css";
const H5_404: &str = "404.html";
const HEADINGS: &str = "h6, .h6, h5, .h5, h4, .h4, h3, .h3, h2, .h2, h1, .h1";
const CONTAINERS: &str = ".container, .container-fluid, .container-xxl, .container-xl, .container-lg, .container-md, .container-sm";

const fn case(
    site: &'static str,
    tokens: &'static str,
    instruction: &'static str,
    files: &'static [&'static str],
    checks: &'static [Check],
) -> Case {
    Case {
        site,
        tokens,
        instruction,
        target: None,
        files,
        checks,
    }
}

const fn targeted(
    site: &'static str,
    tokens: &'static str,
    instruction: &'static str,
    target: &'static str,
    files: &'static [&'static str],
    checks: &'static [Check],
) -> Case {
    Case {
        site,
        tokens,
        instruction,
        target: Some(target),
        files,
        checks,
    }
}

const BRAND_BUTTONS: &[Check] = &[
    Set(
        SS_CSS,
        ".btn-primary",
        "--bs-btn-bg",
        Some("#0d6efd"),
        "#4f46e5",
    ),
    Set(
        SS_CSS,
        ".btn-primary",
        "--bs-btn-border-color",
        Some("#0d6efd"),
        "#4f46e5",
    ),
    Set(
        SS_CSS,
        ".btn-primary",
        "--bs-btn-hover-bg",
        Some("#0b5ed7"),
        "#3730a3",
    ),
];
const RED_HEADINGS: &[Check] = &[Set(SS_CSS, HEADINGS, "color", None, "#ff0000")];
const BIGGER_HEADINGS: &[Check] = &[
    Grew(SS_CSS, "h1, .h1", "font-size"),
    Set(SS_CSS, "h1, .h1", "font-size", Some("2.5rem"), "3.125rem"),
    Grew(SS_CSS, "h6, .h6", "font-size"),
];
const DARK_PAGE: &[Check] = &[
    Set(SS_CSS, ":root", "--bs-body-bg", Some("#fff"), "#0f172a"),
    Set(
        SS_CSS,
        ":root",
        "--bs-body-color",
        Some("#212529"),
        "#ffffff",
    ),
];
const SMALLER_TEXT: &[Check] = &[Shrank(SS_CSS, ":root", "--bs-body-font-size")];
const MORE_SPACE: &[Check] = &[Set(
    SS_CSS,
    CONTAINERS,
    "--bs-gutter-x",
    Some("1.5rem"),
    "2rem",
)];
const LESS_SPACE: &[Check] = &[Set(
    SS_CSS,
    CONTAINERS,
    "--bs-gutter-x",
    Some("1.5rem"),
    "1rem",
)];
const ROUND_BUTTONS: &[Check] = &[Set(
    SS_CSS,
    ".btn",
    "--bs-btn-border-radius",
    Some("0.375rem"),
    "0.5rem",
)];
const SQUARE_BUTTONS: &[Check] = &[Set(
    SS_CSS,
    ".btn",
    "--bs-btn-border-radius",
    Some("0.375rem"),
    "0",
)];
const BRAND_FONT: &[Check] = &[
    Set(
        SS_CSS,
        ":root",
        "--bs-font-sans-serif",
        None,
        "Inter, \"Helvetica Neue\", Arial, sans-serif",
    ),
    Set(SS_CSS, HEADINGS, "font-family", None, "Merriweather"),
];
const SNAPPED: &[Check] = &[
    Set(SS_CSS, ":root", "--bs-blue", Some("#0d6efd"), "#4f46e5"),
    Set(
        SS_CSS,
        ":root",
        "--bs-body-color",
        Some("#212529"),
        "#0f172a",
    ),
    Set(
        SS_CSS,
        ".btn-primary",
        "--bs-btn-bg",
        Some("#0d6efd"),
        "#4f46e5",
    ),
    Set(
        SS_CSS,
        "#sidebar-wrapper .sidebar-heading",
        "padding",
        Some("0.875rem 1.25rem"),
        "1rem 1.5rem",
    ),
];
const ACCENT_LINKS: &[Check] = &[Set(
    SS_CSS,
    ":root",
    "--bs-link-color",
    Some("#0d6efd"),
    "#fbbf24",
)];
const PADDED_BUTTONS: &[Check] = &[
    Set(
        SS_CSS,
        ".btn",
        "--bs-btn-padding-y",
        Some("0.375rem"),
        "0.5rem",
    ),
    Set(
        SS_CSS,
        ".btn",
        "--bs-btn-padding-x",
        Some("0.75rem"),
        "1rem",
    ),
];
const BOLD_HEADINGS: &[Check] = &[Set(SS_CSS, HEADINGS, "font-weight", Some("500"), "700")];

const VITE_BRAND_BUTTONS: &[Check] = &[
    Set(
        VITE_CSS,
        ".counter",
        "background",
        Some("var(--accent-bg)"),
        "#4f46e5",
    ),
    Set(
        VITE_CSS,
        ".counter",
        "color",
        Some("var(--accent)"),
        "#ffffff",
    ),
];
const VITE_BIGGER_HEADINGS: &[Check] = &[
    Set(VITE_CSS, "h1", "font-size", Some("56px"), "70px"),
    Set(VITE_CSS, "h1", "font-size", Some("36px"), "45px"),
    Grew(VITE_CSS, "h2", "font-size"),
];
const VITE_ROUND: &[Check] = &[Set(
    VITE_CSS,
    ".counter",
    "border-radius",
    Some("5px"),
    "8px",
)];
const VITE_FONT: &[Check] = &[
    Set(
        VITE_CSS,
        ":root",
        "--sans",
        None,
        "Inter, \"Helvetica Neue\", Arial, sans-serif",
    ),
    Set(VITE_CSS, ":root", "--heading", None, "Merriweather"),
];
const VITE_DARK: &[Check] = &[
    Set(VITE_CSS, ":root", "--bg", Some("#fff"), "#0f172a"),
    Set(VITE_CSS, ":root", "--text", Some("#6b6375"), "#ffffff"),
];
const VITE_SMALLER_TEXT: &[Check] = &[
    Set(
        VITE_CSS,
        ":root",
        "font",
        Some("18px/145% var(--sans)"),
        "14px/145% var(--sans)",
    ),
    Set(VITE_CSS, ":root", "font-size", Some("16px"), "13px"),
];
const VITE_MORE_PADDING: &[Check] = &[Set(
    VITE_CSS,
    "#center",
    "padding",
    Some("32px 20px 24px"),
    "48px 24px 32px",
)];
const VITE_RED_HEADINGS: &[Check] = &[Set(
    VITE_CSS,
    "h1, h2",
    "color",
    Some("var(--text-h)"),
    "#ff0000",
)];

const H5_RED_HEADINGS: &[Check] = &[Set(H5_404, "h1", "color", Some("#555"), "#ff0000")];
const H5_BIGGER_HEADINGS: &[Check] = &[
    Set(H5_404, "h1", "font-size", Some("2em"), "2.5em"),
    Set(H5_404, "h1", "font-size", Some("1.5em"), "1.875em"),
];
// 1.5em (24px) steps up to the legacy scale's 2rem (in the rule's own unit); 2em is the top
// of the scale, so it grows in proportion.
const H5_LEGACY_BIGGER_HEADINGS: &[Check] = &[Values(H5_404, "h1", "font-size", &["2.5em", "2em"])];
const H5_RED_BUTTONS: &[Check] = &[Set(H5_CSS, "button", "background-color", None, "red")];
const H5_DARK_LEGACY: &[Check] = &[
    Set(H5_CSS, "html", "background-color", None, "#111111"),
    // The most readable neutral of the reference's text colours.
    Set(H5_CSS, "html", "color", Some("#222"), "#cccccc"),
    Set(H5_404, "html", "background-color", None, "#111111"),
];
const H5_DARK_PLAIN: &[Check] = &[
    Set(H5_CSS, "html", "background-color", None, "#111827"),
    Set(H5_CSS, "html", "color", Some("#222"), "#ffffff"),
];
const H5_SNAP_LEGACY: &[Check] = &[
    Set(H5_CSS, "html", "color", Some("#222"), "#111111"),
    Set(H5_404, "h1", "color", Some("#555"), "#111111"),
    // 2em is on the legacy 2rem token already; 1.5em (24px) snaps to it.
    Values(H5_404, "h1", "font-size", &["2em", "2em"]),
];
const H5_BIGGER_P: &[Check] = &[
    Set(H5_404, "p", "font-size", None, "1.25rem"),
    Set(H5_CSS, "body > p", "font-size", None, "1.25rem"),
];

const CASES: &[Case] = &[
    // simple-sidebar (Bootstrap 5) with the dtcg-small tokens.
    case(
        SIDEBAR,
        "dtcg-small",
        "make the buttons the brand primary",
        &[SS_CSS],
        BRAND_BUTTONS,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "ボタンをブランドカラーに",
        &[SS_CSS],
        BRAND_BUTTONS,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "headings in #ff0000",
        &[SS_CSS],
        RED_HEADINGS,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "見出しを＃ＦＦ００００に",
        &[SS_CSS],
        RED_HEADINGS,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "bigger headings",
        &[SS_CSS],
        BIGGER_HEADINGS,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "見出しをもっと大きく",
        &[SS_CSS],
        BIGGER_HEADINGS,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "dark background",
        &[SS_CSS],
        DARK_PAGE,
    ),
    case(SIDEBAR, "dtcg-small", "背景を暗く", &[SS_CSS], DARK_PAGE),
    case(
        SIDEBAR,
        "dtcg-small",
        "smaller text",
        &[SS_CSS],
        SMALLER_TEXT,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "文字を小さく",
        &[SS_CSS],
        SMALLER_TEXT,
    ),
    case(SIDEBAR, "dtcg-small", "more padding", &[SS_CSS], MORE_SPACE),
    case(SIDEBAR, "dtcg-small", "余白を広く", &[SS_CSS], MORE_SPACE),
    case(
        SIDEBAR,
        "dtcg-small",
        "tighter spacing",
        &[SS_CSS],
        LESS_SPACE,
    ),
    case(SIDEBAR, "dtcg-small", "余白を詰めて", &[SS_CSS], LESS_SPACE),
    case(
        SIDEBAR,
        "dtcg-small",
        "round the corners",
        &[SS_CSS],
        ROUND_BUTTONS,
    ),
    case(SIDEBAR, "dtcg-small", "角を丸く", &[SS_CSS], ROUND_BUTTONS),
    case(
        SIDEBAR,
        "dtcg-small",
        "square corners on the buttons",
        &[SS_CSS],
        SQUARE_BUTTONS,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "ボタンの角を四角に",
        &[SS_CSS],
        SQUARE_BUTTONS,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "use the brand font",
        &[SS_CSS],
        BRAND_FONT,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "フォントをブランドフォントに",
        &[SS_CSS],
        BRAND_FONT,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "use the design tokens",
        &[SS_CSS],
        SNAPPED,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "トークンに合わせて",
        &[SS_CSS],
        SNAPPED,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "make the links the brand accent",
        &[SS_CSS],
        ACCENT_LINKS,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "リンクの色をアクセントカラーに",
        &[SS_CSS],
        ACCENT_LINKS,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "more padding on the buttons",
        &[SS_CSS],
        PADDED_BUTTONS,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "ボタンの余白を広く",
        &[SS_CSS],
        PADDED_BUTTONS,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "bold headings",
        &[SS_CSS],
        BOLD_HEADINGS,
    ),
    case(
        SIDEBAR,
        "dtcg-small",
        "見出しを太字に",
        &[SS_CSS],
        BOLD_HEADINGS,
    ),
    targeted(
        SIDEBAR,
        "dtcg-small",
        "make this bigger",
        "#sidebarToggle",
        &[SS_CSS],
        &[Set(SS_CSS, "#sidebarToggle", "font-size", None, "1.25rem")],
    ),
    targeted(
        SIDEBAR,
        "dtcg-small",
        "これを赤に",
        "div.container-fluid > h1",
        &[SS_CSS],
        &[Set(SS_CSS, "h1, .h1", "color", None, "red")],
    ),
    // vite-vanilla (nested CSS, markup in a script) with the dtcg-small tokens.
    case(
        VITE,
        "dtcg-small",
        "make the buttons the brand primary",
        &[VITE_CSS],
        VITE_BRAND_BUTTONS,
    ),
    case(
        VITE,
        "dtcg-small",
        "ボタンをブランドカラーに",
        &[VITE_CSS],
        VITE_BRAND_BUTTONS,
    ),
    case(
        VITE,
        "dtcg-small",
        "bigger headings",
        &[VITE_CSS],
        VITE_BIGGER_HEADINGS,
    ),
    case(
        VITE,
        "dtcg-small",
        "見出しを大きく",
        &[VITE_CSS],
        VITE_BIGGER_HEADINGS,
    ),
    case(
        VITE,
        "dtcg-small",
        "round the corners",
        &[VITE_CSS],
        VITE_ROUND,
    ),
    case(VITE, "dtcg-small", "角を丸くして", &[VITE_CSS], VITE_ROUND),
    case(
        VITE,
        "dtcg-small",
        "use the brand font",
        &[VITE_CSS],
        VITE_FONT,
    ),
    case(
        VITE,
        "dtcg-small",
        "ブランドのフォントを使って",
        &[VITE_CSS],
        VITE_FONT,
    ),
    case(
        VITE,
        "dtcg-small",
        "dark background",
        &[VITE_CSS],
        VITE_DARK,
    ),
    case(VITE, "dtcg-small", "背景をダークに", &[VITE_CSS], VITE_DARK),
    case(
        VITE,
        "dtcg-small",
        "smaller text",
        &[VITE_CSS],
        VITE_SMALLER_TEXT,
    ),
    case(
        VITE,
        "dtcg-small",
        "本文の文字を小さく",
        &[VITE_CSS],
        VITE_SMALLER_TEXT,
    ),
    case(
        VITE,
        "dtcg-small",
        "more padding",
        &[VITE_CSS],
        VITE_MORE_PADDING,
    ),
    case(
        VITE,
        "",
        "見出しの色を#ff0000に",
        &[VITE_CSS],
        VITE_RED_HEADINGS,
    ),
    targeted(
        VITE,
        "dtcg-small",
        "これの角を丸く",
        "#counter",
        &[VITE_CSS],
        &[Set(VITE_CSS, "#counter", "border-radius", None, "8px")],
    ),
    // html5-boilerplate (a page with its own <style>) with legacy tokens or none.
    case(H5BP, "", "headings in #ff0000", &[H5_404], H5_RED_HEADINGS),
    case(H5BP, "", "見出しを#ff0000に", &[H5_404], H5_RED_HEADINGS),
    case(
        H5BP,
        "dtcg-small",
        "bigger headings",
        &[H5_404],
        H5_BIGGER_HEADINGS,
    ),
    case(
        H5BP,
        "legacy-basic",
        "見出しをもっと大きく",
        &[H5_404],
        H5_LEGACY_BIGGER_HEADINGS,
    ),
    case(H5BP, "", "make the buttons red", &[H5_CSS], H5_RED_BUTTONS),
    case(H5BP, "", "ボタンを赤に", &[H5_CSS], H5_RED_BUTTONS),
    case(
        H5BP,
        "legacy-basic",
        "dark background",
        &[H5_404, H5_CSS],
        H5_DARK_LEGACY,
    ),
    case(H5BP, "", "背景を暗く", &[H5_404, H5_CSS], H5_DARK_PLAIN),
    case(
        H5BP,
        "legacy-basic",
        "use the design tokens",
        &[H5_404, H5_CSS],
        H5_SNAP_LEGACY,
    ),
    case(
        H5BP,
        "legacy-basic",
        "デザイントークンに合わせて",
        &[H5_404, H5_CSS],
        H5_SNAP_LEGACY,
    ),
    targeted(
        H5BP,
        "",
        "make this text bigger",
        "body > p",
        &[H5_404, H5_CSS],
        H5_BIGGER_P,
    ),
    targeted(
        H5BP,
        "",
        "この文字を大きく",
        "body > p",
        &[H5_404, H5_CSS],
        H5_BIGGER_P,
    ),
];

fn is_japanese(text: &str) -> bool {
    text.chars()
        .any(|c| matches!(c, '\u{3040}'..='\u{30FF}' | '\u{4E00}'..='\u{9FFF}'))
}

/// Every problem with one case, or none.
fn check_case(case: &Case) -> Vec<String> {
    let name = format!(
        "{} [{}] \u{201c}{}\u{201d}",
        case.site, case.tokens, case.instruction
    );
    let files = common::site(case.site);
    let proposal = match common::run(case.site, case.tokens, case.instruction, case.target) {
        Ok(p) => p,
        Err(e) => return vec![format!("{name}: not understood:\n{e}")],
    };
    let mut problems = Vec::new();
    let mut edited = proposal.files_to_edit.clone();
    edited.sort();
    let mut wanted: Vec<String> = case.files.iter().map(|f| f.to_string()).collect();
    wanted.sort();
    if edited != wanted {
        problems.push(format!("{name}: edits {edited:?}, expected {wanted:?}"));
    }
    if !(0.0..=1.0).contains(&proposal.confidence) {
        problems.push(format!("{name}: confidence {}", proposal.confidence));
    }
    if proposal.validate().is_err() {
        problems.push(format!("{name}: proposal does not validate"));
    }
    if is_japanese(case.instruction) != is_japanese(&proposal.reason) {
        problems.push(format!(
            "{name}: reason in the wrong language: {}",
            proposal.reason
        ));
    }
    let after = match common::apply(&files, &proposal) {
        Ok(changed) => files
            .iter()
            .map(|f| match changed.iter().find(|(p, _)| *p == f.path) {
                Some((_, text)) => SourceFile::new(f.path.clone(), text.clone()),
                None => f.clone(),
            })
            .collect::<Vec<_>>(),
        Err(e) => {
            problems.push(format!("{name}: devflow-patch refuses the diff: {e}"));
            return problems;
        }
    };
    for check in case.checks {
        match *check {
            Set(file, selector, property, from, to) => {
                let old = common::values_of(&files, file, selector, property);
                let new = common::values_of(&after, file, selector, property);
                let count = |list: &[String], v: &str| list.iter().filter(|x| *x == v).count();
                let ok = match from {
                    Some(from) => {
                        count(&old, from) > 0
                            && count(&new, from) < count(&old, from)
                            && count(&new, to) > count(&old, to)
                    }
                    None => count(&new, to) > count(&old, to),
                };
                if !ok {
                    problems.push(format!(
                        "{name}: {file} `{selector}` {property}: expected {from:?} → {to:?}, before {old:?}, after {new:?}"
                    ));
                }
            }
            Values(file, selector, property, wanted) => {
                let new = common::values_of(&after, file, selector, property);
                if new != wanted {
                    problems.push(format!(
                        "{name}: {file} `{selector}` {property}: {new:?}, expected {wanted:?}"
                    ));
                }
            }
            Grew(file, selector, property) | Shrank(file, selector, property) => {
                let grow = matches!(check, Grew(..));
                let old = common::values_of(&files, file, selector, property);
                let new = common::values_of(&after, file, selector, property);
                let px = |list: &[String]| list.first().and_then(|v| common::first_px(v));
                let ok = match (px(&old), px(&new)) {
                    (Some(a), Some(b)) => {
                        if grow {
                            b > a
                        } else {
                            b < a
                        }
                    }
                    _ => false,
                };
                if !ok {
                    problems.push(format!(
                        "{name}: {file} `{selector}` {property} should have {}: before {old:?}, after {new:?}",
                        if grow { "grown" } else { "shrunk" }
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn the_instruction_table_has_forty_cases_half_of_them_japanese() {
    assert!(CASES.len() >= 40, "{} cases", CASES.len());
    let japanese = CASES.iter().filter(|c| is_japanese(c.instruction)).count();
    assert!(
        japanese * 2 >= CASES.len(),
        "{japanese} of {} in Japanese",
        CASES.len()
    );
}

#[test]
fn every_instruction_in_the_table_edits_the_expected_declarations_and_applies_with_devflow_patch() {
    let problems: Vec<String> = CASES.iter().flat_map(check_case).collect();
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// `git apply --check` of every proposal in the table against a copy of its site, when git
/// is installed (the diff must be one any tool applies, not only devflow-patch).
#[test]
fn every_diff_in_the_table_passes_git_apply_check() {
    let git = std::process::Command::new("git").arg("--version").output();
    if !git.is_ok_and(|o| o.status.success()) {
        eprintln!("git is not installed; skipping");
        return;
    }
    let mut problems = Vec::new();
    for case in CASES {
        let Ok(proposal) = common::run(case.site, case.tokens, case.instruction, case.target)
        else {
            continue;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        for file in common::site(case.site) {
            let path = dir.path().join(&file.path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &file.text).expect("write");
        }
        let patch = dir.path().join("change.diff");
        std::fs::write(&patch, &proposal.unified_diff).expect("write diff");
        let out = std::process::Command::new("git")
            .args(["apply", "--check", "change.diff"])
            .current_dir(dir.path())
            .output()
            .expect("git runs");
        if !out.status.success() {
            problems.push(format!(
                "\u{201c}{}\u{201d} on {}: {}",
                case.instruction,
                case.site,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

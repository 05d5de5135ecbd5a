//! Resolution on the shared fixture sites (`../shared/fixtures/sites`), whose lines are
//! checked against the files themselves.

use std::path::{Path, PathBuf};

use devflow_protocol::Target;
use devflow_reference::SourceFile;

use super::{resolve, TargetError};

fn site(name: &str) -> Vec<SourceFile> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/sites")
        .join(name);
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<SourceFile>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            let relative = path.strip_prefix(root).expect("under root");
            out.push(SourceFile {
                path: relative.to_string_lossy().replace('\\', "/"),
                text,
            });
        }
    }
}

fn target(selector: &str) -> Target {
    Target {
        selector: selector.into(),
        ..Target::default()
    }
}

/// The text of `line` (1-based) in `file`.
fn line<'a>(files: &'a [SourceFile], file: &str, line: u32) -> &'a str {
    let text = &files.iter().find(|f| f.path == file).expect("file").text;
    text.lines().nth(line as usize - 1).expect("line")
}

fn places(target: &Target) -> Vec<(String, u32)> {
    target
        .rules
        .iter()
        .map(|r| (r.file.clone(), r.line))
        .collect()
}

#[test]
fn a_heading_resolves_to_its_rules_in_cascade_order() {
    let files = site("simple-sidebar");
    let resolved = resolve(&files, &target("#page-content-wrapper h1")).expect("resolved");
    assert_eq!(resolved.page_file.as_deref(), Some("index.html"));
    assert_eq!(
        line(&files, "index.html", resolved.page_line.expect("line")).trim(),
        "<h1 class=\"mt-4\">Simple Sidebar</h1>"
    );
    assert_eq!((resolved.matches, resolved.index), (1, 1));
    let places = places(&resolved);
    // The heading rules (the shared one, then h1's own, then its @media size) and the margin
    // utility its class brings.
    for expected in [115, 122, 126, 7609] {
        assert!(
            places.contains(&("css/styles.css".into(), expected)),
            "{expected} in {places:?}"
        );
    }
    for rule in &resolved.rules {
        let text = line(&files, &rule.file, rule.line);
        let first = rule.selector.split(',').next().expect("selector").trim();
        assert!(
            text.contains(first),
            "line {} is `{text}`, not `{}`",
            rule.line,
            rule.selector
        );
    }
    let at = |l: u32| places.iter().position(|p| p.1 == l).expect("listed");
    assert!(
        at(115) < at(122) && at(122) < at(7609),
        "(0,0,1) before (0,1,0)"
    );
    // Bootstrap's h1 rule also styles `.h1` elements, of which the page has none; the shared
    // heading rule styles only this h1 too.
    let h1 = resolved
        .rules
        .iter()
        .find(|r| r.line == 122)
        .expect("h1 rule");
    assert_eq!(h1.shared_with, 0);
    let body = resolved.rules.iter().any(|r| r.line == 94);
    assert!(!body, "body's rule styles body, not the heading");
}

#[test]
fn a_button_and_a_nav_link_resolve_to_their_rules() {
    let files = site("simple-sidebar");
    let button = resolve(&files, &target("#sidebarToggle")).expect("button");
    let places = places(&button);
    assert!(
        places.contains(&("css/styles.css".into(), 2768)),
        "{places:?}"
    ); // .btn
    assert!(
        places.contains(&("css/styles.css".into(), 2846)),
        "{places:?}"
    ); // .btn-primary
    assert!(
        places.contains(&("css/styles.css".into(), 2808)),
        "{places:?}"
    ); // .btn:hover
    assert!(button
        .rules
        .iter()
        .all(|r| !r.selector.contains("btn-secondary")));

    let link = resolve(
        &files,
        &target("#navbarSupportedContent > ul > li:nth-of-type(2) > a"),
    )
    .expect("nav link");
    assert_eq!(
        line(&files, "index.html", link.page_line.expect("line")).trim(),
        "<li class=\"nav-item\"><a class=\"nav-link\" href=\"#!\">Link</a></li>"
    );
    let nav = link
        .rules
        .iter()
        .find(|r| r.line == 3621)
        .expect(".nav-link rule");
    assert_eq!(nav.selector, ".nav-link");
    assert_eq!(nav.shared_with, 2, "the two other nav links share it");
    // A repeated element is told apart: the second of the page's three `a.nav-link`s.
    assert_eq!((link.index, link.matches), (2, 3));
}

#[test]
fn a_selector_naming_several_elements_resolves_the_one_asked_for() {
    let files = site("simple-sidebar");
    let mut asked = target(".list-group-item");
    asked.index = 4;
    let resolved = resolve(&files, &asked).expect("resolved");
    assert_eq!((resolved.index, resolved.matches), (4, 6));
    let tag_line = line(&files, "index.html", resolved.page_line.expect("line"));
    assert!(tag_line.contains(">Events</a>"), "{tag_line}");
    // Out of range: the first.
    asked.index = 40;
    assert_eq!(resolve(&files, &asked).expect("resolved").index, 1);
}

#[test]
fn a_paragraph_on_a_named_page_and_style_blocks() {
    let files = site("html5-boilerplate");
    let mut on_404 = target("body > p");
    on_404.page_url = Some("http://127.0.0.1:5500/404.html".into());
    let resolved = resolve(&files, &on_404).expect("resolved");
    assert_eq!(resolved.page_file.as_deref(), Some("404.html"));
    assert!(!resolved.rules.is_empty());
    // 404.html styles itself in a <style> block: its rules are the page's own lines.
    for rule in resolved.rules.iter().filter(|r| r.file == "404.html") {
        let text = line(&files, "404.html", rule.line);
        assert!(
            text.contains(rule.selector.split(',').next().expect("one").trim()),
            "{text}"
        );
    }
    assert!(
        resolved.rules.iter().any(|r| r.file == "404.html"),
        "{:?}",
        resolved.rules
    );
}

#[test]
fn nothing_matched_is_a_clear_error() {
    let files = site("simple-sidebar");
    assert_eq!(
        resolve(&files, &target("h2.missing")),
        Err(TargetError::MatchesNothing {
            selector: "h2.missing".into(),
            page: "index.html".into()
        })
    );
    assert_eq!(
        resolve(&files, &target("h2.missing"))
            .expect_err("none")
            .to_string(),
        "the selector matches nothing on index.html"
    );
    assert!(matches!(
        resolve(&files, &target("h1[")),
        Err(TargetError::InvalidSelector { .. })
    ));
    let mut elsewhere = target("h1");
    elsewhere.page_url = Some("/nope.html".into());
    assert!(matches!(
        resolve(&files, &elsewhere),
        Err(TargetError::PageNotFound { .. })
    ));
}

#[test]
fn a_vite_app_is_resolved_by_names_as_best_effort() {
    let files = site("vite-vanilla");
    let resolved = resolve(&files, &target("#app > div > h1")).expect("resolved");
    assert!(resolved.best_effort);
    let css = |starts| {
        (
            "src/style.css".to_string(),
            line_of(&files, "src/style.css", starts),
        )
    };
    assert_eq!(places(&resolved), [css("h1,"), css("h1 {")]);
    assert!(resolve(&files, &target("#app > .nothing-like-this")).is_err());
}

fn line_of(files: &[SourceFile], file: &str, starts: &str) -> u32 {
    let text = &files.iter().find(|f| f.path == file).expect("file").text;
    text.lines()
        .position(|l| l.starts_with(starts))
        .expect("present") as u32
        + 1
}

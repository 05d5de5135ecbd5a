//! devflow-targets: resolves a [`Target`] (a CSS selector a person picked in the preview, and
//! the page it was picked on) against the site's files without a browser. The page's HTML is
//! parsed with html5ever and the selector matched with Servo's selector engine (both through
//! `scraper`); then every stylesheet the page links (and its `@import`s and `<style>` blocks)
//! is read with cssparser and each rule whose selector matches the element is listed with its
//! file and 1-based line, in cascade order. A Vite React/Vue app has no static markup for the
//! element: its rules are then found by the class, id or tag names the selector names in the
//! project's CSS files, and the target says it is best effort.
//!
//! Pure: reads only the files it is handed.

mod css;
mod page;
mod selector;

use std::collections::HashSet;

use devflow_protocol::{Target, TargetRule};
use devflow_reference::SourceFile;
use scraper::{ElementRef, Html, Selector};

/// Why a target could not be resolved; the message is written for the person who picked it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("target.selector `{selector}` is not a CSS selector this daemon can read ({reason})")]
    InvalidSelector { selector: String, reason: String },
    #[error("the page {page} is not in the workspace")]
    PageNotFound { page: String },
    #[error("the selector matches nothing on {page}")]
    MatchesNothing { selector: String, page: String },
}

/// Resolves `target` against the site's `files` (workspace-relative paths with `/`). The
/// answer keeps the request's `selector` and `pageUrl` and fills everything else.
pub fn resolve(files: &[SourceFile], target: &Target) -> Result<Target, TargetError> {
    let selector_text = target.selector.trim();
    let parsed = Selector::parse(selector_text).map_err(|e| TargetError::InvalidSelector {
        selector: selector_text.to_string(),
        reason: e.to_string(),
    })?;
    let wanted = page::wanted_path(target.page_url.as_deref());
    let Some(page_file) = page::find(files, &wanted) else {
        // No page at all: an app whose markup only its scripts make.
        if !files.iter().any(|f| page::is_html(&f.path)) {
            return best_effort(files, target, &wanted);
        }
        return Err(TargetError::PageNotFound { page: wanted });
    };
    let document = Html::parse_document(&page_file.text);
    let found: Vec<ElementRef<'_>> = document.select(&parsed).collect();
    if found.is_empty() {
        if page::is_app_shell(&page_file.text) {
            return best_effort(files, target, &page_file.path);
        }
        return Err(TargetError::MatchesNothing {
            selector: selector_text.to_string(),
            page: page_file.path.clone(),
        });
    }
    let chosen_at = usize::try_from(target.index)
        .ok()
        .filter(|&i| (1..=found.len()).contains(&i))
        .unwrap_or(1)
        - 1;
    let element = found[chosen_at];
    // "element 3 of 8": among the selector's matches when it names several, else among the
    // page's elements that look the same (same tag and classes), as the pick mode counts.
    let (matches, index) = if found.len() > 1 {
        (found.len(), chosen_at + 1)
    } else {
        let alike = Selector::parse(&selector::simple_of(&element))
            .map(|s| document.select(&s).map(|e| e.id()).collect::<Vec<_>>())
            .unwrap_or_default();
        let index = alike.iter().position(|&id| id == element.id()).unwrap_or(0);
        (alike.len().max(1), index + 1)
    };

    let mut rules = Vec::new();
    let mut order = 0usize;
    let mut visited = HashSet::new();
    for sheet in page::stylesheets(files, page_file, &document) {
        collect_sheet(files, &sheet, &mut visited, &mut |file, rule| {
            order += 1;
            let complexes = css::split_list(&rule.selector);
            let mut best: Option<(u32, u32, u32)> = None;
            let mut matchers = Vec::new();
            for complex in &complexes {
                let Ok(matcher) = Selector::parse(&selector::at_rest(complex)) else {
                    continue; // a selector the engine cannot read styles nothing here
                };
                if matcher.matches(&element) {
                    let s = selector::specificity(complex);
                    best = Some(best.map_or(s, |b| b.max(s)));
                }
                matchers.push(matcher);
            }
            if let Some(specificity) = best {
                let shared = document
                    .root_element()
                    .descendants()
                    .filter_map(ElementRef::wrap)
                    .filter(|e| e.id() != element.id())
                    .filter(|e| matchers.iter().any(|m| m.matches(e)))
                    .count();
                rules.push((
                    specificity,
                    order,
                    TargetRule {
                        file: file.to_string(),
                        line: rule.line,
                        selector: rule.selector.clone(),
                        shared_with: u32::try_from(shared).unwrap_or(u32::MAX),
                    },
                ));
            }
        });
    }
    rules.sort_by_key(|(specificity, order, _)| (*specificity, *order));

    Ok(Target {
        selector: target.selector.clone(),
        page_url: target.page_url.clone(),
        rules: rules.into_iter().map(|(_, _, rule)| rule).collect(),
        matches: u32::try_from(matches).unwrap_or(u32::MAX),
        index: u32::try_from(index).unwrap_or(u32::MAX),
        page_file: Some(page_file.path.clone()),
        page_line: page::start_tag_line(&page_file.text, &document, &element),
        best_effort: false,
    })
}

/// Reads one stylesheet (its imports first, as the cascade orders them) and hands each rule
/// to `on_rule` with its file.
fn collect_sheet(
    files: &[SourceFile],
    sheet: &page::SheetSource<'_>,
    visited: &mut HashSet<String>,
    on_rule: &mut dyn FnMut(&str, &css::CssRule),
) {
    if sheet.whole_file && !visited.insert(sheet.file.to_string()) {
        return; // linked twice, or an import cycle
    }
    let read = css::read(sheet.text, sheet.first_line);
    for import in &read.imports {
        let Some(path) = page::resolve_href(sheet.file, import) else {
            continue;
        };
        if let Some(file) = files.iter().find(|f| f.path == path) {
            let source = page::SheetSource {
                file: &file.path,
                text: &file.text,
                first_line: 0,
                whole_file: true,
            };
            collect_sheet(files, &source, visited, on_rule);
        }
    }
    for rule in &read.rules {
        on_rule(sheet.file, rule);
    }
}

/// Without markup for the element: the rules of the project's CSS files whose selectors end
/// in a compound naming the same classes (else id, else tag) as the target's last compound.
fn best_effort(files: &[SourceFile], target: &Target, page: &str) -> Result<Target, TargetError> {
    let names = selector::last_compound_names(&target.selector);
    let mut rules = Vec::new();
    for file in files.iter().filter(|f| f.path.ends_with(".css")) {
        for rule in css::read(&file.text, 0).rules {
            let named = css::split_list(&rule.selector)
                .iter()
                .any(|complex| names.named_by(&selector::last_compound_names(complex)));
            if named {
                rules.push(TargetRule {
                    file: file.path.clone(),
                    line: rule.line,
                    selector: rule.selector,
                    shared_with: 0,
                });
            }
        }
    }
    if rules.is_empty() {
        return Err(TargetError::MatchesNothing {
            selector: target.selector.trim().to_string(),
            page: page.to_string(),
        });
    }
    Ok(Target {
        selector: target.selector.clone(),
        page_url: target.page_url.clone(),
        rules,
        matches: 0,
        index: 0,
        page_file: None,
        page_line: None,
        best_effort: true,
    })
}

#[cfg(test)]
mod tests;

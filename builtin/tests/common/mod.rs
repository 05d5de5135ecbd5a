//! Shared helpers of the proposer tests: the fixture sites and token sets read from
//! `../shared/fixtures`, a request builder, and applying a proposal with the project's own
//! patch engine.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use devflow_builtin::{propose, DesignRequest, NotUnderstood};
use devflow_protocol::{Proposal, ResolvedToken, Target};
use devflow_reference::{load_token_dir, resolve_tokens, SourceFile, TokenFile};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

/// The text files of a fixture site (CSS, HTML, scripts), sorted by path.
pub fn site(name: &str) -> Vec<SourceFile> {
    let root = fixtures().join("sites").join(name);
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<SourceFile>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, out);
            continue;
        }
        let text_file = ["css", "html", "htm", "js", "mjs", "ts"]
            .iter()
            .any(|ext| path.extension().and_then(|e| e.to_str()) == Some(ext));
        if !text_file {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let relative = path
            .strip_prefix(root)
            .expect("under the root")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        out.push(SourceFile::new(relative, text));
    }
}

pub fn tokens(set: &str) -> Vec<ResolvedToken> {
    if set.is_empty() {
        return Vec::new();
    }
    let dir = fixtures().join("tokens").join(set);
    // dtcg-small holds the same tokens twice (string and 2025.10 forms): read one.
    let single = dir.join("tokens.json");
    if single.exists() {
        let text = std::fs::read_to_string(&single).unwrap_or_else(|e| panic!("{set}: {e}"));
        return resolve_tokens(&[TokenFile::new("tokens.json", text)])
            .unwrap_or_else(|e| panic!("{set}: {e}"));
    }
    load_token_dir(&dir).unwrap_or_else(|e| panic!("{set}: {e}"))
}

pub fn request(
    site_name: &str,
    token_set: &str,
    instruction: &str,
    target: Option<&str>,
) -> DesignRequest {
    DesignRequest {
        instruction: instruction.to_string(),
        target: target.map(|selector| Target {
            selector: selector.to_string(),
            page_url: None,
            ..Default::default()
        }),
        prompt: String::new(),
        tokens: tokens(token_set),
        files: site(site_name),
    }
}

pub fn run(
    site_name: &str,
    token_set: &str,
    instruction: &str,
    target: Option<&str>,
) -> Result<Proposal, NotUnderstood> {
    propose(&request(site_name, token_set, instruction, target))
}

/// Applies a proposal with devflow-patch: the new text of every file it changes.
pub fn apply(files: &[SourceFile], proposal: &Proposal) -> Result<Vec<(String, String)>, String> {
    let read = |path: &str| -> Result<Option<Vec<u8>>, String> {
        Ok(files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.text.as_bytes().to_vec()))
    };
    let plan = devflow_patch::plan(&proposal.unified_diff, &proposal.files_to_edit, read)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for file in plan.files {
        let after = file.after.ok_or_else(|| format!("{} deleted", file.path))?;
        out.push((
            file.path.clone(),
            String::from_utf8(after).map_err(|e| e.to_string())?,
        ));
    }
    Ok(out)
}

/// The files after applying the proposal (unchanged files as they were).
pub fn applied(files: &[SourceFile], proposal: &Proposal) -> Vec<SourceFile> {
    let changed = apply(files, proposal)
        .unwrap_or_else(|e| panic!("does not apply: {e}\n{}", proposal.unified_diff));
    files
        .iter()
        .map(|f| match changed.iter().find(|(p, _)| *p == f.path) {
            Some((_, text)) => SourceFile::new(f.path.clone(), text.clone()),
            None => f.clone(),
        })
        .collect()
}

/// `(selector, property, value)` of every declaration of a stylesheet or of an HTML page's
/// `<style>` blocks; the selector is the innermost style rule's prelude with its whitespace
/// collapsed (`h1, .h1`, `&:hover`). A test helper, not a CSS parser: the fixtures are
/// well-formed.
pub fn declarations(path: &str, text: &str) -> Vec<(String, String, String)> {
    let css = if path.ends_with(".html") {
        let mut blocks = String::new();
        let mut rest = text;
        while let Some(open) = rest.find("<style") {
            let after = &rest[open..];
            let Some(start) = after.find('>') else { break };
            let Some(end) = after.find("</style>") else {
                break;
            };
            blocks.push_str(&after[start + 1..end]);
            blocks.push('\n');
            rest = &after[end + 8..];
        }
        blocks
    } else {
        text.to_string()
    };
    let mut without_comments = String::new();
    let mut rest = css.as_str();
    while let Some(open) = rest.find("/*") {
        without_comments.push_str(&rest[..open]);
        rest = rest[open + 2..].split_once("*/").map_or("", |(_, r)| r);
    }
    without_comments.push_str(rest);

    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut buf = String::new();
    let flush = |buf: &str, stack: &[String], out: &mut Vec<(String, String, String)>| {
        let Some(selector) = stack.iter().rev().find(|p| !p.starts_with('@')) else {
            return;
        };
        if let Some((property, value)) = buf.split_once(':') {
            let property = property.trim();
            if !property.is_empty() && !property.contains(' ') {
                out.push((selector.clone(), property.to_string(), norm(value)));
            }
        }
    };
    for c in without_comments.chars() {
        match c {
            '{' => {
                stack.push(norm(&buf));
                buf.clear();
            }
            '}' => {
                flush(&buf, &stack, &mut out);
                buf.clear();
                stack.pop();
            }
            ';' => {
                flush(&buf, &stack, &mut out);
                buf.clear();
            }
            _ => buf.push(c),
        }
    }
    out
}

/// The values `property` has in the rules written as `selector`.
pub fn values_of(files: &[SourceFile], path: &str, selector: &str, property: &str) -> Vec<String> {
    let Some(file) = files.iter().find(|f| f.path == path) else {
        return Vec::new();
    };
    declarations(path, &file.text)
        .into_iter()
        .filter(|(s, p, _)| s == selector && p == property)
        .map(|(_, _, v)| v)
        .collect()
}

/// The first length of a value in px (`calc(1.375rem + 1.5vw)` → 22).
pub fn first_px(value: &str) -> Option<f64> {
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit()
            || (bytes[i] == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let number: f64 = value[start..i].parse().ok()?;
            let unit: String = value[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            return match unit.as_str() {
                "px" => Some(number),
                "rem" | "em" => Some(number * 16.0),
                "" if number == 0.0 => Some(0.0),
                _ => None,
            };
        }
        i += 1;
    }
    None
}

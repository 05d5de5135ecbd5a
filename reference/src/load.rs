//! The file-system edge: reads token folders, reference zips and a site's stylesheets and
//! pages from disk, then hands the contents to the pure cores. Nothing here decides anything.

use std::path::{Path, PathBuf};

use devflow_protocol::ResolvedToken;

use crate::bundle::{read_reference_json, read_reference_zip, ReferenceBundle, ReferenceError};
use crate::drift::SourceFile;
use crate::tokens::{resolve_tokens, TokenError, TokenFile};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("could not read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf },
    #[error(transparent)]
    Tokens(#[from] TokenError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Resolves every `*.json` under `dir` (recursively, sorted; names in errors are relative to
/// `dir`), as one token set.
pub fn load_token_dir(dir: &Path) -> Result<Vec<ResolvedToken>, LoadError> {
    let mut files = Vec::new();
    for path in files_under(dir, &|p| has_extension(p, &["json"]))? {
        files.push(TokenFile::new(relative(dir, &path), read_text(&path)?));
    }
    Ok(resolve_tokens(&files)?)
}

/// A reference upload from disk: a `.zip` (tokens + `screens/`) or one token `.json`.
pub fn load_reference(path: &Path) -> Result<ReferenceBundle, LoadError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    if has_extension(path, &["json"]) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(read_reference_json(&name, &bytes)?)
    } else {
        Ok(read_reference_zip(&bytes)?)
    }
}

/// A site's stylesheets and pages, ready for drift analysis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteSources {
    /// `*.css`, paths relative to the site root with `/`.
    pub css: Vec<SourceFile>,
    /// `*.html` / `*.htm`.
    pub html: Vec<SourceFile>,
}

/// Reads every stylesheet and page under `root`, skipping `node_modules` and dot folders.
/// Files that are not UTF-8 are skipped: a browser would not read them as CSS either.
pub fn load_site_sources(root: &Path) -> Result<SiteSources, LoadError> {
    let mut site = SiteSources::default();
    for path in files_under(root, &|p| has_extension(p, &["css", "html", "htm"]))? {
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        let file = SourceFile::new(relative(root, &path), text);
        if has_extension(&path, &["css"]) {
            site.css.push(file);
        } else {
            site.html.push(file);
        }
    }
    Ok(site)
}

fn read_text(path: &Path) -> Result<String, LoadError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    String::from_utf8(bytes).map_err(|_| LoadError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Regular files under `root` that `keep` accepts, sorted; symlinks are not followed.
fn files_under(root: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_dir() {
                if !name.starts_with('.') && name != "node_modules" {
                    pending.push(path);
                }
            } else if kind.is_file() && keep(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

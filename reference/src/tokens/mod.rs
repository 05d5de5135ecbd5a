//! Design tokens: W3C DTCG JSON (`$value`, `$type`, groups, `$description`, `$type` inherited
//! from groups; the widely used string forms and the 2025.10 structured forms) and Style
//! Dictionary's legacy format (`value`, nested categories, `{color.base.red.value}` aliases),
//! resolved into `ResolvedToken`s whose values are canonical CSS text.
//!
//! Invariant: pure (file contents in, tokens out), deterministic (sorted by path), and every
//! alias is either resolved or rejected with an error naming the token and the reference.

mod resolve;
mod tree;
mod value;

use devflow_protocol::ResolvedToken;

pub use value::{font_families, TokenType};

/// One token file's contents; `name` is only used in messages (`tokens.json`, `color/base.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFile {
    pub name: String,
    pub text: String,
}

impl TokenFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// Why a set of token files could not be turned into tokens. Every variant names the file or
/// the token path that is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenError {
    #[error("{file}: not valid JSON (line {line}, column {column}): {message}")]
    Json {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: the top level must be a JSON object of token groups")]
    NotAnObject { file: String },
    #[error("{file}: `{path}` is not a valid token or group name: {reason}")]
    InvalidName {
        file: String,
        path: String,
        reason: &'static str,
    },
    #[error("{file}: `{path}` must be a token (an object with `$value`) or a group (an object), found {found}")]
    NotATokenOrGroup {
        file: String,
        path: String,
        found: &'static str,
    },
    #[error("token `{path}` is defined twice, in {first_file} and in {second_file}; keep one")]
    DuplicateToken {
        path: String,
        first_file: String,
        second_file: String,
    },
    #[error("{file}: token `{path}` refers to `{{{reference}}}`, which is not a token; check the spelling or define it")]
    DanglingReference {
        file: String,
        path: String,
        reference: String,
    },
    #[error("token `{path}` refers to `{{{reference}}}`, which leads back to it: {}", chain.join(" → "))]
    Cycle {
        path: String,
        reference: String,
        /// The cycle, first token repeated at the end: `a → b → a`.
        chain: Vec<String>,
    },
    #[error("{file}: token `{path}` has an invalid {token_type} value `{value}`: {reason}")]
    InvalidValue {
        file: String,
        path: String,
        token_type: String,
        value: String,
        reason: String,
    },
    #[error("token `{path}` is declared as {declared} but refers to `{{{reference}}}`, a {target} token")]
    TypeMismatch {
        path: String,
        declared: String,
        reference: String,
        target: String,
    },
    #[error("token `{path}` is at the end of an alias chain longer than {limit} tokens; shorten the chain")]
    AliasChainTooLong { path: String, limit: usize },
    #[error("no design tokens found in {files}; expected DTCG `$value` or Style Dictionary `value` entries")]
    NoTokens { files: String },
}

/// Reads, merges and resolves token files into tokens sorted by path.
///
/// Each file is DTCG when it has a `$value` anywhere, Style Dictionary legacy otherwise; a
/// set may mix both. Aliases may point across files.
pub fn resolve_tokens(files: &[TokenFile]) -> Result<Vec<ResolvedToken>, TokenError> {
    let mut raw = std::collections::BTreeMap::new();
    for file in files {
        for token in tree::read_file(file)? {
            if let Some(first) = raw.get(&token.path) {
                let first: &tree::RawToken = first;
                return Err(TokenError::DuplicateToken {
                    path: token.path,
                    first_file: first.file.clone(),
                    second_file: file.name.clone(),
                });
            }
            raw.insert(token.path.clone(), token);
        }
    }
    if raw.is_empty() {
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        return Err(TokenError::NoTokens {
            files: if names.is_empty() {
                "(no files)".to_string()
            } else {
                names.join(", ")
            },
        });
    }
    resolve::resolve_all(&raw)
}

#[cfg(test)]
mod tests;

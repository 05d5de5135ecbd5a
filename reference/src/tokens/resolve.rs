//! Alias resolution: `{path.to.token}` (and legacy `{path.to.token.value}`) references are
//! followed through chains, inside composite values and inside strings; a reference that
//! leads back to a token on the current chain is a cycle, one to a non-token is dangling.

use std::collections::{BTreeMap, HashMap};

use devflow_protocol::ResolvedToken;
use serde_json::Value;

use super::tree::RawToken;
use super::value::{infer, render, TokenType};
use super::TokenError;

/// The most tokens an alias chain may have: longer chains are rejected rather than followed
/// (resolution recurses once per hop).
pub(super) const MAX_ALIAS_DEPTH: usize = 64;

#[derive(Debug, Clone)]
struct Resolved {
    ty: TokenType,
    css: String,
    alias_of: Option<String>,
    /// The longest alias chain below this token, in hops (0: no reference). Lets a chain be
    /// measured whole when part of it was resolved earlier, so whether it is too long does
    /// not depend on the order tokens are resolved in (their names).
    hops: usize,
}

pub(super) fn resolve_all(
    raw: &BTreeMap<String, RawToken>,
) -> Result<Vec<ResolvedToken>, TokenError> {
    let mut resolver = Resolver {
        raw,
        done: HashMap::new(),
        stack: Vec::new(),
    };
    let mut out = Vec::with_capacity(raw.len());
    // BTreeMap order: tokens come out sorted by path, and the first error is deterministic.
    for (path, token) in raw {
        let resolved = resolver.resolve(token)?;
        out.push(ResolvedToken {
            path: path.clone(),
            token_type: resolved.ty.as_str().to_string(),
            value: resolved.css,
            description: token.description.clone(),
            alias_of: resolved.alias_of,
        });
    }
    Ok(out)
}

struct Resolver<'a> {
    raw: &'a BTreeMap<String, RawToken>,
    done: HashMap<String, Resolved>,
    /// Tokens being resolved, outermost first: the current alias chain.
    stack: Vec<String>,
}

/// The `{…}` references in a string, with their byte ranges (braces included).
fn references(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find('{').map(|i| rest + i) {
        let Some(close) = text[open + 1..].find(['{', '}']).map(|i| open + 1 + i) else {
            break;
        };
        if text[close..].starts_with('{') {
            rest = close;
            continue;
        }
        let inner = &text[open + 1..close];
        if !inner.trim().is_empty() {
            out.push((open..close + 1, inner.trim()));
        }
        rest = close + 1;
    }
    out
}

impl<'a> Resolver<'a> {
    fn resolve(&mut self, token: &'a RawToken) -> Result<Resolved, TokenError> {
        if let Some(done) = self.done.get(&token.path) {
            return Ok(done.clone());
        }
        self.stack.push(token.path.clone());
        let result = self.compute(token);
        self.stack.pop();
        let resolved = result?;
        self.done.insert(token.path.clone(), resolved.clone());
        Ok(resolved)
    }

    /// The token a reference names: exact path, or a legacy path with `.value` appended.
    fn target(&self, reference: &str) -> Option<&'a RawToken> {
        let raw = self.raw;
        raw.get(reference).or_else(|| {
            let stripped = reference
                .strip_suffix(".value")
                .or_else(|| reference.strip_suffix(".$value"))?;
            raw.get(stripped)
        })
    }

    fn follow(
        &mut self,
        from: &RawToken,
        reference: &str,
    ) -> Result<(String, Resolved), TokenError> {
        let Some(target) = self.target(reference) else {
            return Err(TokenError::DanglingReference {
                file: from.file.clone(),
                path: from.path.clone(),
                reference: reference.to_string(),
            });
        };
        if self.stack.len() >= MAX_ALIAS_DEPTH {
            return Err(TokenError::AliasChainTooLong {
                path: from.path.clone(),
                limit: MAX_ALIAS_DEPTH,
            });
        }
        if let Some(at) = self.stack.iter().position(|p| *p == target.path) {
            let mut chain = self.stack[at..].to_vec();
            chain.push(target.path.clone());
            return Err(TokenError::Cycle {
                path: from.path.clone(),
                reference: reference.to_string(),
                chain,
            });
        }
        let resolved = self.resolve(target)?;
        // The chain: the tokens being resolved, the target, and the chain below it.
        if self.stack.len() + 1 + resolved.hops > MAX_ALIAS_DEPTH {
            return Err(TokenError::AliasChainTooLong {
                path: from.path.clone(),
                limit: MAX_ALIAS_DEPTH,
            });
        }
        Ok((target.path.clone(), resolved))
    }

    fn compute(&mut self, token: &RawToken) -> Result<Resolved, TokenError> {
        let declared = token.declared_type.as_deref().map(TokenType::parse);
        let invalid = |ty: &TokenType, value: &Value, reason: String| TokenError::InvalidValue {
            file: token.file.clone(),
            path: token.path.clone(),
            token_type: ty.as_str().to_string(),
            value: match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            reason,
        };

        // A whole-value alias takes the target's value, and its type unless one is declared.
        if let Value::String(text) = &token.value {
            let refs = references(text);
            if let [(range, reference)] = refs.as_slice() {
                if range.start == 0 && range.end == text.len() {
                    let (target, resolved) = self.follow(token, reference)?;
                    let ty = declared.unwrap_or_else(|| resolved.ty.clone());
                    let css = if ty == resolved.ty {
                        resolved.css
                    } else {
                        render(&ty, &Value::String(resolved.css.clone()), token.legacy).map_err(
                            |_| TokenError::TypeMismatch {
                                path: token.path.clone(),
                                declared: ty.as_str().to_string(),
                                reference: reference.to_string(),
                                target: resolved.ty.as_str().to_string(),
                            },
                        )?
                    };
                    return Ok(Resolved {
                        ty,
                        css,
                        alias_of: Some(target),
                        hops: resolved.hops + 1,
                    });
                }
            }
        }

        let mut hops = 0;
        let value = self.substitute(token, &token.value, &mut hops)?;
        let ty = declared.unwrap_or_else(|| infer(&token.path, &value, token.legacy));
        if let Some(reference) = self.made_reference(&value) {
            return Err(invalid(
                &ty,
                &value,
                format!(
                    "with its references replaced it reads `{{{reference}}}`, a reference \
                     no one resolves; write each reference once, as `{{path}}`, without \
                     braces around it"
                ),
            ));
        }
        let css =
            render(&ty, &value, token.legacy).map_err(|reason| invalid(&ty, &value, reason))?;
        Ok(Resolved {
            ty,
            css,
            alias_of: None,
            hops,
        })
    }

    /// A reference to a token that substitution itself put together (`{{a}}` with `a` = `b`
    /// reads `{b}`): refused rather than left in the value as an alias never resolved.
    fn made_reference(&self, value: &Value) -> Option<String> {
        match value {
            Value::String(text) => references(text)
                .into_iter()
                .find(|(_, reference)| self.target(reference).is_some())
                .map(|(_, reference)| reference.to_string()),
            Value::Array(items) => items.iter().find_map(|item| self.made_reference(item)),
            Value::Object(members) => members.values().find_map(|item| self.made_reference(item)),
            _ => None,
        }
    }

    /// Replaces every reference inside a value by the referenced token's CSS text; `hops`
    /// becomes at least one more than the longest chain below a referenced token.
    fn substitute(
        &mut self,
        token: &RawToken,
        value: &Value,
        hops: &mut usize,
    ) -> Result<Value, TokenError> {
        Ok(match value {
            Value::String(text) => {
                let refs = references(text);
                if refs.is_empty() {
                    return Ok(value.clone());
                }
                let mut out = String::with_capacity(text.len());
                let mut last = 0;
                for (range, reference) in refs {
                    let (_, resolved) = self.follow(token, reference)?;
                    *hops = (*hops).max(resolved.hops + 1);
                    out.push_str(&text[last..range.start]);
                    out.push_str(&resolved.css);
                    last = range.end;
                }
                out.push_str(&text[last..]);
                Value::String(out)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.substitute(token, item, hops))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(key, item)| Ok((key.clone(), self.substitute(token, item, hops)?)))
                    .collect::<Result<_, TokenError>>()?,
            ),
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::references;

    #[test]
    fn finds_references_inside_text() {
        let found: Vec<&str> = references("{a.b} solid {c.value}")
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        assert_eq!(found, ["a.b", "c.value"]);
        assert!(references("no refs {} here").is_empty());
        assert_eq!(references("{{a}}").len(), 1);
    }
}

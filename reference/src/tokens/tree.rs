//! Flattens one token file (DTCG or Style Dictionary legacy) into raw tokens: dotted path,
//! the type declared on it or inherited from its groups, its unresolved JSON value.

use serde_json::{Map, Value};

use super::{TokenError, TokenFile};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct RawToken {
    pub path: String,
    pub file: String,
    /// `$type` on the token or the nearest group that has one (legacy: `type`).
    pub declared_type: Option<String>,
    pub value: Value,
    pub description: Option<String>,
    /// Written in Style Dictionary's legacy format (types inferred from the category).
    pub legacy: bool,
}

pub(super) fn read_file(file: &TokenFile) -> Result<Vec<RawToken>, TokenError> {
    let root: Value = serde_json::from_str(&file.text).map_err(|e| TokenError::Json {
        file: file.name.clone(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let Value::Object(root) = root else {
        return Err(TokenError::NotAnObject {
            file: file.name.clone(),
        });
    };
    let mut out = Vec::new();
    let mut path = Vec::new();
    if has_dollar_value(&root) {
        walk_dtcg(&root, &mut path, None, &file.name, &mut out)?;
    } else {
        walk_legacy(&root, &mut path, &file.name, &mut out)?;
    }
    Ok(out)
}

fn has_dollar_value(group: &Map<String, Value>) -> bool {
    group.iter().any(|(key, child)| {
        key == "$value" || matches!(child, Value::Object(m) if has_dollar_value(m))
    })
}

fn check_name(name: &str, path: &[String], file: &str) -> Result<(), TokenError> {
    let reason = if name.is_empty() {
        Some("names may not be empty")
    } else if name.contains(['.', '{', '}']) {
        Some("names may not contain `.`, `{` or `}`")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(TokenError::InvalidName {
            file: file.to_string(),
            path: joined(path, name),
            reason,
        }),
        None => Ok(()),
    }
}

fn joined(path: &[String], name: &str) -> String {
    let mut parts = path.to_vec();
    parts.push(name.to_string());
    parts.join(".")
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_member(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_string)
}

fn walk_dtcg(
    group: &Map<String, Value>,
    path: &mut Vec<String>,
    inherited_type: Option<&str>,
    file: &str,
    out: &mut Vec<RawToken>,
) -> Result<(), TokenError> {
    let group_type = group
        .get("$type")
        .and_then(Value::as_str)
        .or(inherited_type);
    for (name, child) in group {
        // `$type`, `$description`, `$extensions`, `$deprecated`, `$schema`, …: group properties.
        if name.starts_with('$') {
            continue;
        }
        check_name(name, path, file)?;
        let Value::Object(member) = child else {
            return Err(TokenError::NotATokenOrGroup {
                file: file.to_string(),
                path: joined(path, name),
                found: kind_of(child),
            });
        };
        if let Some(value) = member.get("$value") {
            out.push(RawToken {
                path: joined(path, name),
                file: file.to_string(),
                declared_type: string_member(member, "$type").or(group_type.map(str::to_string)),
                value: value.clone(),
                description: string_member(member, "$description"),
                legacy: false,
            });
        } else {
            path.push(name.clone());
            walk_dtcg(member, path, group_type, file, out)?;
            path.pop();
        }
    }
    Ok(())
}

fn walk_legacy(
    group: &Map<String, Value>,
    path: &mut Vec<String>,
    file: &str,
    out: &mut Vec<RawToken>,
) -> Result<(), TokenError> {
    for (name, child) in group {
        // Scalars beside groups are metadata in the legacy format; only objects nest.
        let Value::Object(member) = child else {
            continue;
        };
        check_name(name, path, file)?;
        if let Some(value) = member.get("value") {
            out.push(RawToken {
                path: joined(path, name),
                file: file.to_string(),
                declared_type: string_member(member, "type"),
                value: value.clone(),
                description: string_member(member, "comment")
                    .or_else(|| string_member(member, "description")),
                legacy: true,
            });
        } else {
            path.push(name.clone());
            walk_legacy(member, path, file, out)?;
            path.pop();
        }
    }
    Ok(())
}

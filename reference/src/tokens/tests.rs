//! Token resolution on small hand-written sets: chains, cycles, dangling and bad values.

use super::*;

fn resolve_one(json: &str) -> Result<Vec<ResolvedToken>, TokenError> {
    resolve_tokens(&[TokenFile::new("tokens.json", json)])
}

fn value_of<'a>(tokens: &'a [ResolvedToken], path: &str) -> &'a ResolvedToken {
    tokens
        .iter()
        .find(|t| t.path == path)
        .unwrap_or_else(|| panic!("no token {path} in {tokens:#?}"))
}

#[test]
fn follows_alias_chains_to_the_end_and_remembers_the_first_hop() {
    let tokens = resolve_one(
        r##"{
          "color": {
            "$type": "color",
            "base": { "$value": "#FF0000" },
            "brand": { "$value": "{color.base}" },
            "button": { "$value": "{color.brand}" },
            "focus": { "$value": "{color.button}" }
          }
        }"##,
    )
    .expect("valid chain");
    let focus = value_of(&tokens, "color.focus");
    assert_eq!(focus.value, "#ff0000");
    assert_eq!(focus.token_type, "color");
    assert_eq!(focus.alias_of.as_deref(), Some("color.button"));
    assert_eq!(value_of(&tokens, "color.base").alias_of, None);
}

#[test]
fn alias_without_type_takes_the_type_of_its_target() {
    let tokens = resolve_one(
        r#"{
          "space": { "$type": "dimension", "md": { "$value": "1rem" } },
          "gap": { "$value": "{space.md}" }
        }"#,
    )
    .expect("valid");
    let gap = value_of(&tokens, "gap");
    assert_eq!(
        (gap.token_type.as_str(), gap.value.as_str()),
        ("dimension", "1rem")
    );
}

#[test]
fn rejects_a_cycle_naming_the_token_and_the_reference() {
    let err = resolve_one(
        r#"{
          "a": { "$type": "color", "$value": "{b}" },
          "b": { "$type": "color", "$value": "{c}" },
          "c": { "$type": "color", "$value": "{a}" }
        }"#,
    )
    .expect_err("cycle");
    assert_eq!(
        err,
        TokenError::Cycle {
            path: "c".into(),
            reference: "a".into(),
            chain: vec!["a".into(), "b".into(), "c".into(), "a".into()],
        }
    );
    assert_eq!(
        err.to_string(),
        "token `c` refers to `{a}`, which leads back to it: a → b → c → a"
    );
}

#[test]
fn rejects_a_token_that_refers_to_itself() {
    let err = resolve_one(r#"{ "a": { "$type": "number", "$value": "{a}" } }"#).expect_err("cycle");
    assert!(
        matches!(err, TokenError::Cycle { ref chain, .. } if chain == &["a", "a"]),
        "{err}"
    );
}

#[test]
fn rejects_a_cycle_hidden_inside_a_composite_value() {
    let err = resolve_one(
        r#"{
          "shadow": { "$type": "shadow", "$value": {
            "color": "{tint}", "offsetX": "0px", "offsetY": "1px", "blur": "2px", "spread": "0px" } },
          "tint": { "$type": "color", "$value": "{shadow}" }
        }"#,
    )
    .expect_err("cycle");
    assert!(matches!(err, TokenError::Cycle { .. }), "{err}");
}

#[test]
fn rejects_a_dangling_reference_naming_the_token_and_the_reference() {
    let err = resolve_one(
        r#"{ "color": { "$type": "color", "brand": { "$value": "{color.palette.nope}" } } }"#,
    )
    .expect_err("dangling");
    assert_eq!(
        err.to_string(),
        "tokens.json: token `color.brand` refers to `{color.palette.nope}`, which is not a token; check the spelling or define it"
    );
}

#[test]
fn a_reference_to_a_group_is_dangling() {
    let err = resolve_one(
        r##"{ "color": { "$type": "color", "red": { "500": { "$value": "#f00" } }, "x": { "$value": "{color.red}" } } }"##,
    )
    .expect_err("group reference");
    assert!(
        matches!(err, TokenError::DanglingReference { ref reference, .. } if reference == "color.red"),
        "{err}"
    );
}

#[test]
fn legacy_value_suffixed_aliases_resolve_and_types_come_from_the_category() {
    let tokens = resolve_one(
        r##"{
          "color": { "base": { "red": { "value": "#FF0000" } }, "font": { "value": "{color.base.red.value}" } },
          "size": { "font": { "small": { "value": "0.75", "comment": "small" } } },
          "time": { "fast": { "value": "150" } }
        }"##,
    )
    .expect("valid legacy");
    let font = value_of(&tokens, "color.font");
    assert_eq!(
        (
            font.token_type.as_str(),
            font.value.as_str(),
            font.alias_of.as_deref()
        ),
        ("color", "#ff0000", Some("color.base.red"))
    );
    let small = value_of(&tokens, "size.font.small");
    assert_eq!(
        (small.token_type.as_str(), small.value.as_str()),
        ("dimension", "0.75rem")
    );
    assert_eq!(small.description.as_deref(), Some("small"));
    assert_eq!(value_of(&tokens, "time.fast").value, "150ms");
}

#[test]
fn references_inside_text_are_interpolated() {
    let tokens = resolve_one(
        r##"{
          "width": { "$type": "dimension", "$value": "1px" },
          "ink": { "$type": "color", "$value": "#0f172a" },
          "border": { "$type": "border", "$value": "{width} solid {ink}" }
        }"##,
    )
    .expect("valid");
    let border = value_of(&tokens, "border");
    assert_eq!(border.value, "1px solid #0f172a");
    assert_eq!(border.alias_of, None);
}

#[test]
fn renders_every_supported_type_as_css_text() {
    let tokens = resolve_one(
        r##"{
          "c": { "$type": "color", "hsl": { "$value": "hsl(0 100% 50% / 50%)" }, "named": { "$value": "teal" } },
          "d": { "$type": "dimension", "em": { "$value": "1.5em" }, "zero": { "$value": 0 } },
          "f": { "$type": "fontFamily", "one": { "$value": "Helvetica Neue" }, "list": { "$value": "'Fira Code', monospace" } },
          "w": { "$type": "fontWeight", "kw": { "$value": "semi-bold" }, "n": { "$value": 350 } },
          "t": { "$type": "duration", "s": { "$value": "0.5s" } },
          "n": { "$type": "number", "lh": { "$value": 1.5 } },
          "e": { "$type": "cubicBezier", "$value": [0.5, 0, 1, 1] },
          "s": { "$type": "shadow", "$value": [
            { "color": "#00000080", "offsetX": "0px", "offsetY": "1px", "blur": "2px", "spread": "0px" },
            { "color": "#000", "offsetX": "0px", "offsetY": "0px", "blur": "1px", "spread": "1px", "inset": true } ] }
        }"##,
    )
    .expect("valid");
    let got: Vec<String> = tokens
        .iter()
        .map(|t| format!("{} {} {}", t.path, t.token_type, t.value))
        .collect();
    assert_eq!(
        got,
        [
            "c.hsl color #ff000080",
            "c.named color #008080",
            "d.em dimension 1.5em",
            "d.zero dimension 0px",
            "e cubicBezier cubic-bezier(0.5, 0, 1, 1)",
            "f.list fontFamily \"Fira Code\", monospace",
            "f.one fontFamily \"Helvetica Neue\"",
            "n.lh number 1.5",
            "s shadow 0px 1px 2px 0px #00000080, inset 0px 0px 1px 1px #000000",
            "t.s duration 0.5s",
            "w.kw fontWeight 600",
            "w.n fontWeight 350",
        ]
    );
}

#[test]
fn rejects_invalid_values_with_the_path_and_what_was_expected() {
    let err = resolve_one(r#"{ "space": { "$type": "dimension", "sm": { "$value": "4" } } }"#)
        .expect_err("unitless DTCG dimension");
    assert!(
        matches!(err, TokenError::InvalidValue { ref path, ref token_type, .. } if path == "space.sm" && token_type == "dimension"),
        "{err}"
    );
    let err =
        resolve_one(r##"{ "c": { "$type": "color", "$value": "#12345" } }"##).expect_err("bad hex");
    assert!(
        err.to_string()
            .starts_with("tokens.json: token `c` has an invalid color value `#12345`"),
        "{err}"
    );
}

#[test]
fn rejects_bad_names_duplicates_and_files_without_tokens() {
    let err = resolve_one(r#"{ "a.b": { "$type": "number", "$value": 1 } }"#).expect_err("dot");
    assert!(matches!(err, TokenError::InvalidName { .. }), "{err}");

    let err =
        resolve_one(r#"{ "a": { "$type": "number", "$value": 1 }, "b": 2 }"#).expect_err("scalar");
    assert!(
        matches!(err, TokenError::NotATokenOrGroup { ref path, .. } if path == "b"),
        "{err}"
    );

    let files = [
        TokenFile::new("one.json", r#"{ "a": { "$type": "number", "$value": 1 } }"#),
        TokenFile::new("two.json", r#"{ "a": { "$type": "number", "$value": 2 } }"#),
    ];
    assert_eq!(
        resolve_tokens(&files).expect_err("duplicate").to_string(),
        "token `a` is defined twice, in one.json and in two.json; keep one"
    );

    let err = resolve_one(r#"{ "meta": { "name": "x" } }"#).expect_err("no tokens");
    assert!(matches!(err, TokenError::NoTokens { .. }), "{err}");

    let err = resolve_one("{ \"a\": ").expect_err("bad json");
    assert!(matches!(err, TokenError::Json { line: 1, .. }), "{err}");
}

#[test]
fn aliases_may_point_across_files_and_formats() {
    let files = [
        TokenFile::new(
            "base.json",
            r##"{ "color": { "base": { "red": { "value": "#f00" } } } }"##,
        ),
        TokenFile::new(
            "semantic.json",
            r#"{ "brand": { "$type": "color", "$value": "{color.base.red}" } }"#,
        ),
    ];
    let tokens = resolve_tokens(&files).expect("valid");
    assert_eq!(value_of(&tokens, "brand").value, "#ff0000");
}

#[test]
fn rejects_an_alias_to_a_token_of_another_type() {
    let err = resolve_one(
        r##"{ "ink": { "$type": "color", "$value": "#fff" }, "gap": { "$type": "dimension", "$value": "{ink}" } }"##,
    )
    .expect_err("type mismatch");
    assert_eq!(
        err.to_string(),
        "token `gap` is declared as dimension but refers to `{ink}`, a color token"
    );
}

#[test]
fn rejects_an_overly_long_alias_chain_instead_of_recursing_without_bound() {
    let mut json = String::from(r#"{ "t0": { "$type": "number", "$value": 1 }"#);
    for i in 1..=1000 {
        json.push_str(&format!(r#", "t{i}": {{ "$value": "{{t{}}}" }}"#, i - 1));
    }
    json.push('}');
    let err = resolve_one(&json).expect_err("too long");
    assert!(
        matches!(err, TokenError::AliasChainTooLong { limit: 64, .. }),
        "{err}"
    );

    let mut json = String::from(r#"{ "t0": { "$type": "number", "$value": 1 }"#);
    for i in 1..=50 {
        json.push_str(&format!(r#", "t{i}": {{ "$value": "{{t{}}}" }}"#, i - 1));
    }
    json.push('}');
    let tokens = resolve_one(&json).expect("a 50-hop chain is fine");
    assert_eq!(value_of(&tokens, "t50").value, "1");
}

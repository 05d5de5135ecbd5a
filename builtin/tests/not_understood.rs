//! Instructions the built-in proposer cannot act on are answered with a helpful message in
//! the instruction's language — what was understood, phrasings that work (with the
//! reference's own token names), and the proposers that take free-form requests — never
//! with a guessed change. Refresh the snapshots with
//! `UPDATE_EXPECT=1 cargo test -p devflow-builtin --test not_understood`, then review them.

mod common;

use devflow_builtin::{propose, NotUnderstood, NotUnderstoodKind};
use expect_test::{expect, Expect};

fn refusal(site: &str, tokens: &str, instruction: &str) -> NotUnderstood {
    match common::run(site, tokens, instruction, None) {
        Ok(p) => panic!(
            "\u{201c}{instruction}\u{201d} was not refused: {}",
            p.reason
        ),
        Err(e) => e,
    }
}

fn check(site: &str, tokens: &str, instruction: &str, kind: NotUnderstoodKind, snapshot: Expect) {
    let refused = refusal(site, tokens, instruction);
    assert_eq!(refused.kind, kind, "{}", refused.message);
    snapshot.assert_eq(&refused.to_string());
}

#[test]
fn make_it_pop_is_not_guessed_at() {
    check(
        "simple-sidebar",
        "dtcg-small",
        "make it pop",
        NotUnderstoodKind::Unrecognised,
        expect![[r#"
            The built-in proposer could not act on “make it pop”.
            Understood: nothing it can act on. It understands changes of colour, size, spacing, corners, font and weight of buttons, headings, links, text, the page and other common parts, and “use the design tokens”.
            Try, for example:
              - make the buttons the brand primary colour
              - bigger headings
              - more padding
              - round the corners
              - use the design tokens
            For free-form requests, switch the session's proposer to Nova (`bedrock`) or an OpenAI-compatible model (`openai`)."#]],
    );
}

#[test]
fn iikanjini_is_answered_in_japanese() {
    check(
        "simple-sidebar",
        "dtcg-small",
        "いい感じに",
        NotUnderstoodKind::Unrecognised,
        expect![[r#"
            組み込みの提案エンジンは「いい感じに」を実行できませんでした。
            理解できたこと: 対象も変更内容も読み取れませんでした。ボタン・見出し・リンク・本文・ページなどの色・サイズ・余白・角丸・フォント・太さの変更と、「トークンに合わせて」に対応しています。
            次のように指示してみてください:
              - ボタンをブランドカラーに
              - 見出しをもっと大きく
              - 余白を広く
              - 角を丸く
              - トークンに合わせて
            自由な表現の依頼は、セッションの提案エンジンを Nova（`bedrock`）または OpenAI 互換モデル（`openai`）に切り替えてください。"#]],
    );
}

#[test]
fn a_colour_change_without_a_colour_names_the_reference_tokens() {
    check(
        "vite-vanilla",
        "dtcg-small",
        "change the button colour",
        NotUnderstoodKind::MissingValue,
        expect![[r#"
            The built-in proposer could not act on “change the button colour”.
            Understood: a colour change for the buttons, but not to what value. Name a colour (`#ff0000`, `red`) or a reference token (`brand primary`, `text default`).
            Try, for example:
              - make the buttons the brand primary colour
              - bigger buttons
              - more padding on the buttons
              - round the corners of the buttons
              - use the design tokens
            For free-form requests, switch the session's proposer to Nova (`bedrock`) or an OpenAI-compatible model (`openai`)."#]],
    );
}

#[test]
fn a_subject_without_a_change_suggests_changes_for_that_subject_in_japanese() {
    check(
        "html5-boilerplate",
        "legacy-basic",
        "見出しを直して",
        NotUnderstoodKind::Unrecognised,
        expect![[r#"
            組み込みの提案エンジンは「見出しを直して」を実行できませんでした。
            理解できたこと: 対象は見出しですが、変更内容（色・サイズ・余白・角丸・フォント・太さ、またはトークンに合わせる）が読み取れませんでした。
            次のように指示してみてください:
              - 見出しをfont baseの色に
              - 見出しをもっと大きく
              - 見出しを太字に
              - 見出しを小さく
              - トークンに合わせて
            自由な表現の依頼は、セッションの提案エンジンを Nova（`bedrock`）または OpenAI 互換モデル（`openai`）に切り替えてください。"#]],
    );
}

#[test]
fn using_the_tokens_without_a_reference_says_how_to_set_one() {
    check(
        "simple-sidebar",
        "",
        "トークンに合わせて",
        NotUnderstoodKind::NoTokens,
        expect![[r#"
            組み込みの提案エンジンは「トークンに合わせて」を実行できませんでした。
            理解できたこと: デザイントークンに合わせる指示ですが、このセッションには参照トークンがありません。`reference/set` でトークン（JSON または zip）を設定してから再度お試しください。
            自由な表現の依頼は、セッションの提案エンジンを Nova（`bedrock`）または OpenAI 互換モデル（`openai`）に切り替えてください。"#]],
    );
}

#[test]
fn the_brand_font_without_font_tokens_asks_for_a_font_name() {
    check(
        "vite-vanilla",
        "legacy-basic",
        "use the brand font",
        NotUnderstoodKind::MissingValue,
        expect![[r#"
            The built-in proposer could not act on “use the brand font”.
            Understood: a font change to the reference font, but the reference has no fontFamily tokens. Name the font in quotes.
            Try, for example:
              - use the "Inter" font
              - serif headings font
            For free-form requests, switch the session's proposer to Nova (`bedrock`) or an OpenAI-compatible model (`openai`)."#]],
    );
}

#[test]
fn a_brand_colour_without_colour_tokens_asks_for_a_colour() {
    let refused = refusal("vite-vanilla", "", "ボタンをブランドカラーに");
    assert_eq!(refused.kind, NotUnderstoodKind::MissingValue);
    assert!(
        refused.message.contains("カラートークンがありません"),
        "{}",
        refused.message
    );
}

#[test]
fn a_site_that_already_follows_the_tokens_has_nothing_to_change() {
    let once = common::run(
        "html5-boilerplate",
        "legacy-basic",
        "use the design tokens",
        None,
    )
    .expect("understood");
    let mut request = common::request(
        "html5-boilerplate",
        "legacy-basic",
        "use the design tokens",
        None,
    );
    request.files = common::applied(&request.files, &once);
    let refused = propose(&request).expect_err("nothing left to snap");
    assert_eq!(
        refused.kind,
        NotUnderstoodKind::NothingToChange,
        "{}",
        refused.message
    );
}

#[test]
fn every_suggested_phrasing_is_itself_understood() {
    for (site, tokens, instruction) in [
        ("simple-sidebar", "dtcg-small", "make it pop"),
        ("simple-sidebar", "dtcg-small", "いい感じに"),
        ("vite-vanilla", "dtcg-small", "change the button colour"),
        ("vite-vanilla", "dtcg-small", "fix the headings"),
        ("html5-boilerplate", "legacy-basic", "見出しを直して"),
        ("html5-boilerplate", "", "ボタンをどうにかして"),
    ] {
        for suggestion in refusal(site, tokens, instruction).suggestions {
            if let Err(e) = common::run(site, tokens, &suggestion, None) {
                assert!(
                    !matches!(e.kind, NotUnderstoodKind::Unrecognised | NotUnderstoodKind::MissingValue),
                    "suggestion \u{201c}{suggestion}\u{201d} (for \u{201c}{instruction}\u{201d} on {site}) is not understood:\n{e}"
                );
            }
        }
    }
}

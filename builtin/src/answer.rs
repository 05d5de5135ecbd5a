//! What the proposer says, in the instruction's language: the reason of a proposal (what
//! changed, from which token, where) and [`NotUnderstood`] — what was recognised, phrasings
//! that work (with the reference's own token names), and that the Nova and OpenAI proposers
//! take free-form requests.

use std::fmt::Write as _;

use devflow_protocol::ResolvedToken;

use crate::edits::Note;
use crate::intent::{Lang, Partial, SubjectKind};
use crate::plan::Pick;
use crate::properties::Aspect;
use crate::snap::{SnapChoice, SnapCounts, SnapTo};

/// Why the built-in proposer made no proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotUnderstoodKind {
    /// No known change in the instruction.
    Unrecognised,
    /// The change was recognised but not its value (`change the button colour`).
    MissingValue,
    /// "Use the tokens" with no reference tokens set.
    NoTokens,
    /// The site has no stylesheet of its own to edit.
    NoStylesheet,
    /// Understood, but nothing in the site would change.
    NothingToChange,
    /// The instruction says "this" and no element was picked.
    NoTarget,
}

/// The instruction could not be turned into a change; `message` says what was understood
/// and how to phrase it, in the instruction's language.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct NotUnderstood {
    pub kind: NotUnderstoodKind,
    pub lang: Lang,
    pub message: String,
    /// Instructions that would work, in the instruction's language.
    pub suggestions: Vec<String>,
}

/// Who a change was for, for the reason text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Subject {
    Kind(SubjectKind),
    Target(String),
}

/// One thing the proposal does, for the reason text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    Set {
        subject: Subject,
        picks: Vec<(Aspect, Pick)>,
        /// The hover/active background that follows a new background.
        hover: Option<Pick>,
        /// The text colour that keeps text readable on a new background.
        contrast: Option<Pick>,
    },
    Scale {
        subject: Subject,
        aspects: Vec<Aspect>,
        up: bool,
    },
    Snap {
        subjects: Vec<SubjectKind>,
        counts: SnapCounts,
        /// Written as `var(--token-path)` with the tokens defined on `:root`.
        as_variables: bool,
        /// Which token each kind of value snapped to (a candidate's recipe).
        choice: SnapChoice,
    },
}

fn subject_label(kind: SubjectKind, lang: Lang) -> &'static str {
    match (lang, kind) {
        (Lang::En, SubjectKind::Buttons) => "buttons",
        (Lang::En, SubjectKind::Headings) => "headings",
        (Lang::En, SubjectKind::Links) => "links",
        (Lang::En, SubjectKind::Text) => "body text",
        (Lang::En, SubjectKind::Page) => "page",
        (Lang::En, SubjectKind::Sidebar) => "sidebar",
        (Lang::En, SubjectKind::Nav) => "navigation",
        (Lang::En, SubjectKind::Cards) => "cards",
        (Lang::En, SubjectKind::Code) => "code",
        (Lang::En, SubjectKind::Inputs) => "form fields",
        (Lang::En, SubjectKind::Content) => "content containers",
        (Lang::Ja, SubjectKind::Buttons) => "ボタン",
        (Lang::Ja, SubjectKind::Headings) => "見出し",
        (Lang::Ja, SubjectKind::Links) => "リンク",
        (Lang::Ja, SubjectKind::Text) => "本文",
        (Lang::Ja, SubjectKind::Page) => "ページ",
        (Lang::Ja, SubjectKind::Sidebar) => "サイドバー",
        (Lang::Ja, SubjectKind::Nav) => "ナビゲーション",
        (Lang::Ja, SubjectKind::Cards) => "カード",
        (Lang::Ja, SubjectKind::Code) => "コード",
        (Lang::Ja, SubjectKind::Inputs) => "入力欄",
        (Lang::Ja, SubjectKind::Content) => "コンテンツ領域",
    }
}

fn subject_text(subject: &Subject, lang: Lang) -> String {
    match (subject, lang) {
        (Subject::Kind(kind), _) => subject_label(*kind, lang).to_string(),
        (Subject::Target(selector), Lang::En) => format!("selected element (`{selector}`)"),
        (Subject::Target(selector), Lang::Ja) => format!("選択した要素（`{selector}`）"),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn aspect_label(aspect: Aspect, lang: Lang) -> &'static str {
    match (lang, aspect) {
        (Lang::En, Aspect::Color) => "text colour",
        (Lang::En, Aspect::BackgroundColor) => "background colour",
        (Lang::En, Aspect::BorderColor) => "border colour",
        (Lang::En, Aspect::FontSize) => "font size",
        (Lang::En, Aspect::FontFamily) => "font family",
        (Lang::En, Aspect::FontWeight) => "font weight",
        (Lang::En, Aspect::Padding) => "padding",
        (Lang::En, Aspect::Margin) => "margin",
        (Lang::En, Aspect::Gap) => "gap",
        (Lang::En, Aspect::Radius) => "corner radius",
        (Lang::Ja, Aspect::Color) => "文字色",
        (Lang::Ja, Aspect::BackgroundColor) => "背景色",
        (Lang::Ja, Aspect::BorderColor) => "枠線の色",
        (Lang::Ja, Aspect::FontSize) => "文字サイズ",
        (Lang::Ja, Aspect::FontFamily) => "フォント",
        (Lang::Ja, Aspect::FontWeight) => "文字の太さ",
        (Lang::Ja, Aspect::Padding) => "内側の余白",
        (Lang::Ja, Aspect::Margin) => "外側の余白",
        (Lang::Ja, Aspect::Gap) => "要素の間隔",
        (Lang::Ja, Aspect::Radius) => "角丸",
    }
}

fn pick_text(pick: &Pick, lang: Lang) -> String {
    match (&pick.token, lang) {
        (Some(token), Lang::En) => format!("token `{token}` ({})", pick.css),
        (Some(token), Lang::Ja) => format!("トークン `{token}`（{}）", pick.css),
        (None, _) => format!("`{}`", pick.css),
    }
}

fn note_text(note: &Note) -> String {
    let selector = note
        .selector
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let note = &Note {
        selector,
        ..note.clone()
    };
    match &note.before {
        Some(before) => format!(
            "{}:{} `{}` {}: {} → {}",
            note.file, note.line, note.selector, note.property, before, note.after
        ),
        None => format!(
            "{}:{} `{}` + {}: {}",
            note.file, note.line, note.selector, note.property, note.after
        ),
    }
}

/// The proposal's reason: what changed and why, then where.
pub(crate) fn reason(lang: Lang, actions: &[Action], notes: &[Note]) -> String {
    let mut out = String::new();
    for action in actions {
        let sentence = match (action, lang) {
            (
                Action::Set {
                    subject,
                    picks,
                    hover,
                    contrast,
                },
                Lang::En,
            ) => {
                let mut parts: Vec<String> = picks
                    .iter()
                    .map(|(aspect, pick)| {
                        format!(
                            "{} \u{2192} {}",
                            aspect_label(*aspect, lang),
                            pick_text(pick, lang)
                        )
                    })
                    .collect();
                if let Some(hover) = hover {
                    parts.push(format!(
                        "hover and active background \u{2192} {}, to match",
                        pick_text(hover, lang)
                    ));
                }
                if let Some(contrast) = contrast {
                    parts.push(format!(
                        "text colour \u{2192} {}, so the text stays readable on the new background",
                        pick_text(contrast, lang)
                    ));
                }
                format!(
                    "{}: {}.",
                    capitalised(&subject_text(subject, lang)),
                    parts.join("; ")
                )
            }
            (
                Action::Set {
                    subject,
                    picks,
                    hover,
                    contrast,
                },
                Lang::Ja,
            ) => {
                let mut parts: Vec<String> = picks
                    .iter()
                    .map(|(aspect, pick)| {
                        format!(
                            "{} \u{2192} {}",
                            aspect_label(*aspect, lang),
                            pick_text(pick, lang)
                        )
                    })
                    .collect();
                if let Some(hover) = hover {
                    parts.push(format!(
                        "ホバー・押下時の背景 \u{2192} {}（合わせて変更）",
                        pick_text(hover, lang)
                    ));
                }
                if let Some(contrast) = contrast {
                    parts.push(format!(
                        "文字色 \u{2192} {}（新しい背景の上でも読みやすいように）",
                        pick_text(contrast, lang)
                    ));
                }
                format!("{}: {}。", subject_text(subject, lang), parts.join("、"))
            }
            (
                Action::Scale {
                    subject,
                    aspects,
                    up,
                },
                Lang::En,
            ) => {
                let labels: Vec<&str> = aspects.iter().map(|f| aspect_label(*f, lang)).collect();
                format!(
                    "{}: {} {} (to the next step of the reference scale where there is one, else in proportion).",
                    capitalised(&subject_text(subject, lang)),
                    labels.join(" and "),
                    if *up { "larger" } else { "smaller" }
                )
            }
            (
                Action::Scale {
                    subject,
                    aspects,
                    up,
                },
                Lang::Ja,
            ) => {
                let labels: Vec<&str> = aspects.iter().map(|f| aspect_label(*f, lang)).collect();
                let spacing = aspects
                    .iter()
                    .all(|f| matches!(f, Aspect::Padding | Aspect::Margin | Aspect::Gap));
                let verb = match (spacing, up) {
                    (true, true) => "広く",
                    (true, false) => "狭く",
                    (false, true) => "大きく",
                    (false, false) => "小さく",
                };
                format!(
                    "{}: {}を{}しました（参照トークンの段階があれば次の段階に、なければ比率で）。",
                    subject_text(subject, lang),
                    labels.join("と"),
                    verb
                )
            }
            (
                Action::Snap {
                    subjects,
                    counts,
                    as_variables,
                    choice,
                },
                Lang::En,
            ) => {
                let scope = if subjects.is_empty() {
                    "the site's CSS".to_string()
                } else {
                    let labels: Vec<&str> =
                        subjects.iter().map(|k| subject_label(*k, lang)).collect();
                    format!("the rules of the {}", labels.join(" and "))
                };
                let mut s = format!(
                    "Snapped {} off-token values in {scope} to their nearest reference tokens, so the site follows the reference ({} colours, {} spacings, {} radii, {} font sizes, {} font families).",
                    counts.total(),
                    counts.colors,
                    counts.spacing,
                    counts.radii,
                    counts.font_sizes,
                    counts.families
                );
                if counts.runner_ups > 0 {
                    let _ = write!(
                        s,
                        " {} of them were about as near to a second token and took that one instead.",
                        counts.runner_ups
                    );
                }
                match (choice.colors, choice.lengths) {
                    (SnapTo::Leave, _) => s.push_str(" Colours were left as they are."),
                    (_, SnapTo::Leave) if !choice.families => s.push_str(
                        " Only colours were snapped; spacings, radii, font sizes and families were left as they are.",
                    ),
                    _ => {}
                }
                if *as_variables {
                    s.push_str(" The values are written as CSS custom properties named after the tokens (`var(--color-brand-primary)`), defined on `:root`.");
                }
                if counts.kept_monospace > 0 {
                    let _ = write!(
                        s,
                        " Kept {} monospace font stacks: the reference has no monospace family.",
                        counts.kept_monospace
                    );
                }
                s
            }
            (
                Action::Snap {
                    subjects,
                    counts,
                    as_variables,
                    choice,
                },
                Lang::Ja,
            ) => {
                let scope = if subjects.is_empty() {
                    "サイトの CSS で".to_string()
                } else {
                    let labels: Vec<&str> =
                        subjects.iter().map(|k| subject_label(*k, lang)).collect();
                    format!("{}のルールで", labels.join("と"))
                };
                let mut s = format!(
                    "{scope}トークンから外れていた値 {} 件を、最も近い参照トークンの値に合わせました（色 {}、余白 {}、角丸 {}、文字サイズ {}、フォント {}）。",
                    counts.total(),
                    counts.colors,
                    counts.spacing,
                    counts.radii,
                    counts.font_sizes,
                    counts.families
                );
                if counts.runner_ups > 0 {
                    let _ = write!(
                        s,
                        "そのうち {} 件は二番目に近いトークンもほぼ同じ近さだったため、そちらに合わせました。",
                        counts.runner_ups
                    );
                }
                match (choice.colors, choice.lengths) {
                    (SnapTo::Leave, _) => s.push_str("色はそのままにしました。"),
                    (_, SnapTo::Leave) if !choice.families => s.push_str(
                        "色だけを合わせ、余白・角丸・文字サイズ・フォントはそのままにしました。",
                    ),
                    _ => {}
                }
                if *as_variables {
                    s.push_str("値はトークン名の CSS カスタムプロパティ（`var(--color-brand-primary)` など）として書き、`:root` に定義しました。");
                }
                if counts.kept_monospace > 0 {
                    let _ = write!(
                        s,
                        "等幅フォント {} 件は、参照に等幅フォントがないためそのままにしました。",
                        counts.kept_monospace
                    );
                }
                s
            }
        };
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&sentence);
    }
    const SHOWN: usize = 8;
    let listed: Vec<String> = notes.iter().take(SHOWN).map(note_text).collect();
    if !listed.is_empty() {
        match lang {
            Lang::En => {
                let _ = write!(out, "\nChanges: {}", listed.join("; "));
                if notes.len() > SHOWN {
                    let _ = write!(out, "; and {} more", notes.len() - SHOWN);
                }
                out.push('.');
            }
            Lang::Ja => {
                let _ = write!(out, "\n変更箇所: {}", listed.join("、"));
                if notes.len() > SHOWN {
                    let _ = write!(out, "（ほか {} 件）", notes.len() - SHOWN);
                }
                out.push('。');
            }
        }
    }
    out
}

const FREE_FORM_EN: &str = "For free-form requests, switch the session's proposer to Nova (`bedrock`) or an OpenAI-compatible model (`openai`).";
const FREE_FORM_JA: &str = "自由な表現の依頼は、セッションの提案エンジンを Nova（`bedrock`）または OpenAI 互換モデル（`openai`）に切り替えてください。";

/// A phrase naming a colour token by its words (`brand primary`).
fn token_phrase(path: &str) -> String {
    path.split('.')
        .filter(|s| !matches!(*s, "color" | "colors" | "colour" | "palette"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Colour tokens worth suggesting: semantic ones first, the plain member of a group
/// (`primary`) before its variants.
fn color_examples(tokens: &[ResolvedToken]) -> Vec<String> {
    let mut colors: Vec<&ResolvedToken> =
        tokens.iter().filter(|t| t.token_type == "color").collect();
    let plain = |t: &ResolvedToken| {
        t.path
            .rsplit('.')
            .next()
            .is_some_and(|leaf| matches!(leaf, "primary" | "default" | "base" | "main"))
    };
    colors.sort_by_key(|t| {
        (
            t.alias_of.is_none(),
            t.path.contains("hover"),
            !plain(t),
            t.path.clone(),
        )
    });
    colors
        .iter()
        .take(2)
        .map(|t| token_phrase(&t.path))
        .collect()
}

fn suggestions(lang: Lang, subject: Option<SubjectKind>, tokens: &[ResolvedToken]) -> Vec<String> {
    let phrase = color_examples(tokens).into_iter().next();
    let has_tokens = !tokens.is_empty();
    let has_fonts = tokens.iter().any(|t| t.token_type == "fontFamily");
    let text_like = matches!(
        subject,
        Some(SubjectKind::Headings | SubjectKind::Text | SubjectKind::Links | SubjectKind::Code)
    );
    let mut out = Vec::new();
    match lang {
        Lang::En => {
            let color = match &phrase {
                Some(p) => format!("the {p} colour"),
                None => "#4f46e5".to_string(),
            };
            match subject {
                None => {
                    out.push(format!("make the buttons {color}"));
                    out.push("bigger headings".to_string());
                    out.push("more padding".to_string());
                    out.push("round the corners".to_string());
                }
                Some(kind) => {
                    let s = subject_label(kind, lang);
                    out.push(format!("make the {s} {color}"));
                    out.push(format!("bigger {s}"));
                    if text_like {
                        out.push(format!("bold {s}"));
                        out.push(if has_fonts {
                            format!("use the brand font for the {s}")
                        } else {
                            format!("smaller {s}")
                        });
                    } else {
                        out.push(format!("more padding on the {s}"));
                        out.push(format!("round the corners of the {s}"));
                    }
                }
            }
            out.push(
                if has_tokens {
                    "use the design tokens"
                } else {
                    "dark background"
                }
                .to_string(),
            );
        }
        Lang::Ja => {
            let color = match &phrase {
                Some(p) if p.contains("brand") => "ブランドカラー".to_string(),
                Some(p) => format!("{p}の色"),
                None => "#4f46e5".to_string(),
            };
            match subject {
                None => {
                    out.push(format!("ボタンを{color}に"));
                    out.push("見出しをもっと大きく".to_string());
                    out.push("余白を広く".to_string());
                    out.push("角を丸く".to_string());
                }
                Some(kind) => {
                    let s = subject_label(kind, lang);
                    out.push(format!("{s}を{color}に"));
                    out.push(format!("{s}をもっと大きく"));
                    if text_like {
                        out.push(format!("{s}を太字に"));
                        out.push(if has_fonts {
                            format!("{s}のフォントをブランドフォントに")
                        } else {
                            format!("{s}を小さく")
                        });
                    } else {
                        out.push(format!("{s}の余白を広く"));
                        out.push(format!("{s}の角を丸く"));
                    }
                }
            }
            out.push(
                if has_tokens {
                    "トークンに合わせて"
                } else {
                    "背景を暗く"
                }
                .to_string(),
            );
        }
    }
    out
}

fn compose(
    lang: Lang,
    kind: NotUnderstoodKind,
    instruction: &str,
    understood: &str,
    suggestions: Vec<String>,
) -> NotUnderstood {
    let quoted = instruction.trim();
    let mut message = String::new();
    match lang {
        Lang::En => {
            let _ = writeln!(
                message,
                "The built-in proposer could not act on \u{201c}{quoted}\u{201d}."
            );
            let _ = writeln!(message, "Understood: {understood}");
            if !suggestions.is_empty() {
                let _ = writeln!(message, "Try, for example:");
                for s in &suggestions {
                    let _ = writeln!(message, "  - {s}");
                }
            }
            message.push_str(FREE_FORM_EN);
        }
        Lang::Ja => {
            let _ = writeln!(
                message,
                "組み込みの提案エンジンは「{quoted}」を実行できませんでした。"
            );
            let _ = writeln!(message, "理解できたこと: {understood}");
            if !suggestions.is_empty() {
                let _ = writeln!(message, "次のように指示してみてください:");
                for s in &suggestions {
                    let _ = writeln!(message, "  - {s}");
                }
            }
            message.push_str(FREE_FORM_JA);
        }
    }
    NotUnderstood {
        kind,
        lang,
        message,
        suggestions,
    }
}

/// An instruction with no change the proposer knows.
pub(crate) fn unrecognised(
    instruction: &str,
    partial: &Partial,
    tokens: &[ResolvedToken],
) -> NotUnderstood {
    let lang = partial.lang;
    let subjects: Vec<&str> = partial
        .subjects
        .iter()
        .map(|k| subject_label(*k, lang))
        .collect();
    let (kind, understood) = match (lang, partial.aspect, subjects.is_empty()) {
        (Lang::En, Some(aspect), _) => (
            NotUnderstoodKind::MissingValue,
            format!(
                "a {} change{}, but not to what value. Name a colour (`#ff0000`, `red`) or a reference token{}.",
                match aspect {
                    "color" => "colour",
                    other => other,
                },
                if subjects.is_empty() { String::new() } else { format!(" for the {}", subjects.join(" and ")) },
                match color_examples(tokens).as_slice() {
                    [] => String::new(),
                    examples => format!(" (`{}`)", examples.join("`, `")),
                }
            ),
        ),
        (Lang::Ja, Some(aspect), _) => (
            NotUnderstoodKind::MissingValue,
            format!(
                "{}{}の変更ですが、値が分かりませんでした。色（`#ff0000`、赤など）か参照トークン{}を指定してください。",
                if subjects.is_empty() { String::new() } else { format!("{}の", subjects.join("と")) },
                match aspect {
                    "color" => "色",
                    "size" => "サイズ",
                    _ => "フォント",
                },
                match color_examples(tokens).as_slice() {
                    [] => String::new(),
                    examples => format!("（`{}`）", examples.join("`、`")),
                }
            ),
        ),
        (Lang::En, None, false) => (
            NotUnderstoodKind::Unrecognised,
            format!(
                "the {}, but no change it knows (colour, size, spacing, corners, font, weight, or matching the design tokens).",
                subjects.join(" and ")
            ),
        ),
        (Lang::Ja, None, false) => (
            NotUnderstoodKind::Unrecognised,
            format!(
                "対象は{}ですが、変更内容（色・サイズ・余白・角丸・フォント・太さ、またはトークンに合わせる）が読み取れませんでした。",
                subjects.join("と")
            ),
        ),
        (Lang::En, None, true) => (
            NotUnderstoodKind::Unrecognised,
            "nothing it can act on. It understands changes of colour, size, spacing, corners, font and weight of buttons, headings, links, text, the page and other common parts, and \u{201c}use the design tokens\u{201d}.".to_string(),
        ),
        (Lang::Ja, None, true) => (
            NotUnderstoodKind::Unrecognised,
            "対象も変更内容も読み取れませんでした。ボタン・見出し・リンク・本文・ページなどの色・サイズ・余白・角丸・フォント・太さの変更と、「トークンに合わせて」に対応しています。".to_string(),
        ),
    };
    compose(
        lang,
        kind,
        instruction,
        &understood,
        suggestions(lang, partial.subjects.first().copied(), tokens),
    )
}

/// A colour named by words no token has.
pub(crate) fn unknown_color(
    instruction: &str,
    lang: Lang,
    tokens: &[ResolvedToken],
) -> NotUnderstood {
    let examples = color_examples(tokens);
    let understood = match (lang, examples.is_empty()) {
        (Lang::En, true) => "a colour change to a reference colour, but the reference has no colour tokens. Name the colour (`#4f46e5`, `indigo`) or set a reference.".to_string(),
        (Lang::En, false) => format!("a colour change, but no reference colour token has those words. The reference has e.g. `{}`.", examples.join("`, `")),
        (Lang::Ja, true) => "参照カラーへの変更ですが、参照にカラートークンがありません。色を直接指定するか（`#4f46e5` など）、参照を設定してください。".to_string(),
        (Lang::Ja, false) => format!("色の変更ですが、その言葉に合う参照カラートークンがありません。参照には例えば `{}` があります。", examples.join("`、`")),
    };
    compose(
        lang,
        NotUnderstoodKind::MissingValue,
        instruction,
        &understood,
        suggestions(lang, None, tokens),
    )
}

/// A font change to "the brand font" with no font tokens.
pub(crate) fn no_font_tokens(instruction: &str, lang: Lang) -> NotUnderstood {
    let (understood, suggestions) = match lang {
        Lang::En => (
            "a font change to the reference font, but the reference has no fontFamily tokens. Name the font in quotes.",
            vec!["use the \"Inter\" font".to_string(), "serif headings font".to_string()],
        ),
        Lang::Ja => (
            "参照フォントへの変更ですが、参照に fontFamily トークンがありません。フォント名を \"\" で囲んで指定してください。",
            vec!["フォントを\"Noto Sans JP\"に".to_string(), "見出しのフォントを明朝に".to_string()],
        ),
    };
    compose(
        lang,
        NotUnderstoodKind::MissingValue,
        instruction,
        understood,
        suggestions,
    )
}

/// "Use the tokens" without tokens.
pub(crate) fn no_tokens(instruction: &str, lang: Lang) -> NotUnderstood {
    let understood = match lang {
        Lang::En => "matching the design tokens, but this session has no reference tokens. Upload them with `reference/set` (tokens JSON or a zip), then try again.",
        Lang::Ja => "デザイントークンに合わせる指示ですが、このセッションには参照トークンがありません。`reference/set` でトークン（JSON または zip）を設定してから再度お試しください。",
    };
    compose(
        lang,
        NotUnderstoodKind::NoTokens,
        instruction,
        understood,
        Vec::new(),
    )
}

/// A site without a stylesheet of its own.
pub(crate) fn no_stylesheet(instruction: &str, lang: Lang) -> NotUnderstood {
    let understood = match lang {
        Lang::En => "the instruction, but the site has no stylesheet of its own to edit (only minified, vendored or no CSS).",
        Lang::Ja => "指示は理解しましたが、編集できるサイト自身のスタイルシートがありません（CSS がないか、圧縮済み・外部ライブラリのみです）。",
    };
    compose(
        lang,
        NotUnderstoodKind::NoStylesheet,
        instruction,
        understood,
        Vec::new(),
    )
}

/// "Make this bigger" with no element picked: which element "this" is cannot be known.
pub(crate) fn no_target(instruction: &str, lang: Lang) -> NotUnderstood {
    let understood = match lang {
        Lang::En => "the change, but \u{201c}this\u{201d} points at an element and none was picked. Pick an element first (pick mode in the preview), or name the elements (\u{201c}make the headings bigger\u{201d}).",
        Lang::Ja => "変更内容は理解しましたが、「これ」が指す要素が選ばれていません。先にプレビューで要素を選択するか（選択モード）、要素を名前で指定してください（「見出しを大きく」）。",
    };
    compose(
        lang,
        NotUnderstoodKind::NoTarget,
        instruction,
        understood,
        Vec::new(),
    )
}

/// What the reason adds for an edited rule that styles other elements too.
pub(crate) fn shared_rule_note(
    lang: Lang,
    selector: &str,
    file: &str,
    line: u32,
    others: u32,
) -> String {
    match lang {
        Lang::En => format!(
            " Note: `{selector}` ({file}:{line}) also styles {others} other element{} on the page, which change too.",
            if others == 1 { "" } else { "s" }
        ),
        Lang::Ja => format!(
            " 注意: `{selector}`（{file}:{line}）はページ上のほかの {others} 個の要素にも適用されるため、それらも変わります。"
        ),
    }
}

/// Understood, but the site already is that way (or has nothing it applies to).
pub(crate) fn nothing_to_change(
    instruction: &str,
    lang: Lang,
    actions: &[Action],
) -> NotUnderstood {
    let understood = match (lang, actions.iter().any(|a| matches!(a, Action::Snap { .. }))) {
        (Lang::En, true) => "matching the design tokens; every value is already on-token, so there is nothing to change.",
        (Lang::En, false) => "the instruction, but no rule of the site would change: it is already so, nothing on the site matches, or a utility class with `!important` sets it on the element (change that class in the markup).",
        (Lang::Ja, true) => "トークンに合わせる指示ですが、すべての値がすでにトークンどおりのため、変更はありません。",
        (Lang::Ja, false) => "指示は理解しましたが、変更されるルールがありません（すでにその状態か、該当する要素がないか、`!important` 付きのユーティリティクラスが指定しています。その場合はマークアップのクラスを変更してください）。",
    };
    compose(
        lang,
        NotUnderstoodKind::NothingToChange,
        instruction,
        understood,
        Vec::new(),
    )
}

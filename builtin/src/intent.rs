//! Reading an instruction: which elements (buttons, headings …), what changes (colour, size,
//! spacing, corners, font, weight, or snapping to the tokens) and to what (`#ff0000`, a token
//! named by its words, "dark", "bigger"). English and Japanese are read together, so mixed
//! text (`h1を#ff0000に`) works. Deterministic keyword tables: text naming no known change is
//! reported with what was recognised, never guessed at.

use devflow_reference::color::parse_color_str;

/// The language the answer is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ja,
}

/// What the instruction is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum SubjectKind {
    Buttons,
    Headings,
    Links,
    Text,
    Page,
    Sidebar,
    Nav,
    Cards,
    Code,
    Inputs,
    Content,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColorRole {
    Text,
    Background,
    Border,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Amount {
    Slight,
    Normal,
    Strong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpacingKind {
    Padding,
    Margin,
    Gap,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ColorChoice {
    /// A colour written in the instruction (`#ff0000`, `rgb(…)`), as CSS.
    Literal(String),
    /// A CSS colour name (`red`, from 赤 too); a token with that name wins.
    Named(String),
    /// Words that should name a token (`brand primary`).
    Words,
    Dark,
    Light,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RadiusChange {
    Round(Amount),
    Less(Amount),
    Square,
    Pill,
    Exact(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FamilyChoice {
    /// A family named in quotes.
    Literal(String),
    /// `serif`, `sans-serif`, `monospace`, `system-ui`.
    Generic(&'static str),
    /// Token words (`brand`, `heading`) or nothing: the reference's family for the role.
    Words,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// Snap every off-token value to its nearest token.
    Snap,
    Color {
        role: Option<ColorRole>,
        choice: ColorChoice,
    },
    Size {
        direction: Direction,
        amount: Amount,
        exact: Option<String>,
    },
    Spacing {
        kind: Option<SpacingKind>,
        direction: Direction,
        amount: Amount,
        exact: Option<String>,
    },
    Radius(RadiusChange),
    Family(FamilyChoice),
    Weight {
        bold: bool,
    },
}

/// An instruction as understood.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Intent {
    pub lang: Lang,
    pub subjects: Vec<SubjectKind>,
    /// `h1` … `h6` when one heading level was named.
    pub heading_level: Option<u8>,
    pub change: Change,
    /// Lowercase English words (Japanese mapped to English) to name tokens with.
    pub words: Vec<String>,
    /// "as CSS custom properties" was asked for.
    pub as_variables: bool,
    /// The instruction points at an element ("this", "this element", 「これ」「この見出し」):
    /// it needs the element a person picked in the preview.
    pub deictic: bool,
}

/// What could be read from an instruction that did not make a whole change.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Partial {
    pub lang: Lang,
    pub subjects: Vec<SubjectKind>,
    /// The aspect was recognised but its value was not (`change the button colour`).
    pub aspect: Option<&'static str>,
}

pub(crate) fn read(instruction: &str) -> Result<Intent, Partial> {
    let text = normalize(instruction);
    let lang = if text.chars().any(is_japanese) {
        Lang::Ja
    } else {
        Lang::En
    };
    let words = english_words(&text);
    let has = |list: &[&str]| list.iter().any(|w| words.iter().any(|x| x == w));
    let has_prefix = |list: &[&str]| list.iter().any(|w| words.iter().any(|x| x.starts_with(w)));
    let ja = |list: &[&str]| list.iter().any(|w| text.contains(w));
    let phrase = |list: &[&str]| {
        let joined = format!(" {} ", words.join(" "));
        list.iter().any(|p| joined.contains(&format!(" {p} ")))
    };

    // Which elements.
    let mut subjects = Vec::new();
    let mut push = |kind: SubjectKind, yes: bool| {
        if yes && !subjects.contains(&kind) {
            subjects.push(kind);
        }
    };
    let heading_level = words.iter().find_map(|w| match w.as_str() {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    });
    let heading_level = heading_level.or_else(|| ja(&["大見出し"]).then_some(1));
    push(
        SubjectKind::Buttons,
        has(&["button", "btn", "cta"]) || ja(&["ボタン"]),
    );
    push(
        SubjectKind::Headings,
        heading_level.is_some()
            || has(&["heading", "headline", "title"])
            || ja(&["見出し", "タイトル", "表題"]),
    );
    push(
        SubjectKind::Links,
        has(&["link", "hyperlink", "anchor"]) || ja(&["リンク"]),
    );
    push(
        SubjectKind::Sidebar,
        has(&["sidebar", "aside"])
            || phrase(&["side bar", "side nav"])
            || ja(&["サイドバー", "サイドメニュー"]),
    );
    push(
        SubjectKind::Nav,
        has(&["nav", "navbar", "navigation", "menu", "header", "toolbar"])
            || ja(&["ナビ", "メニュー", "ヘッダー"]),
    );
    push(
        SubjectKind::Cards,
        has(&["card", "panel", "tile"]) || ja(&["カード", "パネル"]),
    );
    push(
        SubjectKind::Code,
        has(&["code", "snippet"]) || ja(&["コード"]),
    );
    push(
        SubjectKind::Inputs,
        has(&["input", "field", "form", "textarea", "textbox"]) || ja(&["入力", "フォーム"]),
    );
    push(
        SubjectKind::Content,
        has(&["content", "container", "section", "layout", "wrapper"])
            || ja(&["コンテンツ", "セクション", "レイアウト", "コンテナ"]),
    );
    let text_words = has(&["text", "copy", "paragraph", "prose"])
        || phrase(&["body text"])
        || ja(&["本文", "テキスト", "文字", "文章", "段落"]);
    let page_words = has(&["page", "site", "website", "everything", "whole", "overall"])
        || ja(&["ページ", "全体", "サイト", "画面"]);

    // What changes.
    let background_words =
        has(&["background", "bg", "backdrop", "fill"]) || ja(&["背景", "地色", "塗り"]);
    let border_words = has(&["border", "outline", "stroke"]) || ja(&["枠", "ボーダー", "線", "縁"]);
    let color_noun = has(&["color", "colour", "hue", "tint"]) || ja(&["色", "カラー"]);
    let font_noun =
        has(&["font", "typeface", "typography", "font-family"]) || ja(&["フォント", "書体"]);
    let size_noun = has(&["size", "font-size"]) || ja(&["サイズ"]);
    let weight_noun = has(&["weight", "font-weight"]) || ja(&["ウェイト", "太さ"]);
    let strong = has(&[
        "much",
        "lot",
        "way",
        "significantly",
        "considerably",
        "far",
        "very",
        "really",
        "huge",
    ]) || ja(&[
        "かなり",
        "大幅",
        "ずっと",
        "すごく",
        "とても",
        "もっともっと",
    ]);
    let slight = has(&["slightly", "bit", "little", "touch", "tad", "somewhat"])
        || ja(&[
            "少し",
            "ちょっと",
            "やや",
            "若干",
            "少々",
            "わずか",
            "心持ち",
        ]);
    let amount = if slight {
        Amount::Slight
    } else if strong {
        Amount::Strong
    } else {
        Amount::Normal
    };
    let up = has(&[
        "bigger", "larger", "big", "large", "huge", "enlarge", "increase", "grow", "more", "wider",
        "higher", "raise", "boost", "expand", "looser", "loose", "airier", "airy", "roomier",
        "roomy", "spacious", "generous", "extra", "add",
    ]) || ja(&[
        "大きく",
        "大きめ",
        "拡大",
        "広く",
        "広げ",
        "広め",
        "増や",
        "ゆったり",
        "多く",
        "多め",
        "ゆとり",
        "余裕",
    ]);
    let down = has(&[
        "smaller", "small", "tiny", "shrink", "reduce", "decrease", "less", "fewer", "lower",
        "tighter", "tight", "narrower", "compact", "denser", "dense", "condense", "trim",
    ]) || ja(&[
        "小さく",
        "小さめ",
        "縮小",
        "狭く",
        "狭め",
        "詰め",
        "減ら",
        "少なく",
        "控えめ",
        "縮め",
    ]);
    let direction = if down && !up {
        Some(Direction::Down)
    } else if up {
        Some(Direction::Up)
    } else {
        None
    };
    let size_words = has(&[
        "bigger", "larger", "big", "large", "huge", "enlarge", "smaller", "small", "tiny", "shrink",
    ]) || ja(&["大きく", "大きめ", "拡大", "小さく", "小さめ", "縮小"]);

    let radius_words = has_prefix(&["corner", "radius", "round", "pill", "capsule"])
        || has(&["square", "sharp"])
        || ja(&["角", "丸", "四角", "カプセル", "ピル"]);
    let spacing_noun = has(&[
        "padding",
        "margin",
        "margins",
        "spacing",
        "space",
        "whitespace",
        "gap",
        "gaps",
        "gutter",
        "room",
        "air",
        "breathing",
    ]) || phrase(&["white space"])
        || ja(&[
            "余白",
            "間隔",
            "パディング",
            "マージン",
            "スペース",
            "隙間",
            "すき間",
            "ゆとり",
        ]);
    let spacing_adjective = has(&[
        "tighter", "tight", "compact", "denser", "dense", "cramped", "airy", "airier", "spacious",
        "roomy", "roomier", "looser", "loose",
    ]) || ja(&["詰め", "ゆったり", "窮屈"]);
    let bold_words = has(&["bold", "bolder", "heavier", "stronger"])
        || ja(&["太字", "太く", "太め", "ボールド"]);
    let regular_words = phrase(&[
        "not bold",
        "normal weight",
        "regular weight",
        "lighter weight",
    ]) || has(&["unbold", "thinner"])
        || ja(&["細く", "細字", "細め"]);
    let dark_words = has(&["dark", "darker", "darken", "dim", "dimmer"])
        || ja(&[
            "暗く",
            "暗い",
            "暗め",
            "ダーク",
            "黒っぽ",
            "濃く",
            "濃い",
            "濃い目",
        ]);
    let light_words = !weight_noun
        && (has(&[
            "light", "lighter", "lighten", "bright", "brighter", "brighten", "pale",
        ]) || ja(&[
            "明るく",
            "明るい",
            "明るめ",
            "ライト",
            "白っぽ",
            "淡く",
            "薄く",
        ]));
    let snap_noun = has(&["token", "reference", "frontswatch", "on-token", "swatch"])
        || phrase(&["design system", "style guide", "on token"])
        || ja(&[
            "トークン",
            "リファレンス",
            "デザインシステム",
            "見本",
            "お手本",
            "デザイン通り",
            "デザインどおり",
            "ガイドライン",
        ]);
    let as_variables = phrase(&[
        "custom property",
        "custom properties",
        "css variable",
        "css variables",
        "as variables",
    ]) || ja(&["CSS変数", "css変数", "カスタムプロパティ"]);

    let literal_color = find_color_literal(&text);
    let named_color = find_named_color(&words, &text);
    let exact_length = find_length(&text);
    let family_literal = find_quoted(instruction);
    let generic_family = find_generic_family(&words, &text);
    let mut vocabulary = words.clone();
    vocabulary.extend(japanese_vocabulary(&text));
    let token_words = vocabulary.iter().any(|w| {
        matches!(
            w.as_str(),
            "brand"
                | "primary"
                | "secondary"
                | "accent"
                | "muted"
                | "tertiary"
                | "highlight"
                | "success"
                | "danger"
                | "warning"
                | "info"
                | "neutral"
        )
    });

    // With a colour noun, other words may name a token (`the font base colour`).
    const NOT_TOKEN_WORDS: &[&str] = &[
        "the",
        "a",
        "an",
        "make",
        "change",
        "set",
        "use",
        "turn",
        "to",
        "in",
        "on",
        "of",
        "for",
        "and",
        "with",
        "it",
        "this",
        "that",
        "these",
        "please",
        "be",
        "all",
        "my",
        "our",
        "your",
        "its",
        "color",
        "colour",
        "hue",
        "tint",
        "button",
        "btn",
        "heading",
        "headline",
        "title",
        "link",
        "text",
        "page",
        "site",
        "background",
        "bg",
        "border",
        "outline",
        "fill",
        "into",
        "should",
        "could",
        "would",
        "can",
        "want",
        "like",
        "some",
        "different",
        "another",
        "new",
        "other",
        "sidebar",
        "nav",
        "navbar",
        "menu",
        "card",
        "code",
        "input",
        "field",
        "form",
        "content",
        "container",
        "body",
        "copy",
    ];
    let token_candidates = color_noun
        && vocabulary.iter().any(|w| {
            w.len() >= 3
                && w.chars().all(|c| c.is_ascii_alphabetic())
                && !NOT_TOKEN_WORDS.contains(&w.as_str())
        });
    let color_value = literal_color
        .clone()
        .map(ColorChoice::Literal)
        .or_else(|| named_color.clone().map(ColorChoice::Named))
        .or_else(|| dark_words.then_some(ColorChoice::Dark))
        .or_else(|| light_words.then_some(ColorChoice::Light))
        .or_else(|| (token_words || token_candidates).then_some(ColorChoice::Words));

    let role = if background_words {
        Some(ColorRole::Background)
    } else if border_words && !radius_words {
        Some(ColorRole::Border)
    } else if text_words && !subjects.is_empty() {
        Some(ColorRole::Text)
    } else {
        None
    };

    let change = if snap_noun
        && literal_color.is_none()
        && named_color.is_none()
        && !radius_words
        && !spacing_noun
        && !size_words
        && !(font_noun && !token_words && generic_family.is_none())
        && !bold_words
        && !dark_words
        && !light_words
    {
        Some(Change::Snap)
    } else if radius_words && !(color_noun && color_value.is_some()) {
        let square = has(&["square", "sharp"])
            || phrase(&["no rounding", "not rounded", "no radius", "remove rounding"])
            || ja(&[
                "四角",
                "角張",
                "角丸をなく",
                "角丸なし",
                "丸みをなく",
                "直角",
            ]);
        let pill = has_prefix(&["pill", "capsule"])
            || phrase(&["fully rounded", "fully round", "completely rounded"])
            || ja(&["カプセル", "ピル", "完全に丸"]);
        Some(Change::Radius(if square {
            RadiusChange::Square
        } else if pill {
            RadiusChange::Pill
        } else if let Some(exact) = exact_length.clone() {
            RadiusChange::Exact(exact)
        } else if direction == Some(Direction::Down) {
            RadiusChange::Less(amount)
        } else {
            RadiusChange::Round(amount)
        }))
    } else if spacing_noun || spacing_adjective {
        let kind = if has(&["padding"]) || ja(&["パディング", "内側"]) {
            Some(SpacingKind::Padding)
        } else if has(&["margin", "margins"]) || ja(&["マージン", "外側"]) {
            Some(SpacingKind::Margin)
        } else if has(&["gap", "gaps", "gutter"]) {
            Some(SpacingKind::Gap)
        } else {
            None
        };
        let tight = has(&["tighter", "tight", "compact", "denser", "dense"]) || ja(&["詰め"]);
        let direction = if tight {
            Some(Direction::Down)
        } else {
            direction
        };
        match (direction, exact_length.clone()) {
            (_, Some(exact)) => Some(Change::Spacing {
                kind,
                direction: Direction::Up,
                amount,
                exact: Some(exact),
            }),
            (Some(direction), None) => Some(Change::Spacing {
                kind,
                direction,
                amount,
                exact: None,
            }),
            (None, None) => None,
        }
    } else if font_noun && !size_noun && !size_words && !color_noun && !weight_noun && !bold_words {
        Some(Change::Family(if let Some(name) = family_literal {
            FamilyChoice::Literal(name)
        } else if let Some(generic) = generic_family {
            FamilyChoice::Generic(generic)
        } else {
            FamilyChoice::Words
        }))
    } else if bold_words || regular_words {
        Some(Change::Weight {
            bold: bold_words && !regular_words,
        })
    } else if size_words || (size_noun && (direction.is_some() || exact_length.is_some())) {
        Some(Change::Size {
            direction: direction.unwrap_or(Direction::Up),
            amount,
            exact: exact_length.clone(),
        })
    } else {
        color_value.map(|choice| Change::Color { role, choice })
    };

    // "the button text" is the buttons' text colour; "text" alone is the body text.
    if text_words && subjects.is_empty() {
        subjects.push(SubjectKind::Text);
    }
    if page_words && subjects.is_empty() {
        subjects.push(SubjectKind::Page);
    }

    match change {
        Some(change) => Ok(Intent {
            lang,
            subjects,
            heading_level,
            change,
            words: vocabulary,
            as_variables,
            deictic: is_deictic(&text, &words),
        }),
        None => Err(Partial {
            lang,
            subjects,
            aspect: if color_noun || background_words || border_words {
                Some("color")
            } else if size_noun {
                Some("size")
            } else if font_noun {
                Some("font")
            } else {
                None
            },
        }),
    }
}

fn is_japanese(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30FF}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{FF66}'..='\u{FF9F}')
}

/// Lowercase with full-width ASCII folded to ASCII (`＃ＦＦ００００` → `#ff0000`).
pub(crate) fn normalize(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            '\u{2018}' | '\u{2019}' => '\'',
            '\u{201C}' | '\u{201D}' => '"',
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The ASCII words of the text, with simple plurals folded (`buttons` → `button`).
fn english_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .map(|w| w.trim_matches('-'))
        .filter(|w| !w.is_empty())
        .map(|w| {
            let stem = if w.len() > 4 && w.ends_with("ies") {
                format!("{}y", &w[..w.len() - 3])
            } else if w.len() > 3
                && w.ends_with('s')
                && !w.ends_with("ss")
                && !matches!(
                    w,
                    "less" | "tokens" | "this" | "its" | "bus" | "gaps" | "margins"
                )
            {
                w[..w.len() - 1].to_string()
            } else {
                w.to_string()
            };
            if w == "tokens" {
                "token".to_string()
            } else {
                stem
            }
        })
        .collect()
}

/// Japanese words mapped to the English words token paths use.
fn japanese_vocabulary(text: &str) -> Vec<String> {
    const MAP: &[(&str, &[&str])] = &[
        ("ブランド", &["brand"]),
        ("プライマリ", &["primary"]),
        ("メインカラー", &["primary"]),
        ("メイン", &["primary"]),
        ("主要", &["primary"]),
        ("セカンダリ", &["secondary"]),
        ("アクセント", &["accent"]),
        ("ミュート", &["muted"]),
        ("背景", &["background", "surface"]),
        ("文字", &["text"]),
        ("テキスト", &["text"]),
        ("本文", &["body", "text"]),
        ("見出し", &["heading"]),
        ("ボタン", &["button"]),
        ("リンク", &["link"]),
        ("枠", &["border"]),
        ("ボーダー", &["border"]),
        ("成功", &["success"]),
        ("危険", &["danger"]),
        ("警告", &["warning"]),
        ("情報", &["info"]),
        ("明朝", &["serif"]),
        ("ゴシック", &["sans"]),
        ("等幅", &["mono", "monospace"]),
    ];
    MAP.iter()
        .filter(|(ja, _)| text.contains(ja))
        .flat_map(|(_, en)| en.iter().map(|w| w.to_string()))
        .collect()
}

/// `#rgb`/`#rrggbb`/`#rrggbbaa` or an `rgb()`/`hsl()` function written in the text.
fn find_color_literal(text: &str) -> Option<String> {
    for (at, _) in text.match_indices('#') {
        let hex: String = text[at + 1..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        if matches!(hex.len(), 3 | 4 | 6 | 8) {
            let literal = format!("#{hex}");
            if parse_color_str(&literal).is_some() {
                return Some(literal);
            }
        }
    }
    for function in ["rgba(", "rgb(", "hsla(", "hsl("] {
        if let Some(at) = text.find(function) {
            if let Some(close) = text[at..].find(')') {
                let literal = &text[at..=at + close];
                if parse_color_str(literal).is_some() {
                    return Some(literal.to_string());
                }
            }
        }
    }
    None
}

/// A CSS colour name in the English words, or a Japanese colour word.
fn find_named_color(words: &[String], text: &str) -> Option<String> {
    const JAPANESE: &[(&str, &str)] = &[
        ("赤", "red"),
        ("青", "blue"),
        ("緑", "green"),
        ("黄", "yellow"),
        ("白", "white"),
        ("黒", "black"),
        ("灰", "gray"),
        ("グレー", "gray"),
        ("紫", "purple"),
        ("オレンジ", "orange"),
        ("橙", "orange"),
        ("ピンク", "pink"),
        ("茶", "brown"),
        ("紺", "navy"),
        ("水色", "skyblue"),
    ];
    // Words that are CSS colour names but mean something else in an instruction.
    const NOT_COLORS: &[&str] = &["tan", "linen", "snow", "transparent", "currentcolor"];
    words
        .iter()
        .filter(|w| w.chars().all(|c| c.is_ascii_alphabetic()) && !NOT_COLORS.contains(&w.as_str()))
        .find(|w| parse_color_str(w).is_some())
        .cloned()
        .or_else(|| {
            // 白っぽく / 黒っぽく are light/dark, not white/black.
            JAPANESE
                .iter()
                .filter(|(ja, _)| {
                    text.contains(ja)
                        && !text.contains(&format!("{ja}っぽ"))
                        && !(*ja == "黄" && text.contains("黄色っぽ"))
                })
                .map(|(_, en)| en.to_string())
                .next()
        })
}

/// A length written in the text (`24px`, `1.5rem`).
fn find_length(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit()
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'#')
        {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let number = &text[start..i];
            for unit in ["px", "rem", "em"] {
                if text[i..].starts_with(unit)
                    && !text[i + unit.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic())
                    && number.parse::<f64>().is_ok()
                {
                    return Some(format!("{number}{unit}"));
                }
            }
        } else {
            i += 1;
        }
    }
    None
}

/// A family name in double quotes (`"Noto Sans JP"`), as written.
fn find_quoted(instruction: &str) -> Option<String> {
    let text = normalize(instruction);
    let original: Vec<char> = instruction
        .chars()
        .map(|c| match c {
            '\u{201C}' | '\u{201D}' => '"',
            '\u{FF02}' => '"',
            _ => c,
        })
        .collect();
    let original: String = original.into_iter().collect();
    let open = original.find('"')?;
    let close = original[open + 1..].find('"')? + open + 1;
    let name = original[open + 1..close].trim();
    (!name.is_empty() && name.len() <= 60 && !text.is_empty()).then(|| name.to_string())
}

fn find_generic_family(words: &[String], text: &str) -> Option<&'static str> {
    if words
        .iter()
        .any(|w| w == "monospace" || w == "mono" || w == "monospaced")
        || text.contains("等幅")
    {
        Some("monospace")
    } else if words.iter().any(|w| w == "sans-serif" || w == "sans") || text.contains("ゴシック")
    {
        Some("sans-serif")
    } else if words.iter().any(|w| w == "serif") || text.contains("明朝") {
        Some("serif")
    } else if words.iter().any(|w| w == "system-ui" || w == "system") {
        Some("system-ui")
    } else {
        None
    }
}

/// Whether an instruction points at an element rather than naming one: "this", "these",
/// 「これ」「この要素」「この見出し」 — but not "this page/site", which name the whole site.
pub(crate) fn is_deictic(text: &str, words: &[String]) -> bool {
    const WHOLE_SITE: &[&str] = &["page", "site", "website", "app", "project", "session"];
    let english = words.iter().enumerate().any(|(i, w)| {
        (w == "this" || w == "these")
            && words
                .get(i + 1)
                .is_none_or(|next| !WHOLE_SITE.contains(&next.as_str()))
    });
    let japanese = ["これ", "この", "こちら", "ここ"].iter().any(|w| {
        text.match_indices(w).any(|(at, _)| {
            let rest = &text[at + w.len()..];
            !["サイト", "ページ", "アプリ", "プロジェクト", "セッション"]
                .iter()
                .any(|site| rest.starts_with(site))
        })
    });
    english || japanese
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(text: &str) -> Change {
        read(text)
            .map(|i| i.change)
            .unwrap_or_else(|p| panic!("{text}: {p:?}"))
    }

    fn subjects(text: &str) -> Vec<SubjectKind> {
        read(text).map(|i| i.subjects).unwrap_or_default()
    }

    #[test]
    fn reads_the_issue_examples_in_both_languages() {
        assert_eq!(
            change("make the buttons the brand primary"),
            Change::Color {
                role: None,
                choice: ColorChoice::Words
            }
        );
        assert_eq!(
            subjects("make the buttons the brand primary"),
            [SubjectKind::Buttons]
        );
        assert_eq!(
            change("ボタンをブランドカラーに"),
            Change::Color {
                role: None,
                choice: ColorChoice::Words
            }
        );
        assert_eq!(
            change("headings in #FF0000"),
            Change::Color {
                role: None,
                choice: ColorChoice::Literal("#ff0000".into())
            }
        );
        assert_eq!(
            change("dark background"),
            Change::Color {
                role: Some(ColorRole::Background),
                choice: ColorChoice::Dark
            }
        );
        assert_eq!(
            change("背景を暗く"),
            Change::Color {
                role: Some(ColorRole::Background),
                choice: ColorChoice::Dark
            }
        );
        assert_eq!(
            change("見出しをもっと大きく"),
            Change::Size {
                direction: Direction::Up,
                amount: Amount::Normal,
                exact: None
            }
        );
        assert_eq!(
            change("余白を広く"),
            Change::Spacing {
                kind: None,
                direction: Direction::Up,
                amount: Amount::Normal,
                exact: None
            }
        );
        assert_eq!(
            change("tighter spacing"),
            Change::Spacing {
                kind: None,
                direction: Direction::Down,
                amount: Amount::Normal,
                exact: None
            }
        );
        assert_eq!(
            change("角を丸く"),
            Change::Radius(RadiusChange::Round(Amount::Normal))
        );
        assert_eq!(
            change("square corners"),
            Change::Radius(RadiusChange::Square)
        );
        assert_eq!(
            change("フォントをブランドフォントに"),
            Change::Family(FamilyChoice::Words)
        );
        assert_eq!(change("トークンに合わせて"), Change::Snap);
        assert_eq!(change("match the reference"), Change::Snap);
        assert_eq!(change("use the design tokens"), Change::Snap);
    }

    #[test]
    fn tells_text_as_subject_from_text_as_colour_role() {
        assert_eq!(subjects("smaller text"), [SubjectKind::Text]);
        let intent = read("make the button text white").expect("understood");
        assert_eq!(intent.subjects, [SubjectKind::Buttons]);
        assert_eq!(
            intent.change,
            Change::Color {
                role: Some(ColorRole::Text),
                choice: ColorChoice::Named("white".into())
            }
        );
    }

    #[test]
    fn folds_full_width_text_and_finds_lengths() {
        assert_eq!(
            change("ボタンを＃ＦＦ００００に"),
            Change::Color {
                role: None,
                choice: ColorChoice::Literal("#ff0000".into())
            }
        );
        assert_eq!(
            change("padding 24px on buttons"),
            Change::Spacing {
                kind: Some(SpacingKind::Padding),
                direction: Direction::Up,
                amount: Amount::Normal,
                exact: Some("24px".into())
            }
        );
    }

    #[test]
    fn does_not_guess_at_vague_instructions() {
        assert!(read("make it pop").is_err());
        assert!(read("いい感じに").is_err());
        let partial = read("change the button colour").expect_err("no colour named");
        assert_eq!(partial.subjects, [SubjectKind::Buttons]);
        assert_eq!(partial.aspect, Some("color"));
    }
}

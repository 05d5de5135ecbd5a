//! What an instruction points at, read from its words (English and Japanese): file paths and
//! identifiers it names, the elements its design vocabulary selects ("buttons" → `button`,
//! `.btn`; 「見出し」 → `h1`…`h6`), the CSS properties it is about ("bigger" → `font-size`;
//! 「余白」 → `margin`, `padding`), whether it asks for the reference tokens, and the parts of
//! the element a person pointed at.

use super::css::{selector_parts, Part};
use super::tree;

/// One vocabulary entry: words that trigger it, and what they select.
struct Vocabulary {
    /// Whole English words (lowercase).
    english: &'static [&'static str],
    /// Japanese words, matched anywhere (Japanese has no spaces).
    japanese: &'static [&'static str],
    selectors: &'static [&'static str],
    properties: &'static [&'static str],
}

const VOCABULARY: &[Vocabulary] = &[
    Vocabulary {
        english: &["button", "buttons", "btn", "cta"],
        japanese: &["ボタン"],
        selectors: &["button", ".btn", ".button"],
        properties: &[],
    },
    Vocabulary {
        english: &[
            "heading",
            "headings",
            "headline",
            "headlines",
            "title",
            "titles",
            "h1",
            "h2",
            "h3",
        ],
        japanese: &["見出し", "タイトル", "表題"],
        selectors: &["h1", "h2", "h3", "h4", "h5", "h6", ".title", ".heading"],
        properties: &[],
    },
    Vocabulary {
        english: &["link", "links", "anchor", "anchors"],
        japanese: &["リンク"],
        selectors: &["a"],
        properties: &[],
    },
    Vocabulary {
        english: &["nav", "navigation", "navbar", "menu", "menus"],
        japanese: &["ナビ", "メニュー"],
        selectors: &["nav", ".nav", ".navbar", ".menu"],
        properties: &[],
    },
    Vocabulary {
        english: &["sidebar", "sidebars", "aside"],
        japanese: &["サイドバー", "サイドメニュー"],
        selectors: &["aside", ".sidebar", "#sidebar"],
        properties: &[],
    },
    Vocabulary {
        english: &["header", "banner", "hero"],
        japanese: &["ヘッダー", "ヘッダ"],
        selectors: &["header", ".header", ".hero"],
        properties: &[],
    },
    Vocabulary {
        english: &["footer"],
        japanese: &["フッター", "フッタ"],
        selectors: &["footer", ".footer"],
        properties: &[],
    },
    Vocabulary {
        english: &["card", "cards", "panel", "panels"],
        japanese: &["カード", "パネル"],
        selectors: &[".card", ".panel"],
        properties: &[],
    },
    Vocabulary {
        english: &[
            "image", "images", "img", "picture", "photo", "photos", "logo",
        ],
        japanese: &["画像", "写真", "ロゴ"],
        selectors: &["img", "picture", ".logo"],
        properties: &[],
    },
    Vocabulary {
        english: &["form", "forms", "input", "inputs", "field", "fields"],
        japanese: &["フォーム", "入力"],
        selectors: &["form", "input", "textarea", "select", "label"],
        properties: &[],
    },
    Vocabulary {
        english: &["table", "tables"],
        japanese: &["テーブル"],
        selectors: &["table", "th", "td"],
        properties: &[],
    },
    Vocabulary {
        english: &["list", "lists"],
        japanese: &["リスト", "一覧"],
        selectors: &["ul", "ol", "li", ".list", ".list-group"],
        properties: &[],
    },
    Vocabulary {
        english: &["text", "body", "paragraph", "paragraphs", "copy"],
        japanese: &["本文", "文字", "テキスト", "文章"],
        selectors: &["body", "p"],
        properties: &[],
    },
    Vocabulary {
        english: &["page", "whole", "everything", "global", "site"],
        japanese: &["ページ", "全体", "サイト"],
        selectors: &["html", "body", ":root"],
        properties: &[],
    },
    Vocabulary {
        english: &[
            "layout",
            "container",
            "width",
            "wider",
            "narrower",
            "grid",
            "columns",
        ],
        japanese: &["レイアウト", "横幅", "幅"],
        selectors: &[".container", "main"],
        properties: &["max-width", "width", "display", "grid-template-columns"],
    },
    Vocabulary {
        english: &[
            "color", "colour", "colors", "colours", "palette", "red", "blue", "green", "black",
            "white", "gray", "grey", "orange", "purple", "pink", "yellow",
        ],
        japanese: &["色", "カラー", "青", "赤", "緑", "黒", "白"],
        selectors: &[],
        properties: &["color", "background-color", "background", "border-color"],
    },
    Vocabulary {
        english: &["background", "backgrounds"],
        japanese: &["背景"],
        selectors: &[],
        properties: &["background", "background-color"],
    },
    Vocabulary {
        english: &["font", "fonts", "typeface", "typography"],
        japanese: &["フォント", "書体"],
        selectors: &[],
        properties: &["font-family", "font"],
    },
    Vocabulary {
        english: &[
            "size", "bigger", "larger", "smaller", "big", "large", "small",
        ],
        japanese: &["大きく", "小さく", "サイズ", "大きさ"],
        selectors: &[],
        properties: &["font-size"],
    },
    Vocabulary {
        english: &[
            "spacing",
            "padding",
            "margin",
            "margins",
            "gap",
            "gaps",
            "space",
            "whitespace",
            "roomy",
            "tighter",
            "airy",
        ],
        japanese: &["余白", "間隔", "スペース", "詰め", "広げ"],
        selectors: &[],
        properties: &["margin", "padding", "gap"],
    },
    Vocabulary {
        english: &["radius", "rounded", "round", "corner", "corners"],
        japanese: &["角丸", "丸く", "角"],
        selectors: &[],
        properties: &["border-radius"],
    },
    Vocabulary {
        english: &["shadow", "shadows", "elevation"],
        japanese: &["影", "シャドウ"],
        selectors: &[],
        properties: &["box-shadow", "text-shadow"],
    },
    Vocabulary {
        english: &["border", "borders", "outline"],
        japanese: &["枠", "罫線", "ボーダー"],
        selectors: &[],
        properties: &["border", "border-color", "outline"],
    },
    Vocabulary {
        english: &["bold", "weight", "heavier", "bolder", "thinner"],
        japanese: &["太字", "太く", "細く"],
        selectors: &[],
        properties: &["font-weight"],
    },
    Vocabulary {
        english: &["line-height", "leading"],
        japanese: &["行間"],
        selectors: &[],
        properties: &["line-height"],
    },
    Vocabulary {
        english: &["dark", "darker", "light", "lighter", "contrast", "brighter"],
        japanese: &["暗く", "明るく", "コントラスト", "ダーク"],
        selectors: &[],
        properties: &["color", "background-color"],
    },
];

/// Words that say "use the reference": they make custom properties and tokens relevant.
const TOKEN_WORDS_EN: &[&str] = &[
    "token",
    "tokens",
    "brand",
    "reference",
    "frontswatch",
    "primary",
    "secondary",
    "accent",
    "palette",
];
const TOKEN_WORDS_JA: &[&str] = &["トークン", "ブランド", "参照", "デザインシステム", "理想"];

/// Instruction words too common to be identifiers worth finding in files.
const STOP_WORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "with",
    "make",
    "use",
    "using",
    "more",
    "less",
    "all",
    "our",
    "its",
    "into",
    "from",
    "that",
    "this",
    "them",
    "then",
    "than",
    "also",
    "very",
    "much",
    "some",
    "like",
    "look",
    "looks",
    "feel",
    "should",
    "would",
    "could",
    "please",
    "change",
    "set",
    "bit",
    "little",
    "lot",
    "same",
    "match",
    "new",
    "old",
    "only",
    "each",
    "every",
    "design",
    "style",
    "styles",
    "instead",
    "too",
    "now",
    "when",
    "what",
    "where",
    "which",
    "there",
    "their",
    "about",
    "over",
    "under",
    "just",
    "give",
    "get",
    "add",
    "remove",
    "keep",
    "put",
    "see",
    "one",
    "two",
    "three",
    "are",
    "was",
    "were",
    "has",
    "have",
    "had",
    "not",
    "but",
    "can",
    "will",
    "way",
    "want",
    "need",
    "it's",
    "let",
    "lets",
    "let's",
    "across",
    "everywhere",
    "slightly",
    "bigger",
    "smaller",
    "larger",
    "darker",
    "lighter",
    "modern",
    "nicer",
    "better",
    "clean",
    "cleaner",
    "consistent",
    "readable",
    "file",
    "files",
    "here",
    "these",
    "those",
    "thing",
    "things",
    "stuff",
    "part",
    "parts",
    "section",
    "sections",
    "area",
    "bits",
    "other",
    "again",
    "still",
    "yet",
    "maybe",
    "kind",
    "sure",
    "okay",
    "good",
    "nice",
    "pretty",
    "really",
    "quite",
    "rather",
    "even",
    "both",
    "either",
    "any",
    "many",
    "few",
    "most",
    "own",
    "such",
    "you",
    "your",
    "we",
    "us",
    "me",
    "my",
    "they",
    "he",
    "she",
    "him",
    "her",
    "his",
    "how",
    "why",
    "who",
    "whom",
];

/// What an instruction (and the element a person pointed at) points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    /// File names or paths named in the instruction, lowercase.
    pub paths: Vec<String>,
    /// Identifiers named in the instruction (`--brand`, `sidebar-heading`, `.btn-primary`).
    pub words: Vec<String>,
    /// Selector parts the instruction names directly (`.btn-primary`, `#main`).
    pub named_parts: Vec<Part>,
    /// Selector parts the instruction's vocabulary selects, with the word that chose them.
    pub vocabulary_parts: Vec<(Part, String)>,
    /// CSS properties the instruction is about.
    pub properties: Vec<String>,
    /// The instruction asks for the reference tokens / brand.
    pub wants_tokens: bool,
    /// The pointed-at element's selector and its parts.
    pub target: Option<(String, Vec<Part>)>,
}

impl Signals {
    pub fn read(instruction: &str, target_selector: Option<&str>) -> Signals {
        let lower = instruction.to_lowercase();
        let mut signals = Signals::default();
        let english_words: Vec<&str> = lower
            .split(|c: char| {
                !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '#' | '/' | '\''))
            })
            .map(|w| {
                w.trim_matches(|c: char| c == '\'' || c == '/')
                    .trim_end_matches('.')
            })
            .filter(|w| !w.is_empty())
            .collect();
        for raw in lower.split(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    ',' | ';' | '"' | '`' | '(' | ')' | '「' | '」' | '、' | '。'
                )
        }) {
            let raw = raw.trim_matches(|c: char| matches!(c, '.' | ':' | '!' | '?' | '\''));
            if looks_like_path(raw) {
                push_unique(&mut signals.paths, raw.trim_start_matches("./").to_string());
            }
        }
        for word in &english_words {
            if let Some(part) = word
                .strip_prefix('.')
                .or_else(|| word.strip_prefix('#'))
                .and_then(|_| Part::parse(word))
            {
                push_unique(&mut signals.named_parts, part);
                continue;
            }
            let bare = word.trim_start_matches(['.', '#']);
            let identifier_like = bare.len() >= 3
                && bare
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !bare.chars().all(|c| c.is_ascii_digit());
            if identifier_like && !STOP_WORDS.contains(&bare) && !is_vocabulary(bare) {
                push_unique(&mut signals.words, bare.to_string());
            }
        }
        for entry in VOCABULARY {
            let hit = entry
                .english
                .iter()
                .find(|w| english_words.contains(w))
                .map(|w| w.to_string())
                .or_else(|| {
                    entry
                        .japanese
                        .iter()
                        .find(|w| instruction.contains(**w))
                        .map(|w| w.to_string())
                });
            if let Some(word) = hit {
                for selector in entry.selectors {
                    if let Some(part) = Part::parse(selector) {
                        if !signals.vocabulary_parts.iter().any(|(p, _)| *p == part) {
                            signals.vocabulary_parts.push((part, word.clone()));
                        }
                    }
                }
                for property in entry.properties {
                    push_unique(&mut signals.properties, property.to_string());
                }
            }
        }
        signals.wants_tokens = TOKEN_WORDS_EN.iter().any(|w| english_words.contains(w))
            || TOKEN_WORDS_JA.iter().any(|w| instruction.contains(w));
        if let Some(selector) = target_selector.filter(|s| !s.trim().is_empty()) {
            signals.target = Some((selector.trim().to_string(), selector_parts(selector)));
        }
        signals
    }

    /// Whether the instruction names anything a file could be ranked by.
    pub fn is_vague(&self) -> bool {
        self.paths.is_empty()
            && self.words.is_empty()
            && self.named_parts.is_empty()
            && self.vocabulary_parts.is_empty()
            && self.properties.is_empty()
            && self.target.is_none()
    }
}

fn is_vocabulary(word: &str) -> bool {
    VOCABULARY.iter().any(|entry| entry.english.contains(&word)) || TOKEN_WORDS_EN.contains(&word)
}

/// `css/style.css`, `index.html`, `src/`: a word with a known extension or a slash inside.
fn looks_like_path(word: &str) -> bool {
    if word.len() < 3 || word.starts_with('.') || word.starts_with('#') || word.contains("://") {
        return false;
    }
    let ext = tree::extension(word);
    let known = tree::is_readable(word) && !ext.is_empty();
    let has_slash = word.contains('/') && word.chars().any(|c| c.is_ascii_alphabetic());
    known || (has_slash && word.is_ascii())
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_vocabulary_selects_elements_and_properties() {
        let signals = Signals::read("Make the buttons use the brand colour", None);
        let parts: Vec<String> = signals
            .vocabulary_parts
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(parts, ["button", ".btn", ".button"]);
        assert_eq!(
            signals.properties,
            ["color", "background-color", "background", "border-color"]
        );
        assert!(signals.wants_tokens);
        assert!(signals.words.is_empty(), "{:?}", signals.words);
    }

    #[test]
    fn japanese_vocabulary_is_found_without_spaces() {
        let signals = Signals::read("見出しをもっと大きく", None);
        let parts: Vec<String> = signals
            .vocabulary_parts
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(
            parts,
            ["h1", "h2", "h3", "h4", "h5", "h6", ".title", ".heading"]
        );
        assert_eq!(signals.properties, ["font-size"]);
        assert!(!signals.wants_tokens);
    }

    #[test]
    fn paths_selectors_and_identifiers_named_in_the_instruction() {
        let signals = Signals::read(
            "In css/styles.css give .sidebar-heading the --bs-primary colour, like index.html",
            None,
        );
        assert_eq!(signals.paths, ["css/styles.css", "index.html"]);
        assert_eq!(signals.named_parts, [Part::Class("sidebar-heading".into())]);
        assert!(
            signals.words.contains(&"--bs-primary".to_string()),
            "{:?}",
            signals.words
        );
    }

    #[test]
    fn the_target_selector_is_split_into_parts() {
        let signals = Signals::read("rounder", Some("#sidebar-wrapper .list-group"));
        assert_eq!(
            signals.target,
            Some((
                "#sidebar-wrapper .list-group".into(),
                vec![
                    Part::Id("sidebar-wrapper".into()),
                    Part::Class("list-group".into())
                ]
            ))
        );
    }

    #[test]
    fn a_vague_instruction_points_at_nothing() {
        assert!(Signals::read("make it nicer please", None).is_vague());
    }
}

//! The context builder on the shared fixture sites (read-only): snapshots of what is chosen
//! and why, of a whole message on the re-inference, and the budget held at every size.

use std::path::{Path, PathBuf};

use expect_test::{expect, Expect};

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

/// The fixture site's file list and the sources [`reading_order`] picks, read as the daemon
/// reads them.
fn site(name: &str, instruction: &str) -> (Vec<String>, Vec<SourceFile>) {
    let root = fixtures().join("sites").join(name);
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("fixture dir") {
            let entry = entry.expect("entry");
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(&root).expect("inside");
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files.sort();
    let sources = reading_order(&files, instruction, &[])
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(root.join(&path)).ok()?;
            Some(SourceFile { path, text })
        })
        .collect();
    (files, sources)
}

fn dtcg_tokens() -> Vec<ResolvedToken> {
    let path = fixtures().join("tokens/dtcg-small/tokens.json");
    let bytes = std::fs::read(path).expect("fixture tokens");
    devflow_reference::read_reference_json("tokens.json", &bytes)
        .expect("fixture tokens resolve")
        .tokens
}

fn input<'a>(
    instruction: &'a str,
    files: &'a [String],
    sources: &'a [SourceFile],
    budget: usize,
) -> ContextInput<'a> {
    ContextInput {
        instruction,
        target: None,
        files,
        sources,
        tokens: &[],
        recent_errors: &[],
        recent_files: &[],
        screens: &[],
        page_now: None,
        previous: None,
        budget,
    }
}

fn check_summary(site_name: &str, instruction: &str, budget: usize, expected: Expect) {
    let (files, sources) = site(site_name, instruction);
    let context = build(&input(instruction, &files, &sources, budget));
    expected.assert_eq(&context.summary());
}

#[test]
fn buttons_in_the_brand_colour_on_simple_sidebar_show_the_button_rules_of_the_large_stylesheet() {
    let instruction = "Make the buttons use the brand colour";
    let (files, sources) = site("simple-sidebar", instruction);
    let tokens = dtcg_tokens();
    let context = build(&ContextInput {
        tokens: &tokens,
        ..input(instruction, &files, &sources, DEFAULT_BUDGET_TOKENS)
    });
    expect![[r#"
        context: ~13774 of 24000 tokens
          + css/styles.css [36 pts, excerpt 12-81,342-366,381-394,627-643,668-678,834-894,1014-1063,1183-1232,1352-1401,1521-1570,1690-1757,1795-1927,2316-2327,2516-2524,2539-2557,2767-3153,3216-3259,3264-3268,3272-3276,3281-3285,3288-3292,3297-3301,3304-3308,3313-3317,3320-3324,3329-3333,3336-3340,3345-3349,3352-3356,3491-3561,3572-3620,3643-3654,3681-3687,3727-3756,3780-3794,4139-4180,4332-4412,4425-4430,4436-4441,4463-4486,4499-4525,4579-4612,4615-4638,4649-4663,4666-4672,4675-4681,4684-4690,4693-4699,4702-4708,4711-4717,4720-4726,5133-5166,5200-5210,5224-5229,5350-5355,5383-5388,6584-6591,6610-6615 of 10865, ~11636 tokens] selects button, .btn, .button (80 rules); defines CSS custom properties; stylesheet
          + index.html [6 pts, whole, ~1170 tokens] has <button>, .btn (4 places); entry page
          + SOURCE.txt [0 pts, whole, ~30 tokens]
          + js/scripts.js [0 pts, whole, ~257 tokens]
    "#]].assert_eq(&context.summary());
}

#[test]
fn japanese_bigger_headings_on_html5_boilerplate_rank_the_stylesheet_first() {
    check_summary(
        "html5-boilerplate",
        "見出しをもっと大きく",
        DEFAULT_BUDGET_TOKENS,
        expect![[r#"
            context: ~2900 of 24000 tokens
              + css/style.css [8 pts, whole, ~1276 tokens] selects h2, h3 (2 rules); stylesheet
              + 404.html [2 pts, whole, ~284 tokens] has <h1> (1 place); markup
              + index.html [2 pts, whole, ~237 tokens] entry page
              + LICENSE.txt [0 pts, whole, ~276 tokens]
              + SOURCE.txt [0 pts, whole, ~27 tokens]
              + js/app.js [0 pts, whole, ~12 tokens]
              + package.json [0 pts, whole, ~155 tokens]
              + robots.txt [0 pts, whole, ~31 tokens]
              + site.webmanifest [0 pts, whole, ~72 tokens]
              + webpack.common.js [0 pts, whole, ~64 tokens]
              + webpack.config.dev.js [0 pts, whole, ~84 tokens]
              + webpack.config.prod.js [0 pts, whole, ~221 tokens]
        "#]],
    );
}

#[test]
fn a_named_file_and_identifier_on_vite_vanilla_come_first() {
    check_summary(
        "vite-vanilla",
        "In src/style.css make .counter rounder and use --accent for its border",
        DEFAULT_BUDGET_TOKENS,
        expect![[r#"
            context: ~2376 of 24000 tokens
              + src/style.css [74 pts, whole, ~1301 tokens] named in the instruction; styles .counter (2 rules); stylesheet; mentions `--accent`
              + index.html [2 pts, whole, ~107 tokens] entry page
              + SOURCE.txt [0 pts, whole, ~42 tokens]
              + package.json [0 pts, whole, ~72 tokens]
              + src/counter.js [0 pts, whole, ~75 tokens]
              + src/main.js [0 pts, whole, ~626 tokens]
        "#]],
    );
}

#[test]
fn the_pointed_at_element_and_a_recent_error_lead_on_simple_sidebar() {
    let instruction = "more padding here";
    let (files, sources) = site("simple-sidebar", instruction);
    let target = Target {
        selector: "#sidebar-wrapper .sidebar-heading".into(),
        page_url: Some("http://127.0.0.1:5173/".into()),
        ..Default::default()
    };
    let errors = ["Uncaught TypeError: x is undefined (js/scripts.js:12)".to_string()];
    let context = build(&ContextInput {
        target: Some(&target),
        recent_errors: &errors,
        ..input(instruction, &files, &sources, 8_000)
    });
    expect![[r#"
        context: ~1857 of 8000 tokens
          + css/styles.css [62 pts, excerpt 10830-10845,10849-10858,10861-10865 of 10865, ~190 tokens] styles the target `#sidebar-wrapper .sidebar-heading` (6 rules); stylesheet
          + js/scripts.js [25 pts, whole, ~264 tokens] named in a recent error
          + index.html [10 pts, whole, ~1177 tokens] contains the target `#sidebar-wrapper .sidebar-heading`; entry page
          + SOURCE.txt [0 pts, whole, ~30 tokens]
    "#]].assert_eq(&context.summary());
}

#[test]
fn the_re_inference_message_names_the_failed_hunk_and_why() {
    let instruction = "make the counter button rounder";
    let (files, sources) = site("vite-vanilla", instruction);
    let previous = PreviousAttempt {
        failure: "hunk 2 of src/style.css does not match the file: no line `  border-radius: 4px;` near line 104".into(),
        unified_diff: Some("--- a/src/style.css\n+++ b/src/style.css\n@@ -87,3 +87,3 @@\n .counter {\n-  font-size: 16px;\n+  font-size: 18px;\n }\n@@ -104,3 +104,3 @@\n .counter {\n-  border-radius: 4px;\n+  border-radius: 999px;\n }\n".into()),
    };
    let screens = [
        ScreenNote {
            name: "home".into(),
            media_type: "image/png".into(),
            image: Some(1),
            html: None,
        },
        ScreenNote {
            name: "about".into(),
            media_type: "text/html".into(),
            image: None,
            html: Some("<main><h1>About</h1></main>".into()),
        },
    ];
    let tokens: Vec<ResolvedToken> = dtcg_tokens().into_iter().take(4).collect();
    let context = build(&ContextInput {
        previous: Some(&previous),
        screens: &screens,
        tokens: &tokens,
        ..input(instruction, &files, &sources, 2_500)
    });
    expect![[r##"
        # Instruction
        make the counter button rounder

        # Your previous proposal failed
        devflow could not use it: hunk 2 of src/style.css does not match the file: no line `  border-radius: 4px;` near line 104
        Nothing was applied: the files below are unchanged. Write a new proposal that avoids this problem.
        The part that failed:
        ```diff
        --- a/src/style.css
        +++ b/src/style.css
        @@ -104,3 +104,3 @@
         .counter {
        -  border-radius: 4px;
        +  border-radius: 999px;
         }
        ```

        # Reference design tokens (FrontSwatch)
        The ideal design. Use these values, or the site's CSS custom properties that hold them, rather than new ones.
        - color.brand.accent = #fbbf24 (color; alias of color.palette.amber.400) — Highlights and badges; never for body text.
        - color.brand.primary = #4f46e5 (color; alias of color.palette.indigo.500) — Primary actions, links, focus rings.
        - color.brand.primary-hover = #3730a3 (color; alias of color.palette.indigo.700)
        - color.palette.amber.400 = #fbbf24 (color)

        # Reference screens (the ideal design of each page)
        - home (image/png): image 1
        - about (text/html): HTML, shown below

        ## Reference screen about
        ```html
        <main><h1>About</h1></main>
        ```

        # Files in the workspace (13 files; dependencies, build output and lockfiles left out)
        .gitignore
        LICENSE
        SOURCE.txt
        index.html
        package.json
        public/favicon.svg
        public/icons.svg
        src/assets/hero.png
        src/assets/javascript.svg
        src/assets/vite.svg
        src/counter.js
        src/main.js
        src/style.css

        # Files, most relevant first
        Copy context and removed lines exactly from these files.

        ## src/style.css (excerpts: 43 of its 296 lines; the rest is not shown) — has rules named like `counter` (2 rules); selects .button (2 rules); stylesheet; mentions `counter`
        Lines 47–51:
        ```css

          #social .button-icon {
            filter: invert(1) brightness(2);
          }
        }
        ```
        Lines 84–93:
        ```css
        }

        code,
        .counter {
          font-family: var(--mono);
          display: inline-flex;
          border-radius: 4px;
          color: var(--text-h);
        }
        ```
        Lines 98–119:
        ```css
          background: var(--code-bg);
        }

        .counter {
          font-size: 16px;
          padding: 5px 10px;
          border-radius: 5px;
          color: var(--accent);
          background: var(--accent-bg);
          border: 2px solid transparent;
          transition: border-color 0.3s;
          margin-bottom: 24px;

          &:hover {
            border-color: var(--accent-border);
          }
          &:focus-visible {
            outline: 2px solid var(--accent);
            outline-offset: 2px;
          }
        }
        ```
        Lines 244–249:
        ```css
            }
            .button-icon {
              height: 18px;
              width: 18px;
            }
          }
        ```

        ## index.html (whole file, 13 lines) — entry page
        ```html
        <!doctype html>
        <html lang="en">
          <head>
            <meta charset="UTF-8" />
            <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
            <meta name="viewport" content="width=device-width, initial-scale=1.0" />
            <title>Vite + JS</title>
          </head>
          <body>
            <div id="app"></div>
            <script type="module" src="/src/main.js"></script>
          </body>
        </html>
        ```

        ## src/counter.js (whole file, 9 lines) — mentions `counter`
        ```js
        export function setupCounter(element) {
          let counter = 0
          const setCounter = (count) => {
            counter = count
            element.innerHTML = `Count is ${counter}`
          }
          element.addEventListener('click', () => setCounter(counter + 1))
          setCounter(0)
        }
        ```

        ## src/main.js (whole file, 60 lines) — mentions `counter`
        ```js
        import './style.css'
        import heroImg from './assets/hero.png'
        import javascriptLogo from './assets/javascript.svg'
        import viteLogo from './assets/vite.svg'
        import { setupCounter } from './counter.js'

        document.querySelector('#app').innerHTML = `
        <section id="center">
          <div class="hero">
            <img src="${heroImg}" class="base" width="170" height="179">
            <img src="${javascriptLogo}" class="framework" alt="JavaScript logo"/>
            <img src="${viteLogo}" class="vite" alt="Vite logo" />
          </div>
          <div>
            <h1>Get started</h1>
            <p>Edit <code>src/main.js</code> and save to test <code>HMR</code></p>
          </div>
          <button id="counter" type="button" class="counter"></button>
        </section>

        <div class="ticks"></div>

        <section id="next-steps">
          <div id="docs">
            <svg class="icon" role="presentation" aria-hidden="true"><use href="/icons.svg#documentation-icon"></use></svg>
            <h2>Documentation</h2>
            <p>Your questions, answered</p>
            <ul>
              <li>
                <a href="https://vite.dev/" target="_blank">
                  <img class="logo" src="${viteLogo}" alt="" />
                  Explore Vite
                </a>
              </li>
              <li>
                <a href="https://developer.mozilla.org/en-US/docs/Web/JavaScript" target="_blank">
                  <img class="button-icon" src="${javascriptLogo}" alt="">
                  Learn more
                </a>
              </li>
            </ul>
          </div>
          <div id="social">
            <svg class="icon" role="presentation" aria-hidden="true"><use href="/icons.svg#social-icon"></use></svg>
            <h2>Connect with us</h2>
            <p>Join the Vite community</p>
            <ul>
              <li><a href="https://github.com/vitejs/vite" target="_blank"><svg class="button-icon" role="presentation" aria-hidden="true"><use href="/icons.svg#github-icon"></use></svg>GitHub</a></li>
              <li><a href="https://chat.vite.dev/" target="_blank"><svg class="button-icon" role="presentation" aria-hidden="true"><use href="/icons.svg#discord-icon"></use></svg>Discord</a></li>
              <li><a href="https://x.com/vite_js" target="_blank"><svg class="button-icon" role="presentation" aria-hidden="true"><use href="/icons.svg#x-icon"></use></svg>X.com</a></li>
              <li><a href="https://bsky.app/profile/vite.dev" target="_blank"><svg class="button-icon" role="presentation" aria-hidden="true"><use href="/icons.svg#bluesky-icon"></use></svg>Bluesky</a></li>
            </ul>
          </div>
        </section>

        <div class="ticks"></div>
        <section id="spacer"></section>
        `

        setupCounter(document.querySelector('#counter'))
        ```

        ## SOURCE.txt (whole file, 1 lines)
        ```
        npm package create-vite@9.3.0 (MIT), contents of template-vanilla/ (_gitignore renamed to .gitignore, as create-vite does)
        ```

        ## package.json (whole file, 14 lines)
        ```json
        {
          "name": "vite-starter",
          "version": "0.0.0",
          "private": true,
          "type": "module",
          "scripts": {
            "dev": "vite",
            "build": "vite build",
            "preview": "vite preview"
          },
          "devDependencies": {
            "vite": "^8.3.4"
          }
        }
        ```

        # Your answer
        Call `propose_patch` once: a unified diff against the files above, the files it edits, the reason in the instruction's language, and your confidence.
    "##]].assert_eq(&context.render());
}

#[test]
fn the_budget_holds_at_every_size_and_the_cut_is_reported() {
    let cases = [
        ("simple-sidebar", "Make the buttons use the brand colour"),
        ("simple-sidebar", "サイドバーの余白を広げて"),
        ("html5-boilerplate", "見出しをもっと大きく"),
        ("vite-vanilla", "make it nicer please"),
    ];
    let tokens = dtcg_tokens();
    for (name, instruction) in cases {
        let (files, sources) = site(name, instruction);
        let readable = sources.len();
        for budget in [1_500, 3_000, 6_000, 12_000, 24_000, 100_000] {
            let context = build(&ContextInput {
                tokens: &tokens,
                ..input(instruction, &files, &sources, budget)
            });
            let rendered = context.render();
            assert!(!context.over_budget, "{name} at {budget}");
            assert_eq!(context.used, estimate_tokens(&rendered));
            assert!(
                context.used <= budget,
                "{name} {instruction:?}: {} tokens > budget {budget}\n{}",
                context.used,
                context.summary()
            );
            assert_eq!(
                context.files.len() + context.omitted.len(),
                readable,
                "every read file is either shown or reported as cut"
            );
            for omitted in context.omitted.iter().filter(|f| f.listed) {
                assert!(
                    rendered.contains(&format!("- {} (~", omitted.path)),
                    "{} is cut but not named",
                    omitted.path
                );
            }
        }
        let roomy = build(&input(instruction, &files, &sources, 400_000));
        assert!(
            roomy.omitted.is_empty(),
            "{name}: nothing is cut with room: {}",
            roomy.summary()
        );
    }
}

#[test]
fn a_long_instruction_that_alone_exceeds_the_budget_is_reported() {
    let instruction = "見出し".repeat(600);
    let (files, sources) = site("vite-vanilla", &instruction);
    let context = build(&input(&instruction, &files, &sources, 1_000));
    assert!(context.over_budget);
    assert!(context.files.is_empty());
}

#[test]
fn estimates_ascii_at_a_quarter_token_and_cjk_at_one() {
    assert_eq!(estimate_tokens(""), 0);
    assert_eq!(estimate_tokens("abcd"), 1);
    assert_eq!(estimate_tokens("abcde"), 2);
    assert_eq!(estimate_tokens("見出し"), 3);
}

#[test]
fn reading_order_skips_binaries_and_puts_named_styles_first() {
    let files: Vec<String> = [
        "img/logo.png",
        "js/app.js",
        "css/style.css",
        "index.html",
        "node_modules/x/index.js",
        "package-lock.json",
        "docs/deep/notes.md",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        reading_order(&files, "fix index.html", &[]),
        [
            "index.html",
            "css/style.css",
            "js/app.js",
            "docs/deep/notes.md"
        ]
    );
}

#[test]
fn a_resolved_target_comes_first_with_its_rules() {
    let instruction = "make this bigger";
    let (files, sources) = site("simple-sidebar", instruction);
    let target = Target {
        selector: "#page-content-wrapper h1".into(),
        page_file: Some("index.html".into()),
        page_line: Some(54),
        matches: 1,
        index: 1,
        rules: vec![devflow_protocol::TargetRule {
            file: "css/styles.css".into(),
            line: 122,
            selector: "h1, .h1".into(),
            shared_with: 2,
        }],
        ..Default::default()
    };
    let context = build(&ContextInput {
        target: Some(&target),
        ..input(instruction, &files, &sources, 8_000)
    });
    let text = context.render();
    assert!(text.starts_with("# Target: the element the person pointed at\n`#page-content-wrapper h1` on index.html (line 54)."), "{text}");
    assert!(
        text.contains("- css/styles.css:122 `h1, .h1` — also styles 2 other element(s)\n"),
        "{text}"
    );
    assert!(text.find("# Target").unwrap_or(usize::MAX) < text.find("# Instruction").unwrap_or(0));
}

//! Properties of the proposals beyond the instruction table: a whole proposal as a reviewed
//! snapshot, determinism, which files may be edited, the session prompt as a source of the
//! brand colour, and a Target's page.

mod common;

use devflow_builtin::{propose, DesignRequest};
use devflow_protocol::Target;
use devflow_reference::SourceFile;
use expect_test::expect;

#[test]
fn brand_buttons_on_vite_vanilla_proposal_snapshot() {
    let proposal = common::run(
        "vite-vanilla",
        "dtcg-small",
        "make the buttons the brand primary",
        None,
    )
    .expect("understood");
    let shown = format!(
        "files_to_edit: {:?}\nconfidence: {}\nreason: {}\n{}",
        proposal.files_to_edit, proposal.confidence, proposal.reason, proposal.unified_diff
    );
    expect![[r#"
        files_to_edit: ["src/style.css"]
        confidence: 0.92
        reason: Buttons: background colour → token `color.brand.primary` (#4f46e5); text colour → token `color.text.on-primary` (#ffffff), so the text stays readable on the new background.
        Changes: src/style.css:106 `.counter` background: var(--accent-bg) → #4f46e5; src/style.css:105 `.counter` color: var(--accent) → #ffffff.
        diff --git a/src/style.css b/src/style.css
        --- a/src/style.css
        +++ b/src/style.css
        @@ -102,8 +102,8 @@
           font-size: 16px;
           padding: 5px 10px;
           border-radius: 5px;
        -  color: var(--accent);
        -  background: var(--accent-bg);
        +  color: #ffffff;
        +  background: #4f46e5;
           border: 2px solid transparent;
           transition: border-color 0.3s;
           margin-bottom: 24px;
    "#]]
    .assert_eq(&shown);
}

#[test]
fn the_same_request_gives_the_same_proposal() {
    for instruction in [
        "use the design tokens",
        "ボタンをブランドカラーに",
        "bigger headings",
    ] {
        let request = common::request("simple-sidebar", "dtcg-small", instruction, None);
        assert_eq!(propose(&request), propose(&request), "{instruction}");
    }
}

#[test]
fn prefers_the_sites_own_css_over_minified_vendored_and_dependency_files() {
    let mut request = common::request(
        "html5-boilerplate",
        "dtcg-small",
        "use the design tokens",
        None,
    );
    let extra = [
        ("css/bootstrap.min.css", ".btn{color:#123456;padding:7px}"),
        ("node_modules/lib/style.css", ".lib { color: #123456; }\n"),
        ("vendor/widget.css", ".widget { color: #123456; }\n"),
        ("dist/assets/index.css", ".built { color: #123456; }\n"),
    ];
    for (path, text) in extra {
        request.files.push(SourceFile::new(path, text));
    }
    let proposal = propose(&request).expect("understood");
    let mut files = proposal.files_to_edit.clone();
    files.sort();
    assert_eq!(files, ["404.html", "css/style.css"]);

    // A colour change that a minified file's rule wins is overridden from the site's CSS.
    let mut request = common::request("html5-boilerplate", "", "make the buttons red", None);
    request.files.push(SourceFile::new(
        "css/bootstrap.min.css",
        "button{background-color:#123456}",
    ));
    let proposal = propose(&request).expect("understood");
    assert_eq!(proposal.files_to_edit, ["css/style.css"]);
}

#[test]
fn a_brand_colour_named_in_the_session_prompt_is_used_without_colour_tokens() {
    let mut request = common::request(
        "html5-boilerplate",
        "",
        "make the buttons the brand colour",
        None,
    );
    request.prompt = "Our brand colour is #FF6600; keep the layout calm.".into();
    let proposal = propose(&request).expect("understood");
    let after = common::applied(&request.files, &proposal);
    assert_eq!(
        common::values_of(&after, "css/style.css", "button", "background-color"),
        ["#ff6600"]
    );
    assert!(
        proposal.confidence < 0.9,
        "a colour from the prompt is a guess: {}",
        proposal.confidence
    );
}

#[test]
fn a_target_page_url_keeps_the_change_on_that_page() {
    let mut request = common::request("html5-boilerplate", "", "make this text bigger", None);
    request.target = Some(Target {
        selector: "body > p".into(),
        page_url: Some("http://127.0.0.1:5500/404.html".into()),
        ..Default::default()
    });
    let proposal = propose(&request).expect("understood");
    assert_eq!(proposal.files_to_edit, ["404.html"]);
    request.target = Some(Target {
        selector: "body > p".into(),
        page_url: Some("http://127.0.0.1:5500/".into()),
        ..Default::default()
    });
    let proposal = propose(&request).expect("understood");
    assert_eq!(proposal.files_to_edit, ["css/style.css"]);
}

#[test]
fn proposals_serialise_with_the_seed_field_names() {
    let proposal =
        common::run("simple-sidebar", "dtcg-small", "角を丸く", None).expect("understood");
    let json = serde_json::to_value(&proposal).expect("serialises");
    for field in ["files_to_edit", "unified_diff", "reason", "confidence"] {
        assert!(json.get(field).is_some(), "{field} missing: {json}");
    }
    assert!(proposal.validate().is_ok());
}

#[test]
fn an_empty_site_is_refused_not_guessed() {
    let request = DesignRequest {
        instruction: "bigger headings".into(),
        files: vec![SourceFile::new("index.html", "<h1>Hi</h1>")],
        ..DesignRequest::default()
    };
    let refused = propose(&request).expect_err("no stylesheet");
    assert_eq!(
        refused.kind,
        devflow_builtin::NotUnderstoodKind::NoStylesheet
    );
}

#[test]
fn this_without_a_picked_element_asks_for_one() {
    for instruction in [
        "make this bigger",
        "この見出しをブランドカラーに",
        "これを赤に",
    ] {
        let request = common::request("simple-sidebar", "dtcg-small", instruction, None);
        let refusal = propose(&request).expect_err("no element picked");
        assert_eq!(
            refusal.kind,
            devflow_builtin::NotUnderstoodKind::NoTarget,
            "{instruction}"
        );
        assert!(
            refusal.message.contains("Pick an element first")
                || refusal.message.contains("先にプレビューで要素を選択"),
            "{}",
            refusal.message
        );
    }
    // "this page" names the whole site, not a picked element.
    let request = common::request(
        "simple-sidebar",
        "",
        "make this page background #ffffff",
        None,
    );
    let answer = propose(&request);
    assert!(
        !matches!(&answer, Err(e) if e.kind == devflow_builtin::NotUnderstoodKind::NoTarget),
        "{answer:?}"
    );
}

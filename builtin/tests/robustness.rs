//! The proposer on arbitrary input: it never panics, and whatever it proposes applies with
//! devflow-patch — on broken CSS, odd markup and any instruction.

mod common;

use devflow_builtin::{propose, DesignRequest};
use devflow_protocol::ResolvedToken;
use devflow_reference::SourceFile;
use proptest::prelude::*;

const INSTRUCTIONS: &[&str] = &[
    "make the buttons the brand primary",
    "ボタンをブランドカラーに",
    "headings in #ff0000",
    "bigger headings",
    "見出しをもっと大きく",
    "dark background",
    "余白を広く",
    "tighter spacing",
    "角を丸く",
    "square corners",
    "use the brand font",
    "use the design tokens",
    "トークンに合わせて",
    "make it pop",
];

fn tokens() -> Vec<ResolvedToken> {
    common::tokens("dtcg-small")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_and_every_proposal_applies(
        css in "[a-z0-9#.{}:;()\\[\\]=\" \n%/*!@,>&+~-]{0,300}",
        html in "[a-z<>=\"/ .#\n-]{0,120}",
        which in 0..INSTRUCTIONS.len(),
        target in proptest::option::of("[a-z#.> ]{1,12}"),
    ) {
        let files = vec![
            SourceFile::new("css/site.css", format!("button, .btn {{ color: #123; padding: 4px }}\nh1 {{ font-size: 2rem }}\n{css}")),
            SourceFile::new("index.html", format!("<link rel=\"stylesheet\" href=\"css/site.css\"><h1>t</h1><button class=\"btn\">b</button>{html}")),
        ];
        let request = DesignRequest {
            instruction: INSTRUCTIONS[which].to_string(),
            target: target.map(|selector| devflow_protocol::Target { selector, ..Default::default() }),
            prompt: String::new(),
            tokens: tokens(),
            files: files.clone(),
        };
        if let Ok(proposal) = propose(&request) {
            prop_assert!(proposal.validate().is_ok());
            let applied = common::apply(&files, &proposal);
            prop_assert!(applied.is_ok(), "{:?}\n{}", applied.err(), proposal.unified_diff);
        }
    }
}

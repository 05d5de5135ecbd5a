//! "Match the reference" read several ways. Snapping every off-token value to its nearest
//! token is a guess: a colour halfway between two tokens, a padding that could be `md` or
//! `lg` — the reference screen shows which one the designer meant, and the daemon renders
//! each reading against it to choose. [`snap_candidates`] gives those readings as separate
//! proposals, in a fixed order with the proposer's own answer (nearest everywhere) first;
//! a reading whose diff is the same as an earlier one's is left out, so every candidate
//! changes the site differently. [`choice_note`] and [`fallback_note`] say in the
//! instruction's language what the daemon made of them.

use std::fmt::Write as _;

use devflow_protocol::Proposal;

use crate::answer::{NotUnderstood, NotUnderstoodKind};
use crate::intent::{self, Change, Lang};
use crate::plan;
use crate::snap::{SnapChoice, SnapTo};
use crate::DesignRequest;

/// One reading of "match the reference": which token each kind of value snaps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapVariant {
    /// Every off-token value to its nearest token ([`crate::propose`]'s answer).
    Nearest,
    /// Values about as near to a second token as to the nearest take the second one.
    SecondNearest,
    /// As [`SnapVariant::SecondNearest`] for colours only; the rest to the nearest.
    SecondNearestColours,
    /// As [`SnapVariant::SecondNearest`] for spacings, radii and font sizes only.
    SecondNearestSizes,
    /// Only colours are snapped (to the nearest); everything else is left as it is.
    ColoursOnly,
    /// Everything but colours is snapped (to the nearest); colours are left as they are.
    SizesOnly,
}

impl SnapVariant {
    /// Every reading, in the order candidates are given.
    pub const ALL: [SnapVariant; 6] = [
        SnapVariant::Nearest,
        SnapVariant::SecondNearest,
        SnapVariant::SecondNearestColours,
        SnapVariant::SecondNearestSizes,
        SnapVariant::ColoursOnly,
        SnapVariant::SizesOnly,
    ];

    /// The reading's name in reasons and logs (stable, English).
    pub fn label(self) -> &'static str {
        match self {
            SnapVariant::Nearest => "nearest",
            SnapVariant::SecondNearest => "second-nearest",
            SnapVariant::SecondNearestColours => "second-nearest colours",
            SnapVariant::SecondNearestSizes => "second-nearest sizes",
            SnapVariant::ColoursOnly => "colours only",
            SnapVariant::SizesOnly => "sizes only",
        }
    }

    fn label_in(self, lang: Lang) -> &'static str {
        match (lang, self) {
            (Lang::En, _) => self.label(),
            (Lang::Ja, SnapVariant::Nearest) => "最も近いトークン",
            (Lang::Ja, SnapVariant::SecondNearest) => "二番目に近いトークン",
            (Lang::Ja, SnapVariant::SecondNearestColours) => "色だけ二番目に近いトークン",
            (Lang::Ja, SnapVariant::SecondNearestSizes) => "サイズだけ二番目に近いトークン",
            (Lang::Ja, SnapVariant::ColoursOnly) => "色だけ",
            (Lang::Ja, SnapVariant::SizesOnly) => "サイズだけ",
        }
    }

    fn choice(self) -> SnapChoice {
        let (colors, lengths, families) = match self {
            SnapVariant::Nearest => (SnapTo::Nearest, SnapTo::Nearest, true),
            SnapVariant::SecondNearest => (SnapTo::RunnerUp, SnapTo::RunnerUp, true),
            SnapVariant::SecondNearestColours => (SnapTo::RunnerUp, SnapTo::Nearest, true),
            SnapVariant::SecondNearestSizes => (SnapTo::Nearest, SnapTo::RunnerUp, true),
            SnapVariant::ColoursOnly => (SnapTo::Nearest, SnapTo::Leave, false),
            SnapVariant::SizesOnly => (SnapTo::Leave, SnapTo::Nearest, true),
        };
        SnapChoice {
            colors,
            lengths,
            families,
        }
    }
}

/// One reading of the instruction as its own proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub variant: SnapVariant,
    pub proposal: Proposal,
}

/// The readings of a "match the reference" instruction ([`crate::is_match_reference_instruction`])
/// as proposals: [`SnapVariant::Nearest`] first, then each other [`SnapVariant::ALL`] whose
/// diff differs from every earlier one's (so between one and six). Any other instruction has
/// one candidate, its proposal, as [`SnapVariant::Nearest`]. Fails as [`crate::propose`]
/// fails.
pub fn snap_candidates(request: &DesignRequest) -> Result<Vec<Candidate>, NotUnderstood> {
    let nearest = plan::propose(request)?;
    let is_snap = matches!(
        intent::read(&request.instruction),
        Ok(intent::Intent {
            change: Change::Snap,
            ..
        })
    );
    let mut candidates = vec![Candidate {
        variant: SnapVariant::Nearest,
        proposal: nearest,
    }];
    if !is_snap {
        return Ok(candidates);
    }
    for variant in SnapVariant::ALL.into_iter().skip(1) {
        let proposal = match plan::propose_with(request, variant.choice()) {
            Ok(proposal) => proposal,
            // This reading changes nothing (colours only, on a site whose colours are
            // all on-token).
            Err(not) if not.kind == NotUnderstoodKind::NothingToChange => continue,
            Err(not) => return Err(not),
        };
        if candidates
            .iter()
            .any(|c| c.proposal.unified_diff == proposal.unified_diff)
        {
            continue;
        }
        candidates.push(Candidate { variant, proposal });
    }
    Ok(candidates)
}

/// The language an instruction is in (what its reason and notes are written in).
pub fn instruction_lang(instruction: &str) -> Lang {
    match intent::read(instruction) {
        Ok(intent) => intent.lang,
        Err(partial) => partial.lang,
    }
}

/// How one candidate rendered against the reference screen: its similarity, or `None`
/// when it could not be rendered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CandidateScore {
    pub variant: SnapVariant,
    /// SSIM to the screen (1 = the same picture).
    pub ssim: Option<f64>,
    /// Palette distance to the screen (ΔE; 0 = the same colours).
    pub palette_distance: Option<f64>,
}

/// The sentence put before the chosen candidate's reason: how many candidates were
/// rendered against which screen at which viewport, each one's SSIM and palette ΔE, and
/// which was chosen.
pub fn choice_note(
    lang: Lang,
    screen: &str,
    viewport: &str,
    scores: &[CandidateScore],
    chosen: SnapVariant,
) -> String {
    let listed: Vec<String> = scores
        .iter()
        .map(|score| match (score.ssim, score.palette_distance, lang) {
            (Some(ssim), Some(delta_e), Lang::En) => format!(
                "{} SSIM {ssim:.3} ΔE {delta_e:.1}",
                score.variant.label_in(lang)
            ),
            (Some(ssim), Some(delta_e), Lang::Ja) => format!(
                "{}（{}）SSIM {ssim:.3} ΔE {delta_e:.1}",
                score.variant.label_in(lang),
                score.variant.label()
            ),
            (_, _, Lang::En) => format!("{} not rendered", score.variant.label_in(lang)),
            (_, _, Lang::Ja) => format!(
                "{}（{}）は描画できず",
                score.variant.label_in(lang),
                score.variant.label()
            ),
        })
        .collect();
    let mut note = String::new();
    match lang {
        Lang::En => {
            let _ = write!(
                note,
                "{} candidate snaps rendered against the reference screen '{screen}' at the {viewport} viewport: {}; chose {}.",
                scores.len(),
                listed.join(", "),
                chosen.label()
            );
        }
        Lang::Ja => {
            let _ = write!(
                note,
                "トークンへの合わせ方の候補 {} 件を描画し、参照スクリーン「{screen}」と {viewport} の表示幅で比べました: {}。{}（{}）を選びました。",
                scores.len(),
                listed.join("、"),
                chosen.label_in(lang),
                chosen.label()
            );
        }
    }
    note
}

/// The sentence put before the nearest-token proposal's reason when the candidates could
/// not be rendered against the reference screen; `why` says why (in English, from the
/// daemon).
pub fn fallback_note(lang: Lang, why: &str) -> String {
    match lang {
        Lang::En => format!(
            "Snapped to the nearest tokens without comparing candidates with the reference screen: {why}."
        ),
        Lang::Ja => format!(
            "参照スクリーンと候補を比べずに、最も近いトークンに合わせました（{why}）。"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devflow_protocol::ResolvedToken;
    use devflow_reference::SourceFile;

    fn token(path: &str, kind: &str, value: &str) -> ResolvedToken {
        ResolvedToken {
            path: path.into(),
            token_type: kind.into(),
            value: value.into(),
            description: None,
            alias_of: None,
        }
    }

    fn tokens() -> Vec<ResolvedToken> {
        vec![
            token("color.brand.primary", "color", "#4f46e5"),
            token("color.brand.primary-hover", "color", "#3730a3"),
            token("color.text.default", "color", "#0f172a"),
            token("color.surface.background", "color", "#ffffff"),
            token("space.4", "dimension", "16px"),
            token("space.6", "dimension", "24px"),
            token("space.8", "dimension", "32px"),
            token("radius.sm", "dimension", "4px"),
            token("radius.md", "dimension", "8px"),
        ]
    }

    fn request(instruction: &str, css: &str) -> DesignRequest {
        DesignRequest {
            instruction: instruction.into(),
            tokens: tokens(),
            files: vec![
                SourceFile::new(
                    "index.html",
                    "<!doctype html><link rel=\"stylesheet\" href=\"style.css\"><div class=\"hero\">Hi</div>",
                ),
                SourceFile::new("style.css", css),
            ],
            ..Default::default()
        }
    }

    /// The new value of every changed line of a candidate's diff.
    fn added(candidate: &Candidate) -> Vec<String> {
        candidate
            .proposal
            .unified_diff
            .lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
            .map(|l| l[1..].trim().to_string())
            .collect()
    }

    fn variants(candidates: &[Candidate]) -> Vec<&'static str> {
        candidates.iter().map(|c| c.variant.label()).collect()
    }

    // #4338ca sits between indigo 500 (#4f46e5) and 700 (#3730a3); 20px between 16 and 24.
    const AMBIGUOUS: &str =
        ".hero {\n  background-color: #4338ca;\n  padding: 20px;\n  color: #111;\n}\n";

    #[test]
    fn ambiguous_values_give_second_nearest_readings_and_kind_only_readings() {
        let candidates = snap_candidates(&request("match the reference", AMBIGUOUS)).unwrap();
        assert_eq!(
            variants(&candidates),
            [
                "nearest",
                "second-nearest",
                "second-nearest colours",
                "second-nearest sizes",
                "colours only",
                "sizes only"
            ]
        );
        let by = |label: &str| {
            let candidate = candidates
                .iter()
                .find(|c| c.variant.label() == label)
                .unwrap();
            added(candidate)
        };
        let nearest = by("nearest");
        let second = by("second-nearest");
        // The nearest of each, and the other token of each pair.
        assert_eq!(nearest.len(), 3, "{nearest:?}");
        assert_ne!(
            nearest[0], second[0],
            "the ambiguous colour takes another token"
        );
        assert!(
            ["background-color: #4f46e5;", "background-color: #3730a3;"]
                .contains(&nearest[0].as_str()),
            "{nearest:?}"
        );
        assert!(
            ["background-color: #4f46e5;", "background-color: #3730a3;"]
                .contains(&second[0].as_str()),
            "{second:?}"
        );
        assert_eq!(nearest[1], "padding: 24px;");
        assert_eq!(second[1], "padding: 16px;");
        // #111 is far nearer to #0f172a than to anything else: the same in every reading.
        assert_eq!(nearest[2], "color: #0f172a;");
        assert_eq!(second[2], "color: #0f172a;");
        assert_eq!(
            by("second-nearest colours"),
            [second[0].clone(), nearest[1].clone(), nearest[2].clone()]
        );
        assert_eq!(
            by("second-nearest sizes"),
            [nearest[0].clone(), second[1].clone(), nearest[2].clone()]
        );
        // The kind-only readings leave the other lines as they were.
        assert_eq!(by("colours only"), [nearest[0].clone(), nearest[2].clone()]);
        assert_eq!(by("sizes only"), [nearest[1].clone()]);
        // The first candidate is the proposer's own answer, and every reason says its reading.
        let request = request("match the reference", AMBIGUOUS);
        assert_eq!(candidates[0].proposal, crate::propose(&request).unwrap());
        assert!(
            candidates[1]
                .proposal
                .reason
                .contains("2 of them were about as near"),
            "{}",
            candidates[1].proposal.reason
        );
        assert!(
            candidates[5].proposal.reason.contains("Colours were left"),
            "{}",
            candidates[5].proposal.reason
        );
        // Deterministic: the same request gives the same candidates.
        assert_eq!(snap_candidates(&request).unwrap(), candidates);
    }

    #[test]
    fn unambiguous_values_give_only_the_readings_that_differ() {
        // 17px is near 16px only; #111 near the text colour only: no second-nearest reading.
        let candidates = snap_candidates(&request(
            "use the design tokens",
            ".hero {\n  padding: 17px;\n  color: #111;\n}\n",
        ))
        .unwrap();
        assert_eq!(
            variants(&candidates),
            ["nearest", "colours only", "sizes only"]
        );
        // Only colours off-token: one reading.
        let candidates = snap_candidates(&request(
            "match the reference",
            ".hero {\n  padding: 16px;\n  color: #111;\n}\n",
        ))
        .unwrap();
        assert_eq!(variants(&candidates), ["nearest"]);
    }

    #[test]
    fn other_instructions_have_one_candidate_and_failures_are_the_proposers() {
        let candidates = snap_candidates(&request("make the text bigger", AMBIGUOUS)).unwrap();
        assert_eq!(variants(&candidates), ["nearest"]);
        let on_token = ".hero {\n  padding: 16px;\n  color: #0f172a;\n}\n";
        let error = snap_candidates(&request("match the reference", on_token)).unwrap_err();
        assert_eq!(error.kind, NotUnderstoodKind::NothingToChange);
        let mut no_tokens = request("match the reference", AMBIGUOUS);
        no_tokens.tokens.clear();
        let error = snap_candidates(&no_tokens).unwrap_err();
        assert_eq!(error.kind, NotUnderstoodKind::NoTokens);
    }

    #[test]
    fn notes_list_every_score_and_the_choice_in_the_instructions_language() {
        let scores = [
            CandidateScore {
                variant: SnapVariant::Nearest,
                ssim: Some(0.9123),
                palette_distance: Some(4.21),
            },
            CandidateScore {
                variant: SnapVariant::SecondNearest,
                ssim: Some(0.99),
                palette_distance: Some(1.0),
            },
            CandidateScore {
                variant: SnapVariant::ColoursOnly,
                ssim: None,
                palette_distance: None,
            },
        ];
        assert_eq!(
            choice_note(Lang::En, "home", "desktop", &scores, SnapVariant::SecondNearest),
            "3 candidate snaps rendered against the reference screen 'home' at the desktop viewport: nearest SSIM 0.912 ΔE 4.2, second-nearest SSIM 0.990 ΔE 1.0, colours only not rendered; chose second-nearest."
        );
        let ja = choice_note(
            Lang::Ja,
            "home",
            "desktop",
            &scores,
            SnapVariant::SecondNearest,
        );
        assert!(ja.contains("候補 3 件"), "{ja}");
        assert!(
            ja.ends_with("二番目に近いトークン（second-nearest）を選びました。"),
            "{ja}"
        );
        assert_eq!(
            fallback_note(Lang::En, "the site runs on a dev server"),
            "Snapped to the nearest tokens without comparing candidates with the reference screen: the site runs on a dev server."
        );
        assert_eq!(instruction_lang("トークンに合わせて"), Lang::Ja);
        assert_eq!(instruction_lang("match the reference"), Lang::En);
    }
}

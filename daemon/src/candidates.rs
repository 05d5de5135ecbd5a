//! "Match the reference screen": the builtin proposer's candidate snaps
//! ([`devflow_builtin::snap_candidates`]) rendered against the reference's screen of the page,
//! so the one the designer meant is chosen by how the page looks, not by which token is
//! nearest.
//!
//! Each candidate is planned by the patch engine (nothing is written to the workspace),
//! written into a scratch mirror of the workspace (files hard-linked where the file system
//! allows, else copied; the planned files replace their links by rename, so the workspace's
//! files are never written through), served by the preview's own static server (the same
//! injection as the session's preview) and loaded in the daemon's Chromium at the one
//! viewport whose width is nearest to the screen's — the viewport the command's fidelity
//! is measured at. Its screenshot's similarity to the screen is its score ([`choose`]).
//!
//! Bounded: at most six candidates (the builtin's readings), one viewport, the browser's
//! own limit of tabs at once, [`RENDER_BUDGET`] for all of them, mirrors of at most
//! [`MAX_MIRRORED_FILES`] files. The file and pixel work runs on the blocking pool.
//! Mirrors live under `<state dir>/candidates/` and are removed when scored; what a killed
//! daemon left there is removed at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use devflow_builtin::{Candidate, CandidateScore};
use devflow_preview_proxy::{Proxy, ProxyConfig, Upstream};
use devflow_reference::ScreenFile;
use devflow_visual::Picture;

use crate::parts::PatchEngine;
use crate::preview::browser::{BrowserChecks, NamedViewport, VIEWPORTS};

/// The limit for rendering every candidate of one command; past it the command falls back
/// to the nearest-token snap.
pub const RENDER_BUDGET: Duration = Duration::from_secs(60);
/// A site with more files than this is not mirrored (the nearest-token snap is proposed).
pub const MAX_MIRRORED_FILES: usize = 20_000;
/// Bytes a mirror may copy when hard links are not possible (another file system).
const MAX_COPIED_BYTES: u64 = 256 * 1024 * 1024;
/// SSIMs closer than this are a tie, decided by the palette distance.
pub const SSIM_TIE: f64 = 0.001;
/// Folders a mirror leaves out: not part of what a static site serves.
const SKIPPED_DIRS: &[&str] = &["node_modules"];

/// What rendering the candidates found: each one's score (in the candidates' order) at
/// `viewport`, or why none could be compared.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub viewport: NamedViewport,
    pub scores: Vec<CandidateScore>,
}

/// Renders candidate snaps with the daemon's browser.
pub struct CandidateRenderer {
    browser: Arc<BrowserChecks>,
    patch_engine: Arc<dyn PatchEngine>,
    /// `<state dir>/candidates`: the mirrors' parent.
    scratch: PathBuf,
}

impl CandidateRenderer {
    /// A renderer whose mirrors go under `scratch`, which is emptied first (the caller holds
    /// the state dir's lock, so nothing there is in use).
    pub fn new(
        browser: Arc<BrowserChecks>,
        patch_engine: Arc<dyn PatchEngine>,
        scratch: PathBuf,
    ) -> CandidateRenderer {
        if let Ok(entries) = std::fs::read_dir(&scratch) {
            for entry in entries.flatten() {
                let path = entry.path();
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                if let Err(error) = removed {
                    tracing::warn!(path = %path.display(), %error, "cannot remove a leftover candidate mirror");
                }
            }
        }
        CandidateRenderer {
            browser,
            patch_engine,
            scratch,
        }
    }

    /// Why the candidates of a command on `workspace` cannot be rendered, if they cannot: no
    /// browser, or a site that runs on a dev server (whose pages a static mirror does not
    /// show).
    pub fn unavailable(&self, workspace: &Path) -> Option<String> {
        if let Err(reason) = self.browser.chromium() {
            return Some(format!("no browser to render them with ({reason})"));
        }
        let package_json = std::fs::read_to_string(workspace.join("package.json")).ok();
        let plan = crate::preview::detect::plan(package_json.as_deref(), |name| {
            workspace.join(name).exists()
        });
        match plan {
            Ok(crate::preview::detect::Plan::Script { script, .. }) => Some(format!(
                "the site runs on a dev server (its `{script}` script), and candidates are rendered only for static sites"
            )),
            _ => None,
        }
    }

    /// Renders every candidate against `screen` at the viewport nearest its width and scores
    /// it; a candidate that cannot be rendered has no score (logged). `Err` when the screen
    /// is unreadable or the whole took longer than [`RENDER_BUDGET`].
    pub async fn render(
        &self,
        workspace: &Path,
        screen: &ScreenFile,
        candidates: &[Candidate],
    ) -> Result<Rendered, String> {
        let started = Instant::now();
        let png = screen.bytes.clone();
        let reference = tokio::task::spawn_blocking(move || Picture::decode_png(&png))
            .await
            .map_err(|e| format!("reading the reference screen stopped: {e}"))?
            .map_err(|e| {
                format!(
                    "the reference screen '{}' is not a readable PNG: {e}",
                    screen.name
                )
            })?;
        let viewport = viewport_for(reference.width());
        let reference = Arc::new(reference);
        let renders = candidates.iter().map(|candidate| {
            let reference = reference.clone();
            async move {
                let score = self
                    .score(workspace, candidate, reference, viewport)
                    .await
                    .map_err(|error| {
                        tracing::warn!(candidate = candidate.variant.label(), %error, "a candidate snap could not be rendered");
                    })
                    .ok();
                CandidateScore {
                    variant: candidate.variant,
                    ssim: score.map(|s| s.ssim),
                    palette_distance: score.map(|s| s.palette_distance),
                }
            }
        });
        let scores = tokio::time::timeout(RENDER_BUDGET, futures::future::join_all(renders))
            .await
            .map_err(|_| {
                format!(
                    "rendering the candidates took longer than {} s",
                    RENDER_BUDGET.as_secs()
                )
            })?;
        tracing::info!(
            candidates = candidates.len(),
            viewport = viewport.name.as_str(),
            ms = started.elapsed().as_millis() as u64,
            scores = ?scores.iter().map(|s| (s.variant.label(), s.ssim, s.palette_distance)).collect::<Vec<_>>(),
            "candidate snaps rendered against the reference screen"
        );
        Ok(Rendered { viewport, scores })
    }

    /// One candidate: planned, mirrored with its files, served, looked at and compared.
    async fn score(
        &self,
        workspace: &Path,
        candidate: &Candidate,
        reference: Arc<Picture>,
        viewport: NamedViewport,
    ) -> Result<devflow_visual::Fidelity, String> {
        let engine = self.patch_engine.clone();
        let (source, scratch, proposal) = (
            workspace.to_path_buf(),
            self.scratch.clone(),
            candidate.proposal.clone(),
        );
        let mirror = tokio::task::spawn_blocking(move || {
            let planned = engine
                .plan(&source, &proposal)
                .map_err(|rejection| format!("it does not apply: {}", rejection.summary))?;
            std::fs::create_dir_all(&scratch)
                .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
            let mirror = tempfile::Builder::new()
                .prefix("candidate-")
                .tempdir_in(&scratch)
                .map_err(|e| format!("cannot make a mirror in {}: {e}", scratch.display()))?;
            mirror_tree(&source, mirror.path())?;
            engine
                .commit(mirror.path(), &planned.files)
                .map_err(|e| format!("cannot write it into the mirror: {e}"))?;
            Ok::<_, String>(mirror)
        })
        .await
        .map_err(|e| format!("mirroring stopped: {e}"))??;
        let proxy = Proxy::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            ProxyConfig::new(Upstream::Static(mirror.path().to_path_buf())),
        )
        .await
        .map_err(|e| format!("cannot serve the mirror: {e}"))?;
        let look = self.browser.look_at(&proxy.url(), viewport).await;
        drop(proxy);
        // The mirror goes on the blocking pool: removing a large tree is file work.
        tokio::task::spawn_blocking(move || drop(mirror));
        let png = look
            .map_err(|e| format!("the browser could not look at it: {e}"))?
            .check
            .screenshot
            .ok_or("the look came back without a screenshot")?;
        tokio::task::spawn_blocking(move || {
            let picture = Picture::decode_png(&png).map_err(|e| e.to_string())?;
            Ok(devflow_visual::fidelity(&picture, &reference))
        })
        .await
        .map_err(|e| format!("comparing stopped: {e}"))?
    }
}

/// The viewport a screen `width` px wide is compared at: the nearest width, the first of
/// [`VIEWPORTS`] on a tie (as the command's fidelity picks it).
pub fn viewport_for(width: u32) -> NamedViewport {
    VIEWPORTS
        .iter()
        .copied()
        .min_by_key(|v| v.viewport.width.abs_diff(width))
        .unwrap_or(VIEWPORTS[0])
}

/// The best-scored candidate: the highest SSIM; SSIMs within [`SSIM_TIE`] of the best so
/// far are a tie that the lower palette distance wins, and an exact tie stays with the
/// earlier candidate (the nearest-token snap comes first). `None` when nothing was scored.
pub fn choose(scores: &[CandidateScore]) -> Option<usize> {
    let mut best: Option<(usize, f64, f64)> = None;
    for (index, score) in scores.iter().enumerate() {
        let (Some(ssim), Some(palette)) = (score.ssim, score.palette_distance) else {
            continue;
        };
        let better = match best {
            None => true,
            Some((_, best_ssim, best_palette)) => {
                ssim > best_ssim + SSIM_TIE
                    || ((ssim - best_ssim).abs() <= SSIM_TIE && palette < best_palette)
            }
        };
        if better {
            best = Some((index, ssim, palette));
        }
    }
    best.map(|(index, _, _)| index)
}

/// Mirrors the files of `source` into the empty folder `mirror`: hard links where possible,
/// else copies (at most [`MAX_COPIED_BYTES`]); dot-files, [`SKIPPED_DIRS`] and symbolic
/// links are left out (the static server serves none of them).
fn mirror_tree(source: &Path, mirror: &Path) -> Result<(), String> {
    let mut files = 0usize;
    let mut copied = 0u64;
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let dir = source.join(&relative);
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(text) = name.to_str() else { continue };
            if text.starts_with('.') || SKIPPED_DIRS.contains(&text) {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = relative.join(&name);
            let target = mirror.join(&path);
            if kind.is_dir() {
                std::fs::create_dir(&target)
                    .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
                stack.push(path);
            } else if kind.is_file() {
                files += 1;
                if files > MAX_MIRRORED_FILES {
                    return Err(format!(
                        "the site has more than {MAX_MIRRORED_FILES} files to mirror"
                    ));
                }
                let original = entry.path();
                if std::fs::hard_link(&original, &target).is_err() {
                    copied += std::fs::copy(&original, &target)
                        .map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
                    if copied > MAX_COPIED_BYTES {
                        return Err(format!(
                            "the site is larger than {} MiB to copy",
                            MAX_COPIED_BYTES / (1024 * 1024)
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use devflow_builtin::SnapVariant;
    use devflow_protocol::Proposal;

    fn score(variant: SnapVariant, ssim: f64, palette: f64) -> CandidateScore {
        CandidateScore {
            variant,
            ssim: Some(ssim),
            palette_distance: Some(palette),
        }
    }

    #[test]
    fn the_highest_ssim_wins_and_a_near_tie_goes_to_the_nearer_palette() {
        let scores = [
            score(SnapVariant::Nearest, 0.91, 4.2),
            score(SnapVariant::SecondNearest, 0.97, 1.5),
            score(SnapVariant::ColoursOnly, 0.9705, 3.0),
        ];
        assert_eq!(choose(&scores), Some(1), "a near tie: the palette decides");
        let scores = [
            score(SnapVariant::Nearest, 0.91, 4.2),
            score(SnapVariant::SecondNearest, 0.95, 9.0),
        ];
        assert_eq!(choose(&scores), Some(1), "SSIM first");
        let scores = [
            score(SnapVariant::Nearest, 0.95, 2.0),
            score(SnapVariant::SecondNearest, 0.95, 2.0),
        ];
        assert_eq!(
            choose(&scores),
            Some(0),
            "an exact tie stays with the nearest"
        );
        let unrendered = CandidateScore {
            variant: SnapVariant::Nearest,
            ssim: None,
            palette_distance: None,
        };
        assert_eq!(
            choose(&[unrendered, score(SnapVariant::SizesOnly, 0.5, 9.0)]),
            Some(1)
        );
        assert_eq!(choose(&[unrendered]), None);
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn a_screen_is_compared_at_the_viewport_nearest_its_width() {
        assert_eq!(viewport_for(1280).name.as_str(), "desktop");
        assert_eq!(viewport_for(1440).name.as_str(), "desktop");
        assert_eq!(viewport_for(390).name.as_str(), "mobile");
        assert_eq!(viewport_for(700).name.as_str(), "mobile");
        assert_eq!(viewport_for(900).name.as_str(), "desktop");
    }

    #[test]
    fn candidates_are_rendered_only_for_static_sites_with_a_browser() {
        let root = tempfile::tempdir().unwrap();
        let site = root.path().join("site");
        std::fs::create_dir(&site).unwrap();
        std::fs::write(site.join("index.html"), "<p>hi</p>\n").unwrap();
        let renderer = |browser: BrowserChecks| {
            CandidateRenderer::new(
                Arc::new(browser),
                Arc::new(crate::engine::WorkspacePatchEngine),
                root.path().join("candidates"),
            )
        };
        // Chromium is started only by a look, so any path stands for one here.
        let with_browser = renderer(BrowserChecks::with_chromium(
            PathBuf::from("/nonexistent/chromium"),
            Default::default(),
        ));
        assert_eq!(with_browser.unavailable(&site), None);
        std::fs::write(site.join("package.json"), r#"{"scripts":{"dev":"vite"}}"#).unwrap();
        let why = with_browser.unavailable(&site).unwrap();
        assert!(why.contains("dev server (its `dev` script)"), "{why}");
        let without = renderer(BrowserChecks::off("browser verification is off"));
        let why = without.unavailable(&site).unwrap();
        assert!(why.starts_with("no browser to render them with"), "{why}");
    }

    #[test]
    fn a_candidate_written_into_a_mirror_leaves_the_workspace_alone() {
        let root = tempfile::tempdir().unwrap();
        let workspace = root.path().join("site");
        std::fs::create_dir_all(workspace.join("css")).unwrap();
        std::fs::create_dir_all(workspace.join(".git")).unwrap();
        std::fs::create_dir_all(workspace.join("node_modules/x")).unwrap();
        std::fs::write(workspace.join("index.html"), "<p>hi</p>\n").unwrap();
        std::fs::write(workspace.join("css/style.css"), "p {\n  color: #111;\n}\n").unwrap();
        std::fs::write(workspace.join(".git/HEAD"), "ref\n").unwrap();
        std::fs::write(workspace.join("node_modules/x/a.js"), "").unwrap();
        let mirror = root.path().join("mirror");
        std::fs::create_dir(&mirror).unwrap();
        mirror_tree(&workspace, &mirror).unwrap();
        assert!(mirror.join("index.html").is_file());
        assert!(!mirror.join(".git").exists());
        assert!(!mirror.join("node_modules").exists());

        let engine = crate::engine::WorkspacePatchEngine;
        let proposal = Proposal {
            files_to_edit: vec!["css/style.css".into()],
            unified_diff: "--- a/css/style.css\n+++ b/css/style.css\n@@ -1,3 +1,3 @@\n p {\n-  color: #111;\n+  color: #0f172a;\n }\n".into(),
            reason: "test".into(),
            confidence: 0.9,
        };
        let planned = engine.plan(&workspace, &proposal).unwrap();
        engine.commit(&mirror, &planned.files).unwrap();
        assert_eq!(
            std::fs::read_to_string(mirror.join("css/style.css")).unwrap(),
            "p {\n  color: #0f172a;\n}\n"
        );
        assert_eq!(
            std::fs::read_to_string(workspace.join("css/style.css")).unwrap(),
            "p {\n  color: #111;\n}\n",
            "the hard link was replaced, not written through"
        );
    }
}

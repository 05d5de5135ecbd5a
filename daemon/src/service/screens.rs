//! Verification in a real browser and the pictures of a command, for the pipeline: the
//! session's entry page is looked at before the patch is written and again after it (after
//! the HTTP checks and the reload) at every viewport ([`crate::preview::browser`]); what the
//! page shows after that it did not show before fails verification like a broken HTTP check
//! does. The screenshots, with a pixel-difference image per viewport, become session
//! artifacts served at `GET /sessions/{id}/screenshots/{commandId}/{file}`; when the
//! session's reference has a screen for the page, the similarity to it before and after is
//! the command's `fidelity`.
//!
//! The look before is rarely taken by the command itself: the look after the previous
//! command is remembered, and when the page changes outside a command (the preview becomes
//! ready, a hand edit, a rollback) [`Service::prepare_baseline`] takes it in the background.
//! The pipeline publishes PATCH_APPLY_COMPLETED and PREVIEW_UPDATED once the HTTP checks
//! pass and the look after comes next, so the preview's update is not held up by the
//! browser; a problem it finds still rolls the patch back before READY.
//!
//! Which reference screen belongs to the page ([`screen_for_page`]): the screen named after
//! the page's path (`/` → `home` or `index`, `/about.html` → `about`, `/blog/post/` →
//! `blog/post`), else the only screen when the reference has exactly one. Only PNG screens
//! are compared (the screenshots are PNG; an HTML or JPEG screen gives no fidelity). The
//! screen is compared with the viewport whose width is nearest to its own, scaled to that
//! screenshot's size.

use devflow_blobs::Bytes;
use devflow_llm::pictures::PageShot;
use devflow_protocol::{
    Command, FidelityScore, ScreenFidelity, Screenshot, Session, Verification, VerificationMode,
    ViewportName,
};
use devflow_reference::ScreenFile;
use devflow_visual::{Picture, DEFAULT_THRESHOLD};

use tracing::Instrument;

use super::{Result, Service};
use crate::error::ServiceError;
use crate::preview::browser::{LookError, ViewLook};

/// How long the files stay unchanged before the baseline is looked at: an editor saving
/// several files, or a dev server rebuilding, is one change, looked at once.
const BASELINE_QUIET: std::time::Duration = std::time::Duration::from_millis(300);

/// The page as the browser showed it at every viewport, or why it could not.
pub(super) type BrowserLook = std::result::Result<Vec<ViewLook>, LookError>;

/// What verification made of a patch: the Command's `verification`, and both looks when the
/// browser had them (for the pictures).
pub(super) struct Verdict {
    pub verification: Verification,
    pub looks: Option<(Vec<ViewLook>, Vec<ViewLook>)>,
}

/// One viewport's pictures, encoded, with the changed share.
struct ViewPictures {
    viewport: ViewportName,
    width: u32,
    height: u32,
    before: Vec<u8>,
    after: Vec<u8>,
    diff: Vec<u8>,
    changed_share: f64,
}

impl Service {
    /// Before a patch is written: the page at every viewport. `None` without a preview.
    /// Usually already taken: the look after the previous command, or the baseline
    /// [`Service::prepare_baseline`] took when the page last changed outside a command.
    pub(super) async fn look_before_patch(&self, session: &Session) -> Option<BrowserLook> {
        let url = session.preview_url.as_deref()?;
        Some(self.baseline(&session.session_id, url).await)
    }

    /// The page at `url` as it is now, remembered at its page generation: looked at only when
    /// no look of this generation is remembered, by one caller at a time per session.
    async fn baseline(&self, session_id: &str, url: &str) -> BrowserLook {
        let browser = &self.inner.parts.browser;
        let turn = browser.baseline_turn(session_id);
        let _turn = turn.lock().await;
        // Read before looking: a change while the browser looks makes the look stale.
        let generation = self.inner.parts.preview.page_generation(session_id).await;
        if let Some(looks) = generation.and_then(|g| browser.recall(session_id, url, g)) {
            tracing::debug!("the page is as last looked at: that look is the baseline");
            return Ok(looks);
        }
        let looks = browser.look(url).await;
        if !matches!(looks, Err(LookError::Unavailable(_))) {
            self.inner.metrics.page_looked();
        }
        if let (Ok(looks), Some(generation)) = (&looks, generation) {
            browser.remember(session_id, url, generation, looks);
        }
        looks
    }

    /// The page changed outside a command (the preview became ready, a file was edited by
    /// hand, a rollback): once the files have been quiet for [`BASELINE_QUIET`], look at the
    /// page in the background, so the next command compares with that look instead of
    /// waiting for one before it writes. Nothing without a browser or a running preview.
    pub(crate) fn prepare_baseline(&self, session_id: &str) {
        if self.inner.parts.browser.chromium().is_err() {
            return;
        }
        let service = self.clone();
        let span = tracing::debug_span!("baseline", session_id);
        let session_id = session_id.to_string();
        tokio::spawn(
            async move {
                let preview = &service.inner.parts.preview;
                let Some(changed_at) = preview.page_generation(&session_id).await else {
                    return;
                };
                tokio::time::sleep(BASELINE_QUIET).await;
                if preview.page_generation(&session_id).await != Some(changed_at) {
                    return; // changed again: that change prepares its own
                }
                let Ok(session) = service.session(&session_id).await else {
                    return;
                };
                let Some(url) = session.preview_url else {
                    return;
                };
                if let Err(error) = service.baseline(&session_id, &url).await {
                    tracing::debug!(%error, "no baseline look of the page");
                }
            }
            .instrument(span),
        );
    }

    /// After the patch (and the HTTP checks, whose failure is `http_problem`): the page again,
    /// compared with `before`. Problems in the verdict fail the attempt.
    pub(super) async fn verify_after_patch(
        &self,
        session: &Session,
        before: Option<BrowserLook>,
        http_problem: Option<String>,
    ) -> Verdict {
        let http_only = |note: String| Verdict {
            verification: Verification {
                mode: VerificationMode::Http,
                problems: http_problem.clone().into_iter().collect(),
                note: Some(note),
            },
            looks: None,
        };
        let (Some(url), Some(before)) = (session.preview_url.as_deref(), before) else {
            return http_only("the session has no running preview".into());
        };
        let before = match before {
            Ok(before) => before,
            Err(LookError::Unavailable(why)) => return http_only(why),
            Err(error) => {
                tracing::warn!(%error, "the browser could not look at the page before the patch");
                return http_only(format!(
                    "the browser could not look at the page before the patch: {error}"
                ));
            }
        };
        // Read before looking: a change while the browser looks makes the look stale.
        let generation = self
            .inner
            .parts
            .preview
            .page_generation(&session.session_id)
            .await;
        let after = self.inner.parts.browser.look(url).await;
        if !matches!(after, Err(LookError::Unavailable(_))) {
            self.inner.metrics.page_looked();
        }
        let after = match after {
            Ok(after) => after,
            Err(LookError::TimedOut(why)) => {
                // It loaded before the patch: a page that no longer finishes is the patch's.
                let mut problems: Vec<String> = http_problem.into_iter().collect();
                problems.push(format!("the page no longer finishes loading: {why}"));
                return Verdict {
                    verification: Verification {
                        mode: VerificationMode::Browser,
                        problems,
                        note: None,
                    },
                    looks: None,
                };
            }
            Err(error) => {
                tracing::warn!(%error, "the browser could not look at the page after the patch");
                return http_only(format!(
                    "the browser could not look at the page after the patch: {error}"
                ));
            }
        };
        let mut problems: Vec<String> = http_problem.into_iter().collect();
        for (now, then) in after.iter().zip(&before) {
            for problem in now.check.new_problems(&then.check) {
                if !problems.contains(&problem) {
                    problems.push(problem);
                }
            }
        }
        if !problems.is_empty() {
            tracing::info!(?problems, "the browser found new problems after the patch");
        } else if let Some(generation) = generation {
            // The patch stays: this is the page the next command starts from.
            self.inner
                .parts
                .browser
                .remember(&session.session_id, url, generation, &after);
        }
        Verdict {
            verification: Verification {
                mode: VerificationMode::Browser,
                problems,
                note: None,
            },
            looks: Some((before, after)),
        }
    }

    /// The pictures of attempt `attempt`: every viewport's before, after and difference
    /// stored as session artifacts and put in the command with their URLs, and the fidelity
    /// to the reference screen of the page when there is one. The pixel work runs on the
    /// blocking pool. A picture that cannot be stored leaves its viewport out, with a warning.
    pub(super) async fn keep_pictures(
        &self,
        command: &mut Command,
        attempt: u32,
        before: Vec<ViewLook>,
        after: Vec<ViewLook>,
    ) {
        let started = std::time::Instant::now();
        let service = self.clone();
        let session_id = command.session_id.clone();
        let computed = tokio::task::spawn_blocking(move || {
            let screen = service.entry_page_screen(&session_id);
            let pictures = compare_views(&before, &after);
            let fidelity = screen.and_then(|screen| fidelity_to(&screen, &before, &after));
            (pictures, fidelity)
        })
        .await;
        let (pictures, fidelity) = match computed {
            Ok(computed) => computed,
            Err(error) => {
                tracing::error!(%error, "comparing the screenshots panicked");
                return;
            }
        };
        let compared_ms = started.elapsed().as_millis() as u64;
        command.fidelity = fidelity;
        let mut screenshots = Vec::new();
        for view in pictures {
            match self.store_view(command, attempt, view).await {
                Ok(screenshot) => screenshots.push(screenshot),
                Err(message) => {
                    tracing::warn!(%message, "could not store a screenshot");
                    let warning = devflow_protocol::EventBody::Log {
                        level: "warn".into(),
                        message,
                    };
                    if let Err(error) = self
                        .publish(&command.session_id, Some(&command.command_id), warning)
                        .await
                    {
                        tracing::warn!(%error, "could not publish the warning");
                    }
                }
            }
        }
        command.screenshots = screenshots;
        tracing::debug!(
            compared_ms,
            stored_ms = started.elapsed().as_millis() as u64 - compared_ms,
            "screenshots compared and stored"
        );
    }

    async fn store_view(
        &self,
        command: &Command,
        attempt: u32,
        view: ViewPictures,
    ) -> std::result::Result<Screenshot, String> {
        let (session_id, command_id) = (&command.session_id, &command.command_id);
        let base = format!(
            "{}/sessions/{session_id}/screenshots/{command_id}",
            self.config().public_base_url
        );
        let mut urls = Vec::with_capacity(3);
        for (kind, png) in [
            ("before", view.before),
            ("after", view.after),
            ("diff", view.diff),
        ] {
            let name = picture_name(view.viewport.as_str(), kind, attempt);
            self.inner
                .artifacts
                .store_picture(session_id, command_id, &name, Bytes::from(png))
                .await
                .map_err(|error| {
                    format!(
                        "the {} {kind} screenshot could not be stored as a session artifact: {error}",
                        view.viewport.as_str()
                    )
                })?;
            urls.push(format!("{base}/{name}"));
        }
        let [before, after, diff]: [String; 3] = urls
            .try_into()
            .map_err(|_| "three pictures per viewport".to_string())?;
        Ok(Screenshot {
            viewport: view.viewport,
            width: view.width,
            height: view.height,
            before,
            after,
            diff,
            changed_share: view.changed_share,
        })
    }

    /// `GET /sessions/{id}/screenshots/{commandId}/{file}`: one picture of a command.
    pub async fn command_picture(
        &self,
        session_id: &str,
        command_id: &str,
        file: &str,
    ) -> Result<Bytes> {
        if !is_picture_name(file) {
            return Err(ServiceError::invalid(
                "file",
                file,
                "not a screenshot name; they look like desktop-after-1.png",
            ));
        }
        // The ids are looked up before they become part of a key.
        let command = self.command(session_id, command_id).await?;
        match self
            .inner
            .artifacts
            .picture(&command.session_id, &command.command_id, file)
            .await
        {
            Ok(bytes) => Ok(bytes),
            Err(error) if error.is_not_found() => {
                Err(ServiceError::not_found("file", file, "screenshot"))
            }
            Err(error) => Err(crate::artifacts::service_error(error)),
        }
    }
}

/// `desktop-after-1.png`: viewport, which picture, attempt.
fn picture_name(viewport: &str, kind: &str, attempt: u32) -> String {
    format!("{viewport}-{kind}-{attempt}.png")
}

/// Whether `file` is a name [`picture_name`] makes (the route takes nothing else).
fn is_picture_name(file: &str) -> bool {
    let Some(stem) = file.strip_suffix(".png") else {
        return false;
    };
    let mut parts = stem.split('-');
    let (Some(viewport), Some(kind), Some(attempt), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    crate::preview::browser::VIEWPORTS
        .iter()
        .any(|v| v.name.as_str() == viewport)
        && matches!(kind, "before" | "after" | "diff")
        && matches!(attempt, "1" | "2")
}

/// Every viewport's before/after pair compared: the difference image and changed share.
/// A viewport whose screenshots are missing or unreadable is left out (logged).
fn compare_views(before: &[ViewLook], after: &[ViewLook]) -> Vec<ViewPictures> {
    let mut views = Vec::new();
    for (then, now) in before.iter().zip(after) {
        let name = now.viewport.name.as_str();
        let (Some(before_png), Some(after_png)) = (&then.check.screenshot, &now.check.screenshot)
        else {
            tracing::warn!(viewport = name, "a look came back without its screenshot");
            continue;
        };
        let pictures = Picture::decode_png(before_png)
            .and_then(|before| Picture::decode_png(after_png).map(|after| (before, after)));
        let (before_picture, after_picture) = match pictures {
            Ok(pictures) => pictures,
            Err(error) => {
                tracing::warn!(viewport = name, %error, "a screenshot is not a readable PNG");
                continue;
            }
        };
        let difference = devflow_visual::diff(&before_picture, &after_picture, DEFAULT_THRESHOLD);
        let diff_png = match difference.image.encode_png() {
            Ok(png) => png,
            Err(error) => {
                tracing::warn!(viewport = name, %error, "cannot encode the difference image");
                continue;
            }
        };
        views.push(ViewPictures {
            viewport: now.viewport.name,
            width: now.viewport.viewport.width,
            height: now.viewport.viewport.height,
            before: before_png.clone(),
            after: after_png.clone(),
            diff: diff_png,
            changed_share: difference.changed_share,
        });
    }
    views
}

/// The reference screen of the page at `path` (see the module doc), PNG screens only.
fn screen_for_page(screens: Vec<ScreenFile>, path: &str) -> Option<ScreenFile> {
    let pngs: Vec<ScreenFile> = screens
        .into_iter()
        .filter(|screen| screen.media_type == "image/png")
        .collect();
    let page = path.trim_matches('/');
    let page = page
        .strip_suffix(".html")
        .or_else(|| page.strip_suffix(".htm"))
        .unwrap_or(page);
    let page = page.strip_suffix("/index").unwrap_or(page);
    let names: Vec<&str> = if page.is_empty() || page == "index" {
        vec!["home", "index"]
    } else {
        vec![page]
    };
    if let Some(position) = pngs
        .iter()
        .position(|screen| names.contains(&screen.name.as_str()))
    {
        return pngs.into_iter().nth(position);
    }
    if pngs.len() == 1 {
        return pngs.into_iter().next();
    }
    None
}

/// The similarity of the page to `screen` before and after, at the viewport whose width is
/// nearest to the screen's.
fn fidelity_to(
    screen: &ScreenFile,
    before: &[ViewLook],
    after: &[ViewLook],
) -> Option<ScreenFidelity> {
    let reference = match Picture::decode_png(&screen.bytes) {
        Ok(picture) => picture,
        Err(error) => {
            tracing::warn!(screen = %screen.name, %error, "the reference screen is not a readable PNG");
            return None;
        }
    };
    let index = (0..before.len().min(after.len()))
        .min_by_key(|&i| after[i].viewport.viewport.width.abs_diff(reference.width()))?;
    let score = |look: &ViewLook| -> Option<FidelityScore> {
        let png = look.check.screenshot.as_ref()?;
        let picture = Picture::decode_png(png).ok()?;
        let fidelity = devflow_visual::fidelity(&picture, &reference);
        Some(FidelityScore {
            ssim: fidelity.ssim,
            palette_distance: fidelity.palette_distance,
        })
    };
    Some(ScreenFidelity {
        screen: screen.name.clone(),
        viewport: after[index].viewport.name,
        before: score(&before[index])?,
        after: score(&after[index])?,
    })
}

impl Service {
    /// The page as it renders now, for a proposer whose model takes images: the desktop
    /// screenshot of the session's baseline ([`Service::baseline`]) — the look remembered at
    /// the current page generation, else one taken now and remembered, so the patch's
    /// [`Service::look_before_patch`] starts from this same look instead of loading the page
    /// again. `None` without a preview, or when the browser cannot look (the model is then
    /// asked without the picture).
    pub(super) async fn page_now(&self, session: &Session) -> Option<PageShot> {
        let url = session.preview_url.as_deref()?;
        let looks = match self.baseline(&session.session_id, url).await {
            Ok(looks) => looks,
            Err(LookError::Unavailable(_)) => return None,
            Err(error) => {
                tracing::info!(%error, "no screenshot of the page for the model");
                return None;
            }
        };
        let desktop = looks
            .into_iter()
            .find(|look| look.viewport.name == ViewportName::Desktop)?;
        Some(PageShot {
            path: reqwest::Url::parse(url)
                .map(|parsed| parsed.path().to_string())
                .unwrap_or_else(|_| "/".to_string()),
            viewport: desktop.viewport.name.as_str().to_string(),
            width: desktop.viewport.viewport.width,
            height: desktop.viewport.viewport.height,
            png: desktop.check.screenshot?,
        })
    }
}

impl Service {
    /// For a "match the reference" instruction, the reference's PNG screen of the entry page
    /// ([`screen_for_page`] of `/`, the page the pictures compare), read on the blocking
    /// pool; `None` for other instructions, without a reference or without such a screen.
    pub(super) async fn screen_to_match(
        &self,
        session_id: &str,
        instruction: &str,
    ) -> Option<ScreenFile> {
        if !devflow_builtin::is_match_reference_instruction(instruction) {
            return None;
        }
        let (service, session_id) = (self.clone(), session_id.to_string());
        tokio::task::spawn_blocking(move || service.entry_page_screen(&session_id))
            .await
            .ok()
            .flatten()
    }

    /// The reference's PNG screen of the entry page (`/`, the page the pictures show), read
    /// from the state dir: blocking.
    fn entry_page_screen(&self, session_id: &str) -> Option<ScreenFile> {
        let bundle = self.reference_bundle(session_id).ok().flatten()?;
        screen_for_page(bundle.screens, "/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(name: &str, media_type: &str) -> ScreenFile {
        ScreenFile {
            name: name.into(),
            media_type: media_type.into(),
            path: format!("screens/{name}"),
            bytes: Vec::new(),
        }
    }

    fn chosen(screens: &[ScreenFile], path: &str) -> Option<String> {
        screen_for_page(screens.to_vec(), path).map(|s| s.name)
    }

    #[test]
    fn the_screen_is_the_one_named_after_the_page_else_the_only_one() {
        let many = [
            screen("about", "image/png"),
            screen("home", "image/png"),
            screen("blog/post", "image/png"),
        ];
        assert_eq!(chosen(&many, "/").as_deref(), Some("home"));
        assert_eq!(chosen(&many, "/index.html").as_deref(), Some("home"));
        assert_eq!(chosen(&many, "/about.html").as_deref(), Some("about"));
        assert_eq!(chosen(&many, "/blog/post/").as_deref(), Some("blog/post"));
        assert_eq!(chosen(&many, "/contact"), None, "no match among several");
        let one = [screen("landing", "image/png")];
        assert_eq!(chosen(&one, "/").as_deref(), Some("landing"));
        let index = [screen("index", "image/png"), screen("x", "image/png")];
        assert_eq!(chosen(&index, "/").as_deref(), Some("index"));
    }

    #[test]
    fn only_png_screens_are_compared() {
        let screens = [screen("home", "text/html"), screen("about", "image/jpeg")];
        assert_eq!(chosen(&screens, "/"), None);
        let screens = [screen("home", "text/html"), screen("other", "image/png")];
        assert_eq!(chosen(&screens, "/").as_deref(), Some("other"));
    }

    fn look(viewport: usize, picture: &Picture) -> ViewLook {
        ViewLook {
            viewport: crate::preview::browser::VIEWPORTS[viewport],
            check: devflow_browser::PageCheck {
                console_errors: Vec::new(),
                exceptions: Vec::new(),
                failed_requests: Vec::new(),
                blank: false,
                title: String::new(),
                screenshot: Some(picture.encode_png().unwrap()),
            },
        }
    }

    #[test]
    fn each_viewport_gets_its_difference_and_the_screen_its_nearest_viewport() {
        // Short strips as wide as the viewports.
        let page = Picture::filled(1280, 16, [250, 250, 250, 255]);
        let mut changed = page.clone();
        changed.fill_rect(0, 0, 64, 8, [200, 0, 0, 255]);
        let narrow = Picture::filled(390, 16, [250, 250, 250, 255]);
        let before = [look(0, &page), look(1, &narrow)];
        let after = [look(0, &changed), look(1, &narrow)];
        let views = compare_views(&before, &after);
        let shares: Vec<(ViewportName, f64)> = views
            .iter()
            .map(|v| (v.viewport, v.changed_share))
            .collect();
        assert_eq!(
            shares,
            [
                (ViewportName::Desktop, 512.0 / 20480.0),
                (ViewportName::Mobile, 0.0)
            ]
        );
        let diff = Picture::decode_png(&views[0].diff).unwrap();
        assert_eq!((diff.width(), diff.height()), (1280, 16));
        assert_eq!(diff.pixel(0, 0), Some(devflow_visual::CHANGED_COLOUR));

        // A wide screen is compared at the desktop viewport, where the change moved it closer.
        let screen = ScreenFile {
            bytes: changed.encode_png().unwrap(),
            ..screen("home", "image/png")
        };
        let fidelity = fidelity_to(&screen, &before, &after).unwrap();
        assert_eq!(fidelity.viewport, ViewportName::Desktop);
        assert!(fidelity.before.ssim < 1.0, "{fidelity:?}");
        assert_eq!(fidelity.after.ssim, 1.0);
        assert_eq!(fidelity.after.palette_distance, 0.0);
        let unreadable = screen_with_bytes(b"not a png");
        assert_eq!(fidelity_to(&unreadable, &before, &after), None);
    }

    fn screen_with_bytes(bytes: &[u8]) -> ScreenFile {
        ScreenFile {
            bytes: bytes.to_vec(),
            ..screen("home", "image/png")
        }
    }

    #[test]
    fn the_route_takes_only_the_names_the_pipeline_makes() {
        assert!(is_picture_name(&picture_name("desktop", "after", 1)));
        assert!(is_picture_name("mobile-diff-2.png"));
        for bad in [
            "desktop-after-1",
            "desktop-after-3.png",
            "tablet-after-1.png",
            "desktop-side-1.png",
            "../desktop-after-1.png",
            "desktop-after-1.png/..",
            "desktop-after-1-x.png",
            "%2e%2e",
            "",
        ] {
            assert!(!is_picture_name(bad), "{bad}");
        }
    }
}

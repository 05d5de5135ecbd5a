//! One page check over CDP: a fresh tab at the viewport's size, the page loaded while its
//! console, exceptions and network are listened to, watched for a while, read (blank?
//! title) and optionally photographed, then the tab closed.
//!
//! Every step runs under the caller's deadline (see `Browser::check_page`); this module
//! only says which step it is in, so a timeout can name it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::log::{EventEntryAdded, LogEntryLevel, LogEntrySource};
use chromiumoxide::cdp::browser_protocol::network::{
    EventLoadingFailed, EventRequestWillBeSent, EventResponseReceived,
};
use chromiumoxide::cdp::browser_protocol::page::{
    CaptureScreenshotFormat, CaptureScreenshotParams, EventJavascriptDialogOpening,
    EventLifecycleEvent, HandleJavaScriptDialogParams, NavigateParams,
};
use chromiumoxide::cdp::browser_protocol::target::{
    CloseTargetParams, CreateTargetParams, TargetId,
};
use chromiumoxide::cdp::js_protocol::runtime::{
    ConsoleApiCalledType, EvaluateParams, EventConsoleApiCalled, EventExceptionThrown, RemoteObject,
};
use chromiumoxide::listeners::EventStream;
use chromiumoxide::Page;
use futures::{FutureExt as _, StreamExt as _};

use crate::page_check::{counts_as_failed, describe_exception, FailedRequest, PageCheck};
use crate::CheckOptions;

/// Where a check is, for the message of a timeout.
pub(crate) type Stage = Mutex<&'static str>;

/// Why a check stopped short: a CDP call failed (the caller tells a dead browser from a
/// refused command).
pub(crate) struct CdpFailure(pub String);

impl From<chromiumoxide::error::CdpError> for CdpFailure {
    fn from(error: chromiumoxide::error::CdpError) -> Self {
        CdpFailure(error.to_string())
    }
}

/// Says whether the body shows anything, and the title. Text counts when `innerText` (which
/// leaves out hidden text) has any; an element counts when it has area, is visible
/// (`checkVisibility` follows opacity and visibility up the tree) and paints: a replaced
/// element or control, or a box with a background, border or shadow. An empty app root
/// with a min-height is blank; a page of coloured boxes is not.
const READ_PAGE: &str = r#"(() => {
  const title = document.title || '';
  const body = document.body;
  if (!body) return { blank: true, title };
  if ((body.innerText || '').trim().length > 0) return { blank: false, title };
  const graphic = new Set(['IMG', 'SVG', 'CANVAS', 'VIDEO', 'IFRAME', 'INPUT', 'BUTTON',
    'SELECT', 'TEXTAREA', 'OBJECT', 'EMBED', 'PICTURE', 'METER', 'PROGRESS']);
  const clear = (colour) => !colour || colour === 'transparent' || /rgba\([^)]*,\s*0\)$/.test(colour);
  const paints = (style) => {
    if (style.backgroundImage !== 'none' || !clear(style.backgroundColor)) return true;
    if (style.boxShadow !== 'none') return true;
    return ['Top', 'Right', 'Bottom', 'Left'].some((side) =>
      parseFloat(style['border' + side + 'Width']) > 0 &&
      style['border' + side + 'Style'] !== 'none' &&
      !clear(style['border' + side + 'Color']));
  };
  const elements = body.getElementsByTagName('*');
  for (let i = 0; i < elements.length && i < 20000; i++) {
    const element = elements[i];
    const rect = element.getBoundingClientRect();
    if (rect.width <= 0 || rect.height <= 0) continue;
    if (element.checkVisibility && !element.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    if (graphic.has(element.tagName.toUpperCase()) || paints(getComputedStyle(element))) {
      return { blank: false, title };
    }
  }
  return { blank: true, title };
})()"#;

/// Makes the next frame reproducible: web fonts loaded, finite animations run to their end
/// and endless ones cancelled (as Playwright's `animations: "disabled"`), transitions off,
/// the text caret invisible; then waits for two frames (or 100 ms, should frames not come)
/// so the change is painted. A constructed stylesheet, which a page's CSP does not block.
const SETTLE_FOR_SCREENSHOT: &str = r#"(async () => {
  try { if (document.fonts) await document.fonts.ready; } catch (e) {}
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync('*, *::before, *::after { caret-color: transparent !important; transition: none !important; scroll-behavior: auto !important; }');
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  } catch (e) {}
  for (const animation of document.getAnimations()) {
    try { animation.finish(); } catch (e) { animation.cancel(); }
  }
  await Promise.race([
    new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))),
    new Promise((resolve) => setTimeout(resolve, 100)),
  ]);
  return true;
})()"#;

/// The page's event streams, opened before it navigates so nothing is missed.
struct Listeners {
    console: EventStream<EventConsoleApiCalled>,
    exceptions: EventStream<EventExceptionThrown>,
    log: EventStream<EventEntryAdded>,
    requests: EventStream<EventRequestWillBeSent>,
    responses: EventStream<EventResponseReceived>,
    failures: EventStream<EventLoadingFailed>,
    lifecycle: EventStream<EventLifecycleEvent>,
}

impl Listeners {
    async fn open(page: &Page) -> Result<Listeners, CdpFailure> {
        Ok(Listeners {
            console: page.event_listener().await?,
            exceptions: page.event_listener().await?,
            log: page.event_listener().await?,
            requests: page.event_listener().await?,
            responses: page.event_listener().await?,
            failures: page.event_listener().await?,
            lifecycle: page.event_listener().await?,
        })
    }
}

/// Runs one check in a new tab of `cdp`. `opened` gets the tab's id as soon as it exists
/// (so the caller can close it if this future is dropped) and is emptied once this closes it.
pub(crate) async fn run(
    cdp: &chromiumoxide::Browser,
    url: &str,
    options: &CheckOptions,
    opened: &Mutex<Option<TargetId>>,
    stage: &Stage,
) -> Result<PageCheck, CdpFailure> {
    let at = |name: &'static str| *stage.lock().unwrap_or_else(PoisonError::into_inner) = name;
    at("opening a tab");
    let target = CreateTargetParams::builder()
        .url("about:blank")
        // Its own window, so the tab is in front (painting, firing animation frames) even
        // when other checks run at the same time.
        .new_window(true)
        .build()
        .map_err(CdpFailure)?;
    let page = cdp.new_page(target).await?;
    *opened.lock().unwrap_or_else(PoisonError::into_inner) = Some(page.target_id().clone());

    at("preparing the tab");
    let mut listeners = Listeners::open(&page).await?;
    let _dialogs = DismissDialogs::start(&page).await?;
    let viewport = options.viewport;
    page.execute(SetDeviceMetricsOverrideParams::new(
        i64::from(viewport.width),
        i64::from(viewport.height),
        1.0,
        false,
    ))
    .await?;

    at("loading the page");
    let navigation = page.execute(NavigateParams::new(url)).await?.result;
    let load_error = navigation.error_text.filter(|text| !text.is_empty());
    if load_error.is_none() {
        let loader = navigation.loader_id;
        while let Some(event) = listeners.lifecycle.next().await {
            if event.name == "load"
                && event.frame_id == navigation.frame_id
                && loader
                    .as_ref()
                    .is_none_or(|loader| *loader == event.loader_id)
            {
                break;
            }
        }
    }

    at("watching the page");
    tokio::time::sleep(options.watch).await;

    at("reading the page");
    let read = evaluate(&page, READ_PAGE, false).await?;
    let blank = load_error.is_some() || read.get("blank").and_then(|b| b.as_bool()).unwrap_or(true);
    let title = read
        .get("title")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_string();

    let screenshot = if options.screenshot {
        at("taking the screenshot");
        evaluate(&page, SETTLE_FOR_SCREENSHOT, true).await?;
        let shot = page
            .execute(
                CaptureScreenshotParams::builder()
                    .format(CaptureScreenshotFormat::Png)
                    .from_surface(true)
                    .capture_beyond_viewport(false)
                    .build(),
            )
            .await?
            .result;
        let encoded: &str = shot.data.as_ref();
        Some(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| CdpFailure(format!("the screenshot is not base64: {e}")))?,
        )
    } else {
        None
    };

    // Every event Chromium sent before the answers above is in the streams by now: one
    // socket, delivered in order.
    let page_url = url::Url::parse(url).ok();
    let mut check = PageCheck {
        console_errors: Vec::new(),
        exceptions: Vec::new(),
        failed_requests: Vec::new(),
        blank,
        title,
        screenshot,
    };
    collect_events(&mut listeners, page_url.as_ref(), &mut check);
    if let (Some(error), Some(page_url)) = (load_error, page_url.as_ref()) {
        if !check
            .failed_requests
            .iter()
            .any(|r| r.url == page_url.as_str())
        {
            check.failed_requests.insert(
                0,
                FailedRequest {
                    url: page_url.to_string(),
                    status: None,
                    reason: error,
                },
            );
        }
    }

    at("closing the tab");
    let target_id = page.target_id().clone();
    cdp.execute(CloseTargetParams::new(target_id)).await?;
    *opened.lock().unwrap_or_else(PoisonError::into_inner) = None;
    Ok(check)
}

/// Runs `expression` in the page and returns its value (awaiting a promise when asked).
async fn evaluate(
    page: &Page,
    expression: &str,
    await_promise: bool,
) -> Result<serde_json::Value, CdpFailure> {
    let params = EvaluateParams::builder()
        .expression(expression)
        .return_by_value(true)
        .await_promise(await_promise)
        .build()
        .map_err(CdpFailure)?;
    let answer = page.execute(params).await?.result;
    if let Some(details) = answer.exception_details {
        return Err(CdpFailure(format!(
            "devflow's own page script failed: {}",
            details.text
        )));
    }
    Ok(answer.result.value.unwrap_or_default())
}

/// Takes every event already delivered to the streams into `check`.
fn collect_events(listeners: &mut Listeners, page_url: Option<&url::Url>, check: &mut PageCheck) {
    fn ready<T: chromiumoxide::cdp::IntoEventKind + Unpin>(
        stream: &mut EventStream<T>,
    ) -> Vec<Arc<T>> {
        std::iter::from_fn(|| stream.next().now_or_never().flatten()).collect()
    }

    for event in ready(&mut listeners.console) {
        if matches!(
            event.r#type,
            ConsoleApiCalledType::Error | ConsoleApiCalledType::Assert
        ) {
            let text: Vec<String> = event.args.iter().map(describe_value).collect();
            check.console_errors.push(text.join(" "));
        }
    }
    for event in ready(&mut listeners.log) {
        // Network errors are the failed requests, with the same-origin rule applied there.
        if event.entry.level == LogEntryLevel::Error
            && event.entry.source != LogEntrySource::Network
        {
            check.console_errors.push(event.entry.text.clone());
        }
    }
    for event in ready(&mut listeners.exceptions) {
        let details = &event.exception_details;
        let thrown = details.exception.as_ref().map(describe_value);
        check.exceptions.push(describe_exception(
            &details.text,
            thrown.as_deref(),
            details.url.as_deref(),
            details.line_number,
            details.column_number,
        ));
    }

    let Some(page_url) = page_url else { return };
    let urls: HashMap<String, String> = ready(&mut listeners.requests)
        .iter()
        .map(|event| (event.request_id.inner().clone(), event.request.url.clone()))
        .collect();
    // Responses and failures interleave in time but arrive in separate streams; a request is
    // reported once, its HTTP status preferred over a later network error.
    let mut reported: HashMap<String, usize> = HashMap::new();
    for event in ready(&mut listeners.responses) {
        let response = &event.response;
        if response.status >= 400 && counts_as_failed(page_url, &response.url) {
            reported.insert(
                event.request_id.inner().clone(),
                check.failed_requests.len(),
            );
            check.failed_requests.push(FailedRequest {
                url: response.url.clone(),
                status: u16::try_from(response.status).ok(),
                reason: response.status_text.clone(),
            });
        }
    }
    for event in ready(&mut listeners.failures) {
        if event.canceled == Some(true) || reported.contains_key(event.request_id.inner()) {
            continue;
        }
        let Some(url) = urls.get(event.request_id.inner()) else {
            continue;
        };
        if counts_as_failed(page_url, url) {
            let mut reason = event.error_text.clone();
            if let Some(blocked) = &event.blocked_reason {
                reason = format!("{reason} (blocked: {})", blocked.as_ref());
            }
            check.failed_requests.push(FailedRequest {
                url: url.clone(),
                status: None,
                reason,
            });
        }
    }
}

/// A console argument as the console prints it: strings bare, other values as JSON,
/// objects by the first line of their description.
fn describe_value(value: &RemoteObject) -> String {
    match (
        &value.value,
        &value.description,
        &value.unserializable_value,
    ) {
        (Some(serde_json::Value::String(text)), _, _) => text.clone(),
        (_, Some(description), _) => description.lines().next().unwrap_or_default().to_string(),
        (Some(value), None, _) => value.to_string(),
        (None, None, Some(unserializable)) => unserializable.as_ref().to_string(),
        (None, None, None) => value.r#type.as_ref().to_string(),
    }
}

/// Accepts every `alert` / `confirm` / `prompt` while the check runs: an open dialog would
/// stop the page, and the check with it. Stops when dropped.
struct DismissDialogs(tokio::task::JoinHandle<()>);

impl DismissDialogs {
    async fn start(page: &Page) -> Result<DismissDialogs, CdpFailure> {
        let mut dialogs = page
            .event_listener::<EventJavascriptDialogOpening>()
            .await?;
        let page = page.clone();
        Ok(DismissDialogs(tokio::spawn(async move {
            while dialogs.next().await.is_some() {
                if let Err(error) = page.execute(HandleJavaScriptDialogParams::new(true)).await {
                    tracing::debug!(%error, "cannot close a JavaScript dialog");
                }
            }
        })))
    }
}

impl Drop for DismissDialogs {
    fn drop(&mut self) {
        self.0.abort();
    }
}

//! What one look at a page found ([`PageCheck`]), and which of it is new against a baseline
//! ([`PageCheck::new_problems`]). Pure: the texts made here are what the daemon compares and
//! quotes in a failed command's summary.

use std::collections::HashSet;

/// A same-origin request that failed while the page loaded or was watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRequest {
    pub url: String,
    /// The HTTP status when the server answered (≥ 400); `None` for a network failure.
    pub status: Option<u16>,
    /// The status text (`Not Found`), or Chromium's network error (`net::ERR_CONNECTION_REFUSED`).
    pub reason: String,
}

/// What loading and watching a page in Chromium found.
#[derive(Clone, PartialEq)]
pub struct PageCheck {
    /// `console.error` / failed `console.assert` messages and the Log domain's errors (not
    /// its network errors: failed requests are [`PageCheck::failed_requests`], same-origin
    /// only), as text.
    pub console_errors: Vec<String>,
    /// Uncaught exceptions and unhandled rejections: `Uncaught Error: boom (url:line:column)`.
    pub exceptions: Vec<String>,
    /// Same-origin requests answered with HTTP ≥ 400 or failed on the network, once per
    /// request; Chromium's own `/favicon.ico` request is left out.
    pub failed_requests: Vec<FailedRequest>,
    /// The document did not load, or its body shows no text and no element that paints
    /// (an image, a control, a box with a background, border or shadow).
    pub blank: bool,
    /// `document.title`.
    pub title: String,
    /// The viewport as PNG, exactly the check's viewport size, when asked for.
    pub screenshot: Option<Vec<u8>>,
}

impl std::fmt::Debug for PageCheck {
    // The screenshot's bytes would bury everything else in a failed assertion.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCheck")
            .field("console_errors", &self.console_errors)
            .field("exceptions", &self.exceptions)
            .field("failed_requests", &self.failed_requests)
            .field("blank", &self.blank)
            .field("title", &self.title)
            .field(
                "screenshot",
                &self
                    .screenshot
                    .as_ref()
                    .map(|png| format!("{} bytes of PNG", png.len())),
            )
            .finish()
    }
}

impl FailedRequest {
    /// `failed request: URL (404 Not Found)` / `failed request: URL (net::ERR_…)`.
    pub fn describe(&self) -> String {
        match self.status {
            Some(status) if self.reason.is_empty() => {
                format!("failed request: {} (HTTP {status})", self.url)
            }
            Some(status) => format!("failed request: {} ({status} {})", self.url, self.reason),
            None => format!("failed request: {} ({})", self.url, self.reason),
        }
    }
}

/// The sentence [`PageCheck::new_problems`] uses for a page that turned blank.
pub const BLANK_PAGE: &str = "the page is blank";

impl PageCheck {
    /// Every problem of this check, as the sentences [`PageCheck::new_problems`] compares.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = Vec::new();
        problems.extend(
            self.console_errors
                .iter()
                .map(|text| format!("console error: {text}")),
        );
        problems.extend(
            self.exceptions
                .iter()
                .map(|text| format!("uncaught exception: {text}")),
        );
        problems.extend(self.failed_requests.iter().map(FailedRequest::describe));
        if self.blank {
            problems.push(BLANK_PAGE.to_string());
        }
        problems
    }

    /// The problems found now that `baseline` (the same page before a patch) did not have:
    /// a plain set difference on the sentences, each reported once, in the order found. The
    /// texts are compared as they are, line and column of minified code included, so a
    /// known error that moved counts as new — the safe side for a patch check.
    pub fn new_problems(&self, baseline: &PageCheck) -> Vec<String> {
        let before: HashSet<String> = baseline.problems().into_iter().collect();
        let mut seen = HashSet::new();
        self.problems()
            .into_iter()
            .filter(|problem| !before.contains(problem) && seen.insert(problem.clone()))
            .collect()
    }
}

/// The message of an uncaught exception: Chromium's `text` ("Uncaught", "Uncaught (in
/// promise)") with the first line of the thrown value's description (its stack follows on
/// the next lines), or the thrown value itself; then where: `(url:line:column)`, 1-based.
pub(crate) fn describe_exception(
    text: &str,
    thrown: Option<&str>,
    url: Option<&str>,
    line: i64,
    column: i64,
) -> String {
    let mut message = text.trim().to_string();
    if let Some(thrown) = thrown
        .and_then(|t| t.lines().next())
        .filter(|t| !t.is_empty())
    {
        if !message.contains(thrown) {
            if !message.is_empty() {
                message.push(' ');
            }
            message.push_str(thrown);
        }
    }
    match url.filter(|u| !u.is_empty()) {
        Some(url) => format!("{message} ({url}:{}:{})", line + 1, column + 1),
        None => message,
    }
}

/// Whether `request` has the same origin (scheme, host, port) as `page`. Opaque origins
/// (`data:`, `about:`) match nothing.
pub(crate) fn same_origin(page: &url::Url, request: &str) -> bool {
    let page_origin = page.origin();
    page_origin.is_tuple()
        && url::Url::parse(request).is_ok_and(|request| request.origin() == page_origin)
}

/// Whether a failed request counts against the page: same-origin, and not the
/// `/favicon.ico` Chromium asks for by itself at a moment of its choosing (reporting it would
/// make a check's outcome depend on timing; a page's declared icon elsewhere still counts).
pub(crate) fn counts_as_failed(page: &url::Url, request: &str) -> bool {
    same_origin(page, request)
        && url::Url::parse(request).is_ok_and(|request| request.path() != "/favicon.ico")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> PageCheck {
        PageCheck {
            console_errors: Vec::new(),
            exceptions: Vec::new(),
            failed_requests: Vec::new(),
            blank: false,
            title: "Home".into(),
            screenshot: None,
        }
    }

    #[test]
    fn only_what_the_baseline_lacks_is_new() {
        let mut baseline = check();
        baseline
            .console_errors
            .push("old warning turned error".into());
        baseline.failed_requests.push(FailedRequest {
            url: "http://127.0.0.1:4000/favicon.ico".into(),
            status: Some(404),
            reason: "Not Found".into(),
        });
        let mut now = baseline.clone();
        now.exceptions
            .push("Uncaught Error: boom (http://127.0.0.1:4000/app.js:3:9)".into());
        now.exceptions
            .push("Uncaught Error: boom (http://127.0.0.1:4000/app.js:3:9)".into());
        now.failed_requests.push(FailedRequest {
            url: "http://127.0.0.1:4000/site.css".into(),
            status: Some(404),
            reason: "Not Found".into(),
        });
        now.blank = true;
        assert_eq!(
            now.new_problems(&baseline),
            [
                "uncaught exception: Uncaught Error: boom (http://127.0.0.1:4000/app.js:3:9)",
                "failed request: http://127.0.0.1:4000/site.css (404 Not Found)",
                "the page is blank",
            ]
        );
        assert!(baseline.new_problems(&now).is_empty());
        assert!(now.new_problems(&now).is_empty());
    }

    #[test]
    fn a_page_that_was_blank_before_is_not_newly_blank() {
        let mut baseline = check();
        baseline.blank = true;
        let mut now = check();
        now.blank = true;
        assert!(now.new_problems(&baseline).is_empty());
    }

    #[test]
    fn an_error_that_moved_is_new() {
        let mut baseline = check();
        baseline
            .exceptions
            .push("Uncaught TypeError: x is undefined (http://h/a.js:1:200)".into());
        let mut now = check();
        now.exceptions
            .push("Uncaught TypeError: x is undefined (http://h/a.js:1:210)".into());
        assert_eq!(now.new_problems(&baseline).len(), 1);
    }

    #[test]
    fn failed_requests_read_with_their_status_or_network_error() {
        let http = FailedRequest {
            url: "http://h/a.css".into(),
            status: Some(500),
            reason: String::new(),
        };
        assert_eq!(http.describe(), "failed request: http://h/a.css (HTTP 500)");
        let network = FailedRequest {
            url: "http://h/b.js".into(),
            status: None,
            reason: "net::ERR_CONNECTION_REFUSED".into(),
        };
        assert_eq!(
            network.describe(),
            "failed request: http://h/b.js (net::ERR_CONNECTION_REFUSED)"
        );
    }

    #[test]
    fn exceptions_read_like_the_devtools_console() {
        assert_eq!(
            describe_exception(
                "Uncaught",
                Some("Error: boom\n    at http://h/:3:9"),
                Some("http://h/"),
                2,
                8
            ),
            "Uncaught Error: boom (http://h/:3:9)"
        );
        assert_eq!(
            describe_exception("Uncaught (in promise)", Some("nope"), None, 0, 0),
            "Uncaught (in promise) nope"
        );
        // Chromium sometimes puts the whole message in `text` already.
        assert_eq!(
            describe_exception("Uncaught Error: boom", Some("Error: boom"), None, 0, 0),
            "Uncaught Error: boom"
        );
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let page = url::Url::parse("http://127.0.0.1:4000/about.html").unwrap();
        assert!(same_origin(&page, "http://127.0.0.1:4000/site.css"));
        assert!(!same_origin(&page, "http://127.0.0.1:4001/site.css"));
        assert!(!same_origin(&page, "https://127.0.0.1:4000/site.css"));
        assert!(!same_origin(&page, "http://localhost:4000/site.css"));
        assert!(!same_origin(&page, "data:text/css,a{}"));
        let blank = url::Url::parse("about:blank").unwrap();
        assert!(!same_origin(&blank, "about:blank"));
    }

    #[test]
    fn the_default_favicon_does_not_count() {
        let page = url::Url::parse("http://127.0.0.1:4000/").unwrap();
        assert!(!counts_as_failed(
            &page,
            "http://127.0.0.1:4000/favicon.ico"
        ));
        assert!(counts_as_failed(
            &page,
            "http://127.0.0.1:4000/icons/favicon.ico"
        ));
        assert!(counts_as_failed(&page, "http://127.0.0.1:4000/site.css"));
        assert!(!counts_as_failed(&page, "http://127.0.0.1:4001/site.css"));
    }
}

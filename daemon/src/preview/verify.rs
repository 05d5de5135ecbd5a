//! Does the page still work? The entry page fetched through the session's proxy as a
//! browser navigation (2xx, a non-empty HTML body), then every same-origin stylesheet and
//! script it references, as the browser would ask for them. The outcome is a [`PageState`]
//! that verification compares with the one taken just before the patch, so that a page that
//! was broken already does not fail every patch.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::Url;

use super::page::{self, Kind};

/// At most this many references are fetched per check.
const MAX_REFERENCES: usize = 60;

/// What one look at the page found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageState {
    /// Why the entry page itself is not usable (`None`: a 2xx HTML page with content).
    pub entry: Option<String>,
    /// Referenced URLs (paths on the preview) that failed, with what was wrong.
    pub failing: BTreeMap<String, String>,
}

impl PageState {
    /// The first problem in `self` that `before` did not have.
    pub fn new_problem(&self, before: Option<&PageState>) -> Option<String> {
        if let Some(entry) = &self.entry {
            if before.is_none_or(|b| b.entry.is_none()) {
                return Some(entry.clone());
            }
        }
        self.failing
            .iter()
            .find(|(url, _)| before.is_none_or(|b| !b.failing.contains_key(*url)))
            .map(|(_, problem)| problem.clone())
    }
}

/// The HTTP client verification uses (loopback only, no proxy, no cookies).
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Looks at the page the proxy at `addr` serves at `/`.
pub async fn check(http: &reqwest::Client, addr: SocketAddr) -> PageState {
    let mut state = PageState::default();
    let origin = format!("http://{addr}/");
    let entry = match Url::parse(&origin) {
        Ok(url) => url,
        Err(error) => {
            state.entry = Some(format!("the preview address is not a URL: {error}"));
            return state;
        }
    };
    let response = match http
        .get(entry.clone())
        .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
        .header("sec-fetch-dest", "document")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
    {
        Ok(response) => response,
        Err(error) => {
            state.entry = Some(format!("the page does not answer: {}", describe(&error)));
            return state;
        }
    };
    let status = response.status();
    let page_url = response.url().clone();
    let html = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if !status.is_success() {
        state.entry = Some(format!("the page answers HTTP {}", status.as_u16()));
        return state;
    }
    if !html {
        state.entry = Some("the page is not HTML".into());
        return state;
    }
    let body = match response.text().await {
        Ok(body) => body,
        Err(error) => {
            state.entry = Some(format!("the page's body broke off: {}", describe(&error)));
            return state;
        }
    };
    if without_client(&body).trim().is_empty() {
        state.entry = Some("the page is empty".into());
        return state;
    }
    let refs = page::references(&body);
    let base = refs
        .base
        .as_deref()
        .and_then(|base| page_url.join(base).ok())
        .unwrap_or_else(|| page_url.clone());
    let mut fetched = 0;
    for reference in refs.references {
        let Ok(url) = base.join(&reference.url) else {
            continue;
        };
        // Other origins are not the site's to fix (and not reachable offline); the reload
        // client is the proxy's own.
        if url.origin() != page_url.origin() || url.path().starts_with("/__devflow/") {
            continue;
        }
        if fetched == MAX_REFERENCES {
            break;
        }
        fetched += 1;
        let (accept, dest) = match reference.kind {
            Kind::Stylesheet => ("text/css,*/*;q=0.1", "style"),
            Kind::Script => ("*/*", "script"),
        };
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        };
        let problem = match http
            .get(url.clone())
            .header(ACCEPT, accept)
            .header("sec-fetch-dest", dest)
            .send()
            .await
        {
            Ok(response)
                if response.status().is_client_error() || response.status().is_server_error() =>
            {
                Some(format!(
                    "the page's {} {path} answers HTTP {}",
                    reference.kind.noun(),
                    response.status().as_u16()
                ))
            }
            Ok(_) => None,
            Err(error) => Some(format!(
                "the page's {} {path} cannot be fetched: {}",
                reference.kind.noun(),
                describe(&error)
            )),
        };
        if let Some(problem) = problem {
            state.failing.insert(path, problem);
        }
    }
    state
}

/// The page without the reload client the proxy put in (it goes into an empty page too).
fn without_client(page: &str) -> std::borrow::Cow<'_, str> {
    const TAG: &str = "<script src=\"/__devflow/client.js\"";
    const END: &str = "</script>";
    let Some(start) = page.find(TAG) else {
        return page.into();
    };
    match page[start..].find(END) {
        Some(end) => format!("{}{}", &page[..start], &page[start + end + END.len()..]).into(),
        None => page.into(),
    }
}

/// The innermost cause: reqwest's own text only says "error sending request".
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = cause.to_string();
        source = cause.source();
    }
    if error.is_timeout() {
        text = "no answer in time".into();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(entry: Option<&str>, failing: &[&str]) -> PageState {
        PageState {
            entry: entry.map(str::to_string),
            failing: failing
                .iter()
                .map(|url| (url.to_string(), format!("{url} answers HTTP 404")))
                .collect(),
        }
    }

    #[test]
    fn the_injected_client_does_not_make_an_empty_page_non_empty() {
        assert_eq!(
            without_client("\n<script src=\"/__devflow/client.js\" nonce=\"n\"></script> "),
            "\n "
        );
        assert_eq!(without_client("<p>x</p>"), "<p>x</p>");
    }

    #[test]
    fn only_problems_the_page_did_not_have_before_count() {
        let ok = state(None, &[]);
        let missing = state(None, &["/css/a.css"]);
        assert_eq!(ok.new_problem(Some(&ok)), None);
        assert_eq!(
            missing.new_problem(Some(&ok)).as_deref(),
            Some("/css/a.css answers HTTP 404")
        );
        assert_eq!(missing.new_problem(Some(&missing)), None, "already broken");
        assert_eq!(
            state(None, &["/css/a.css", "/js/b.js"])
                .new_problem(Some(&missing))
                .as_deref(),
            Some("/js/b.js answers HTTP 404")
        );
        assert!(missing.new_problem(None).is_some(), "no baseline: strict");
        let down = state(Some("the page answers HTTP 500"), &[]);
        assert_eq!(
            down.new_problem(Some(&ok)).as_deref(),
            Some("the page answers HTTP 500")
        );
        assert_eq!(down.new_problem(Some(&down)), None);
    }
}

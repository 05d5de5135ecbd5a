//! A static site served in-process (tower-http's `ServeDir`: streamed files, ranges, MIME
//! types, `index.html` for folders, no path traversal), behind the same injection as a dev
//! server. A preview must never show a stale file, so conditional requests are answered in
//! full and every answer says `Cache-Control: no-cache`; dot-files (`.git`, `.env`) are
//! not served.

use std::path::Path;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use hyper::body::Incoming;
use tower_http::services::ServeDir;
use tower_service::Service;

use crate::body::ProxyBody;
use crate::server::{is_upgrade, plain, respond, RequestInfo, State};

pub(crate) struct StaticTarget {
    files: ServeDir,
}

impl StaticTarget {
    pub fn new(dir: &Path) -> Self {
        StaticTarget {
            files: ServeDir::new(dir).append_index_html_on_directories(true),
        }
    }
}

pub(crate) async fn serve(
    state: &State,
    target: &StaticTarget,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    if is_upgrade(request.headers()) {
        return plain(
            StatusCode::NOT_FOUND,
            "devflow preview: no WebSocket here\n",
        );
    }
    if hidden(request.uri().path()) {
        return plain(StatusCode::NOT_FOUND, "devflow preview: not served\n");
    }
    let info = RequestInfo::of(&request);
    let (mut parts, _) = request.into_parts();
    // Second-granularity Last-Modified would call a file edited twice in one second fresh.
    for name in [
        header::IF_MODIFIED_SINCE,
        header::IF_NONE_MATCH,
        header::IF_UNMODIFIED_SINCE,
        header::IF_MATCH,
        header::IF_RANGE,
    ] {
        parts.headers.remove(name);
    }
    let request = Request::from_parts(parts, Empty::<bytes::Bytes>::new());
    let mut files = target.files.clone();
    let response = match files.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let mut response = respond(state, &info, response);
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-cache"));
    response
}

/// A path with a segment starting with `.` (other than `.well-known`), raw or %-encoded.
fn hidden(path: &str) -> bool {
    path.split('/').any(|segment| {
        let lower = segment.to_ascii_lowercase();
        (lower.starts_with('.') || lower.starts_with("%2e")) && lower != ".well-known"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_files_are_hidden_but_well_known_is_not() {
        assert!(hidden("/.git/config"));
        assert!(hidden("/a/.env"));
        assert!(hidden("/%2egit/config"));
        assert!(!hidden("/.well-known/security.txt"));
        assert!(!hidden("/css/style.css"));
        assert!(!hidden("/"));
    }
}

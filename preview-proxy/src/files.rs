//! A static site served in-process (tower-http's `ServeDir`: streamed files, ranges, MIME
//! types, `index.html` for folders, no path traversal), behind the same injection as a dev
//! server. A preview must never show a stale file, so conditional requests are answered in
//! full and every answer says `Cache-Control: no-cache`; dot-files (`.git`, `.env`) are
//! not served, and neither is a file that a link takes outside the site folder (a folder
//! session is the user's own folder, which may hold links to anywhere; Vite refuses those the
//! same way).

use std::path::{Path, PathBuf};

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
    root: PathBuf,
}

impl StaticTarget {
    pub fn new(dir: &Path) -> Self {
        StaticTarget {
            files: ServeDir::new(dir).append_index_html_on_directories(true),
            root: dir.to_path_buf(),
        }
    }

    /// Whether the file `path` names (or the `index.html` of the folder it names) resolves,
    /// links followed, to a place outside the site folder. A path that does not exist is not
    /// outside: `ServeDir` answers it with 404.
    async fn leaves_the_site(&self, path: &str) -> bool {
        let Ok(root) = tokio::fs::canonicalize(&self.root).await else {
            return false;
        };
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
        let mut candidate = root.clone();
        for segment in decoded.split('/').filter(|s| !s.is_empty() && *s != ".") {
            if segment == ".." || segment.contains('\\') {
                return true;
            }
            candidate.push(segment);
        }
        let mut checks = vec![candidate.clone()];
        if tokio::fs::metadata(&candidate)
            .await
            .is_ok_and(|m| m.is_dir())
        {
            checks.push(candidate.join("index.html"));
        }
        for check in checks {
            if let Ok(real) = tokio::fs::canonicalize(&check).await {
                if !real.starts_with(&root) {
                    return true;
                }
            }
        }
        false
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
    if target.leaves_the_site(request.uri().path()).await {
        return plain(
            StatusCode::FORBIDDEN,
            "devflow preview: this file is outside the site folder\n",
        );
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

    #[tokio::test]
    async fn a_link_out_of_the_site_folder_is_outside_and_one_within_is_not() {
        let temp = tempfile::tempdir().expect("tempdir");
        let site = temp.path().join("site");
        std::fs::create_dir_all(site.join("css")).expect("mkdir");
        std::fs::write(site.join("css/a.css"), "a{}").expect("write");
        std::fs::write(temp.path().join("secret.txt"), "s").expect("write");
        std::fs::create_dir_all(temp.path().join("elsewhere")).expect("mkdir");
        std::fs::write(temp.path().join("elsewhere/index.html"), "x").expect("write");
        std::os::unix::fs::symlink(temp.path().join("secret.txt"), site.join("leak.txt"))
            .expect("link");
        std::os::unix::fs::symlink(site.join("css/a.css"), site.join("b.css")).expect("link");
        std::os::unix::fs::symlink(temp.path().join("elsewhere"), site.join("docs")).expect("link");
        let target = StaticTarget::new(&site);
        assert!(target.leaves_the_site("/leak.txt").await);
        assert!(target.leaves_the_site("/%6Ceak.txt").await);
        assert!(target.leaves_the_site("/docs/").await);
        assert!(target.leaves_the_site("/docs/index.html").await);
        assert!(target.leaves_the_site("/css/../../secret.txt").await);
        assert!(!target.leaves_the_site("/b.css").await);
        assert!(!target.leaves_the_site("/css/a.css").await);
        assert!(!target.leaves_the_site("/missing.css").await);
        assert!(!target.leaves_the_site("/").await);
    }

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

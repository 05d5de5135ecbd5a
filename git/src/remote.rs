//! Reading a repository URL, without IO: which forms devflow accepts (https, http, ssh, git,
//! file and the scp-like `user@host:path`), the owner and repository a pull request goes to
//! (the last two path segments, `.git` stripped), and branch names git would accept.
//! Invariant: an accepted URL carries no password and cannot be read by git as an option or
//! as a transport helper (`ext::`), so it is safe to pass to git and to show in logs.

/// Longest URL accepted; real repository URLs are far shorter.
const MAX_URL_CHARS: usize = 2048;

/// How git reaches a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Https,
    Http,
    Ssh,
    /// `git://`, git's own daemon protocol.
    Git,
    File,
    /// `[user@]host:path`, ssh in scp's notation.
    Scp,
}

/// A repository URL devflow accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    /// The URL as given (trimmed); this is what git is handed.
    pub url: String,
    pub scheme: Scheme,
    /// Host name (no user, no port); `None` for `file://`.
    pub host: Option<String>,
    /// The last two path segments with `.git` stripped: the GitHub owner and repository.
    pub owner: Option<String>,
    pub name: Option<String>,
}

/// Why a URL or branch name was refused: a sentence for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(pub String);

impl RemoteUrl {
    pub fn parse(url: &str) -> Result<RemoteUrl, UrlError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(UrlError("the repository URL is empty".into()));
        }
        if url.chars().count() > MAX_URL_CHARS {
            return Err(UrlError(format!(
                "the repository URL is longer than {MAX_URL_CHARS} characters"
            )));
        }
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(UrlError(
                "the repository URL contains a space or a control character".into(),
            ));
        }
        if url.starts_with('-') {
            return Err(UrlError("a repository URL cannot start with '-'".into()));
        }
        match url.split_once("://") {
            Some((scheme, rest)) if !scheme.contains("::") => parse_with_scheme(url, scheme, rest),
            _ => parse_scp(url),
        }
    }

    /// `scheme://host[:port]/` of an http(s) URL: what a token may be scoped to.
    pub fn http_origin(&self) -> Option<String> {
        if !matches!(self.scheme, Scheme::Https | Scheme::Http) {
            return None;
        }
        let (scheme, rest) = self.url.split_once("://")?;
        let authority = rest.split('/').next()?;
        Some(format!("{}://{}/", scheme.to_ascii_lowercase(), authority))
    }
}

fn parse_with_scheme(url: &str, scheme: &str, rest: &str) -> Result<RemoteUrl, UrlError> {
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        "ssh" | "git+ssh" | "ssh+git" => Scheme::Ssh,
        "git" => Scheme::Git,
        "file" => Scheme::File,
        other => {
            return Err(UrlError(format!(
            "URLs of scheme {other:?} are not supported; use https://, ssh://, git:// or file://"
        )))
        }
    };
    if rest.contains(['?', '#']) {
        return Err(UrlError(
            "a repository URL has no query (?) or fragment (#)".into(),
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority),
    };
    if let Some(userinfo) = userinfo {
        if matches!(scheme, Scheme::Https | Scheme::Http | Scheme::File) {
            return Err(UrlError(
                "the repository URL carries credentials; leave them out and use a git credential helper, or the githubToken setting (DEVFLOW_GITHUB_TOKEN) for GitHub".into(),
            ));
        }
        if userinfo.contains(':') {
            return Err(UrlError(
                "the repository URL carries a password; leave it out and use an ssh key or a git credential helper".into(),
            ));
        }
    }
    let host = host_name(host_port);
    if scheme == Scheme::File {
        if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
            return Err(UrlError(
                "a file:// URL names a folder on this machine: file:///path/to/repo.git".into(),
            ));
        }
    } else if host.is_empty() {
        return Err(UrlError(format!(
            "the repository URL {url:?} names no host"
        )));
    }
    let (owner, name) = owner_and_name(path);
    if name.is_none() {
        return Err(UrlError(format!(
            "the repository URL {url:?} names no repository path"
        )));
    }
    Ok(RemoteUrl {
        url: url.to_string(),
        scheme,
        host: (scheme != Scheme::File).then(|| host.to_string()),
        owner,
        name,
    })
}

/// `[user@]host:path`, as git reads it: a colon before any slash.
fn parse_scp(url: &str) -> Result<RemoteUrl, UrlError> {
    let refuse = || {
        UrlError(format!(
            "{url:?} is not a repository URL; use https://host/owner/repo.git, ssh://host/owner/repo.git, user@host:owner/repo.git, git://… or file:///path/to/repo.git"
        ))
    };
    if url.contains("::") {
        return Err(UrlError(
            "git transport helpers (\"ext::\", \"fd::\", …) are not accepted; use https://, ssh://, git:// or file://".into(),
        ));
    }
    let colon = url.find(':').ok_or_else(refuse)?;
    if url[..colon].contains('/') {
        return Err(refuse());
    }
    let (user_host, path) = (&url[..colon], &url[colon + 1..]);
    let host = match user_host.rsplit_once('@') {
        Some((user, host)) if !user.is_empty() => host,
        Some(_) => return Err(refuse()),
        None => user_host,
    };
    if host.is_empty() || path.is_empty() || host.starts_with('[') {
        return Err(refuse());
    }
    let (owner, name) = owner_and_name(path);
    if name.is_none() {
        return Err(refuse());
    }
    Ok(RemoteUrl {
        url: url.to_string(),
        scheme: Scheme::Scp,
        host: Some(host.to_string()),
        owner,
        name,
    })
}

fn host_name(host_port: &str) -> &str {
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or("");
    }
    host_port.split(':').next().unwrap_or("")
}

/// The last two non-empty segments of a path, `.git` stripped from the last.
fn owner_and_name(path: &str) -> (Option<String>, Option<String>) {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let name = segments
        .last()
        .map(|last| last.strip_suffix(".git").unwrap_or(last))
        .filter(|name| !name.is_empty() && *name != "." && *name != "..")
        .map(str::to_string);
    let owner = (segments.len() >= 2)
        .then(|| segments[segments.len() - 2])
        .filter(|owner| !owner.is_empty() && *owner != "." && *owner != ".." && *owner != "~")
        .map(str::to_string);
    (owner, name)
}

/// A branch name git accepts (the rules of `git check-ref-format --branch`), checked here so
/// a bad name is a clear refusal before any clone starts.
pub fn check_branch_name(name: &str) -> Result<(), UrlError> {
    let refuse = |why: &str| Err(UrlError(format!("branch name {name:?} {why}")));
    if name.is_empty() {
        return refuse("is empty");
    }
    if name.len() > 255 {
        return refuse("is longer than 255 bytes");
    }
    if name.starts_with('-') {
        return refuse("starts with '-'");
    }
    if name == "@" || name == "HEAD" {
        return refuse("is reserved by git");
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == ' ' || "~^:?*[\\".contains(c))
    {
        return refuse("contains a space, a control character or one of ~ ^ : ? * [ \\");
    }
    if name.contains("..") || name.contains("@{") || name.contains("//") {
        return refuse("contains \"..\", \"@{\" or \"//\"");
    }
    if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') {
        return refuse("starts or ends with '/' or ends with '.'");
    }
    if name
        .split('/')
        .any(|part| part.starts_with('.') || part.ends_with(".lock"))
    {
        return refuse("has a part that starts with '.' or ends with \".lock\"");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> (Scheme, Option<String>, Option<String>, Option<String>) {
        let remote = RemoteUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        (remote.scheme, remote.host, remote.owner, remote.name)
    }

    fn s(text: &str) -> Option<String> {
        Some(text.to_string())
    }

    #[test]
    fn owner_and_repository_are_the_last_two_segments_without_dot_git() {
        assert_eq!(
            parsed("https://github.com/acme/site.git"),
            (Scheme::Https, s("github.com"), s("acme"), s("site"))
        );
        assert_eq!(
            parsed("https://ghe.example.com/org/team/site/"),
            (Scheme::Https, s("ghe.example.com"), s("team"), s("site"))
        );
        assert_eq!(
            parsed("ssh://git@github.com:22/acme/site.git"),
            (Scheme::Ssh, s("github.com"), s("acme"), s("site"))
        );
        assert_eq!(
            parsed("git@github.com:acme/site.git"),
            (Scheme::Scp, s("github.com"), s("acme"), s("site"))
        );
        assert_eq!(
            parsed("git://127.0.0.1:9418/acme/site.git"),
            (Scheme::Git, s("127.0.0.1"), s("acme"), s("site"))
        );
        assert_eq!(
            parsed("file:///srv/git/acme/site.git"),
            (Scheme::File, None, s("acme"), s("site"))
        );
        assert_eq!(
            parsed("http://[::1]:8080/acme/site"),
            (Scheme::Http, s("::1"), s("acme"), s("site"))
        );
    }

    #[test]
    fn a_single_segment_has_a_name_and_no_owner() {
        assert_eq!(
            parsed("git://example.com/site.git"),
            (Scheme::Git, s("example.com"), None, s("site"))
        );
    }

    #[test]
    fn refuses_what_git_could_misread_or_what_would_leak_a_secret() {
        for (url, says) in [
            ("", "empty"),
            ("-uhttps://x/y/z", "'-'"),
            ("ext::sh -c touch% /tmp/pwned", "space"),
            ("ext::sh", "transport helpers"),
            ("fd::17/foo", "transport helpers"),
            ("https://user:pass@github.com/acme/site.git", "credentials"),
            ("https://ghp_token@github.com/acme/site.git", "credentials"),
            ("ssh://git:secret@host/acme/site.git", "password"),
            ("ftp://host/acme/site.git", "not supported"),
            ("https://github.com/", "no repository path"),
            ("https:///acme/site", "no host"),
            ("file://server/share/site.git", "folder on this machine"),
            ("/srv/git/site.git", "not a repository URL"),
            ("https://github.com/acme/site?x=1", "query"),
            ("https://github.com/acme/\nsite", "control"),
        ] {
            let error = RemoteUrl::parse(url).expect_err(url);
            assert!(error.0.contains(says), "{url}: {}", error.0);
        }
    }

    #[test]
    fn http_origin_is_scheme_host_and_port() {
        let remote = RemoteUrl::parse("HTTPS://ghe.example.com:8443/acme/site.git").unwrap();
        assert_eq!(
            remote.http_origin().as_deref(),
            Some("https://ghe.example.com:8443/")
        );
        assert_eq!(
            RemoteUrl::parse("git@github.com:a/b")
                .unwrap()
                .http_origin(),
            None
        );
    }

    #[test]
    fn branch_names_follow_check_ref_format() {
        for good in ["main", "feature/new-look", "release-1.2", "デザイン"] {
            assert!(check_branch_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-x",
            "a..b",
            "a b",
            "a:b",
            "x.lock",
            "a/.hidden",
            "a/",
            "/a",
            "a@{1}",
            "HEAD",
            "a~1",
            "a^",
            "a?",
            "a*",
            "a[",
            "a\\b",
            "end.",
        ] {
            assert!(check_branch_name(bad).is_err(), "{bad:?}");
        }
    }
}

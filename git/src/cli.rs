//! Running the `git` command line with a controlled environment. devflow uses the user's own
//! git rather than a library so that credential helpers, ssh configuration, `insteadOf`
//! rewrites and every URL scheme behave exactly as they do for the user.
//!
//! Every run: no terminal prompt (`GIT_TERMINAL_PROMPT=0`, its own session so ssh cannot
//! ask on the terminal either), messages in the C locale (so failures can be classified),
//! none of the daemon's `GIT_*` repository variables, `DEVFLOW_*` or `AWS_*` secrets, the
//! configured author as both author and committer (never a global identity), and a time
//! limit. A token, when one is set, reaches git through `GIT_CONFIG_*` variables scoped to
//! one origin: never in argv (visible to every local user), never in a log line. The system
//! and global git config are read as usual (no `GIT_CONFIG_NOSYSTEM`): that is where
//! platform credential helpers such as macOS's osxkeychain are configured.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;

/// Who devflow's commits are by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Author {
            name: "devflow".into(),
            email: "devflow@localhost".into(),
        }
    }
}

impl Author {
    /// Reads `Name <email>` (the `gitAuthor` setting).
    pub fn parse(text: &str) -> Result<Author, String> {
        let text = text.trim();
        let refuse = || {
            format!("gitAuthor {text:?} is not of the form `Name <email>`, e.g. `devflow <devflow@localhost>`")
        };
        let (name, rest) = text.split_once('<').ok_or_else(refuse)?;
        let email = rest.strip_suffix('>').ok_or_else(refuse)?.trim();
        let name = name.trim();
        if name.is_empty()
            || email.is_empty()
            || [name, email]
                .iter()
                .any(|part| part.contains(['<', '>', '\n', '\r', '\0']))
        {
            return Err(refuse());
        }
        Ok(Author {
            name: name.to_string(),
            email: email.to_string(),
        })
    }
}

/// A token for one origin (`https://github.com/`), sent as git's HTTP basic credentials.
#[derive(Clone)]
struct HttpToken {
    origin: String,
    token: String,
}

impl std::fmt::Debug for HttpToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpToken({}, ***)", self.origin)
    }
}

/// What a failed git run means for the person who asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitError {
    #[error("git is not installed or not on PATH ({0}); install git to use git sessions")]
    NotInstalled(String),
    #[error("branch {branch:?} does not exist in {url}; leave source.branch out for the repository's default branch, or name an existing one")]
    BranchNotFound { url: String, branch: String },
    #[error("no repository at {url}, or no access to it: {detail}")]
    RepositoryNotFound { url: String, detail: String },
    #[error("{url} refused the credentials ({detail}); set up a git credential helper or ssh key for it, or the githubToken setting (DEVFLOW_GITHUB_TOKEN) for GitHub over https")]
    AuthFailed { url: String, detail: String },
    #[error("cannot reach {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the remote's {branch} has commits this session does not have (someone pushed to it); nothing was overwritten and the local commits are kept: delete or rename the remote branch, then publish again")]
    NonFastForward { branch: String },
    #[error("{path} is not inside a git repository; run `git init` and commit once, or leave gitCommits off")]
    NotARepository { path: String },
    #[error("the repository at {path} has no commit yet; commit once so devflow has a commit to branch from")]
    NoCommits { path: String },
    #[error("branch {branch} moved while devflow was committing to it; try again")]
    RefMoved { branch: String },
    #[error("git {action} took longer than {seconds} s and was stopped")]
    TimedOut { action: String, seconds: u64 },
    /// Any other failure talking to a remote (a hook refused, the server failed).
    #[error("git {action} failed: {detail}")]
    Remote { action: String, detail: String },
    /// Any other local failure.
    #[error("git {action} failed: {detail}")]
    Local { action: String, detail: String },
}

/// A git run's output.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

/// One git invocation.
pub(crate) struct Run<'a> {
    pub args: Vec<String>,
    pub dir: Option<&'a Path>,
    pub stdin: Option<&'a [u8]>,
    /// `GIT_INDEX_FILE`: the private index a commit is built in.
    pub index_file: Option<&'a Path>,
    /// Talks to a remote: the token is attached and the longer time limit applies.
    pub remote: bool,
}

impl<'a> Run<'a> {
    pub fn new(args: &[&str]) -> Run<'a> {
        Run {
            args: args.iter().map(|a| a.to_string()).collect(),
            dir: None,
            stdin: None,
            index_file: None,
            remote: false,
        }
    }

    pub fn in_dir(mut self, dir: &'a Path) -> Self {
        self.dir = Some(dir);
        self
    }

    pub fn stdin(mut self, bytes: &'a [u8]) -> Self {
        self.stdin = Some(bytes);
        self
    }

    pub fn index(mut self, index_file: &'a Path) -> Self {
        self.index_file = Some(index_file);
        self
    }

    pub fn remote(mut self) -> Self {
        self.remote = true;
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }
}

/// Inherited `GIT_*` variables that say how to reach remotes, kept; every other `GIT_*`
/// (`GIT_DIR`, `GIT_INDEX_FILE`, `GIT_WORK_TREE`, identities, `GIT_CONFIG_PARAMETERS`, …)
/// would point git at another repository or identity and is removed.
const KEPT_GIT_VARIABLES: &[&str] = &[
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_SSH_VARIANT",
    "GIT_ASKPASS",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "GIT_SSL_NO_VERIFY",
    "GIT_PROXY_COMMAND",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_EXEC_PATH",
];

/// The git command line with devflow's environment policy.
#[derive(Debug, Clone)]
pub struct Git {
    program: PathBuf,
    author: Author,
    token: Option<HttpToken>,
    local_limit: Duration,
    remote_limit: Duration,
}

impl Git {
    pub fn new(author: Author) -> Git {
        Git {
            program: PathBuf::from("git"),
            author,
            token: None,
            local_limit: Duration::from_secs(120),
            remote_limit: Duration::from_secs(600),
        }
    }

    /// Sends `token` as HTTP credentials to URLs under `origin` (`https://github.com/`), and
    /// to no other host.
    pub fn with_token_for(mut self, origin: &str, token: &str) -> Git {
        if !token.is_empty() && !origin.is_empty() {
            self.token = Some(HttpToken {
                origin: origin.to_string(),
                token: token.to_string(),
            });
        }
        self
    }

    /// Another `git` binary (tests).
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Git {
        self.program = program.into();
        self
    }

    pub fn author(&self) -> &Author {
        &self.author
    }

    fn command(&self, run: &Run<'_>) -> Command {
        let mut command = Command::new(&self.program);
        for (name, _) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            let upper = name.to_ascii_uppercase();
            let git_variable = upper.starts_with("GIT_") && !KEPT_GIT_VARIABLES.contains(&name);
            if git_variable || upper.starts_with("DEVFLOW_") || upper.starts_with("AWS_") {
                command.env_remove(name);
            }
        }
        command
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GCM_INTERACTIVE", "never")
            .env("LC_ALL", "C")
            .env("LANGUAGE", "")
            .env("GIT_AUTHOR_NAME", &self.author.name)
            .env("GIT_AUTHOR_EMAIL", &self.author.email)
            .env("GIT_COMMITTER_NAME", &self.author.name)
            .env("GIT_COMMITTER_EMAIL", &self.author.email);
        if let Some(index) = run.index_file {
            command.env("GIT_INDEX_FILE", index);
        }
        if run.remote {
            if let Some(token) = &self.token {
                let basic = base64::engine::general_purpose::STANDARD
                    .encode(format!("x-access-token:{}", token.token));
                command
                    .env("GIT_CONFIG_COUNT", "1")
                    .env(
                        "GIT_CONFIG_KEY_0",
                        format!("http.{}.extraHeader", token.origin),
                    )
                    .env(
                        "GIT_CONFIG_VALUE_0",
                        format!("Authorization: Basic {basic}"),
                    );
            }
        }
        // An fsmonitor hook configured in a repository is a program git would start.
        command.args(["-c", "core.fsmonitor=false", "-c", "core.quotePath=false"]);
        command.args(&run.args);
        if let Some(dir) = run.dir {
            command.current_dir(dir);
        }
        command
            .stdin(if run.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
            unsafe {
                command.pre_exec(|| {
                    // Without a controlling terminal ssh fails at once instead of asking for
                    // a passphrase nobody will type; the group is killed on time-out.
                    libc::setsid();
                    Ok(())
                });
            }
        }
        command
    }

    /// Runs git; `Err` only when it could not run or ran out of time. A non-zero exit is an
    /// `Output` with `success: false`, for the caller to classify.
    pub(crate) fn run(&self, run: Run<'_>) -> Result<Output, GitError> {
        let action = run.args.first().cloned().unwrap_or_default();
        let limit = if run.remote {
            self.remote_limit
        } else {
            self.local_limit
        };
        let mut child = self.command(&run).spawn().map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                GitError::NotInstalled(error.to_string())
            } else {
                GitError::Local {
                    action: action.clone(),
                    detail: error.to_string(),
                }
            }
        })?;
        let writer = match (run.stdin, child.stdin.take()) {
            (Some(bytes), Some(mut stdin)) => {
                let bytes = bytes.to_vec();
                Some(std::thread::spawn(move || {
                    let _ = stdin.write_all(&bytes);
                }))
            }
            _ => None,
        };
        let pid = child.id();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(child.wait_with_output());
        });
        let output = match receiver.recv_timeout(limit) {
            Ok(output) => output,
            Err(_) => {
                #[cfg(unix)]
                // SAFETY: plain syscall on the process group git runs in (its own session).
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
                let _ = receiver.recv();
                return Err(GitError::TimedOut {
                    action,
                    seconds: limit.as_secs(),
                });
            }
        }
        .map_err(|error| GitError::Local {
            action: action.clone(),
            detail: error.to_string(),
        })?;
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if let Some(token) = &self.token {
            // Belt and braces: git does not echo extra headers, but nothing may show a token.
            stderr = stderr.replace(&token.token, "***");
        }
        Ok(Output {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr,
            success: output.status.success(),
        })
    }

    /// Runs git and turns a failure into a `Local` error carrying its message.
    pub(crate) fn run_ok(&self, run: Run<'_>) -> Result<String, GitError> {
        let action = run.args.first().cloned().unwrap_or_default();
        let output = self.run(run)?;
        if output.success {
            Ok(output.stdout)
        } else {
            Err(GitError::Local {
                action,
                detail: last_lines(&output.stderr),
            })
        }
    }
}

/// The last few meaningful lines of git's stderr, for a message.
pub(crate) fn last_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("hint:"))
        .collect();
    let start = lines.len().saturating_sub(3);
    let text = lines[start..].join(" / ");
    if text.is_empty() {
        "git gave no reason".into()
    } else {
        text
    }
}

/// What a failed clone, fetch or push said, as an error (git's C-locale messages).
pub(crate) fn classify_remote_failure(
    action: &str,
    url: &str,
    branch: Option<&str>,
    stderr: &str,
) -> GitError {
    let text = stderr.to_ascii_lowercase();
    let detail = last_lines(stderr);
    let url = url.to_string();
    if let Some(branch) = branch {
        if text.contains("remote branch") && text.contains("not found") {
            return GitError::BranchNotFound {
                url,
                branch: branch.to_string(),
            };
        }
    }
    if text.contains("non-fast-forward")
        || text.contains("fetch first")
        || text.contains("[rejected]")
    {
        return GitError::NonFastForward {
            branch: branch.unwrap_or("branch").to_string(),
        };
    }
    let auth = [
        "authentication failed",
        "could not read username",
        "could not read password",
        "terminal prompts disabled",
        "permission denied (publickey",
        "access denied",
        "http basic: access denied",
        "the requested url returned error: 401",
        "the requested url returned error: 403",
        "invalid username or password",
        "host key verification failed",
    ];
    if auth.iter().any(|needle| text.contains(needle)) && !text.contains("not exported") {
        return GitError::AuthFailed { url, detail };
    }
    let missing = [
        "repository not found",
        "no such repository",
        "does not appear to be a git repository",
        "not exported",
        "the requested url returned error: 404",
        "no such file or directory",
    ];
    if missing.iter().any(|needle| text.contains(needle)) {
        return GitError::RepositoryNotFound { url, detail };
    }
    let unreachable = [
        "could not resolve host",
        "connection refused",
        "unable to connect",
        "failed to connect",
        "connection timed out",
        "network is unreachable",
        "could not read from remote repository",
    ];
    if unreachable.iter().any(|needle| text.contains(needle)) {
        return GitError::Unreachable { url, detail };
    }
    GitError::Remote {
        action: action.to_string(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_reads_name_and_email() {
        assert_eq!(
            Author::parse("  Design Bot <bot@example.test> "),
            Ok(Author {
                name: "Design Bot".into(),
                email: "bot@example.test".into()
            })
        );
        for bad in [
            "",
            "bot",
            "<a@b>",
            "bot <>",
            "bot <a@b",
            "a\nb <c@d>",
            "a <b@c> <d@e>",
        ] {
            assert!(Author::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn git_messages_are_classified() {
        let url = "git://127.0.0.1:1/acme/site.git";
        let cases = [
            (
                "warning: Could not find remote branch nope to clone.\nfatal: Remote branch nope not found in upstream origin\n",
                "branch",
            ),
            (
                "fatal: remote error: access denied or repository not exported: /acme/missing.git\n",
                "missing",
            ),
            (
                "fatal: remote error: no such repository: /acme/missing.git\n",
                "missing",
            ),
            (
                "fatal: could not read Username for 'https://github.com': terminal prompts disabled\n",
                "auth",
            ),
            (
                "git@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.\n",
                "auth",
            ),
            (
                "remote: Repository not found.\nfatal: repository 'https://github.com/a/b.git/' not found\n",
                "missing",
            ),
            (
                "fatal: unable to connect to 127.0.0.1:\n127.0.0.1[0: 127.0.0.1]: errno=Connection refused\n",
                "unreachable",
            ),
            (
                "To git://x/a/b.git\n ! [rejected]        devflow/1 -> devflow/1 (fetch first)\nerror: failed to push some refs\n",
                "non-fast-forward",
            ),
            ("fatal: something else entirely\n", "other"),
        ];
        for (stderr, expected) in cases {
            let kind = match classify_remote_failure("clone", url, Some("nope"), stderr) {
                GitError::BranchNotFound { .. } => "branch",
                GitError::RepositoryNotFound { .. } => "missing",
                GitError::AuthFailed { .. } => "auth",
                GitError::Unreachable { .. } => "unreachable",
                GitError::NonFastForward { .. } => "non-fast-forward",
                _ => "other",
            };
            assert_eq!(kind, expected, "{stderr}");
        }
    }

    #[test]
    fn last_lines_skips_hints_and_blank_lines() {
        assert_eq!(last_lines("a\n\nhint: do this\nb\nc\nd\n"), "b / c / d");
        assert_eq!(last_lines(""), "git gave no reason");
    }

    #[test]
    fn the_token_is_never_in_argv_or_debug_output() {
        let git = Git::new(Author::default()).with_token_for("https://github.com/", "ghp_secret");
        let command = git.command(&Run::new(&["ls-remote", "https://github.com/a/b"]).remote());
        let argv: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(!argv.iter().any(|a| a.contains("ghp_secret")), "{argv:?}");
        let env: Vec<(String, String)> = command
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
            .collect();
        let header = env
            .iter()
            .find(|(k, _)| k == "GIT_CONFIG_VALUE_0")
            .map(|(_, v)| v.clone())
            .expect("the header is passed in the environment");
        let expected =
            base64::engine::general_purpose::STANDARD.encode("x-access-token:ghp_secret");
        assert_eq!(header, format!("Authorization: Basic {expected}"));
        assert!(env
            .iter()
            .any(|(k, v)| k == "GIT_CONFIG_KEY_0" && v == "http.https://github.com/.extraHeader"));
        assert!(!format!("{git:?}").contains("ghp_secret"));
        // A local run gets no credentials at all.
        let local = git.command(&Run::new(&["status"]));
        assert!(!local.get_envs().any(|(k, _)| k == "GIT_CONFIG_VALUE_0"));
    }
}

//! Git in, git out, against the real `devflow serve`: sessions cloned from a real `git daemon`
//! on loopback (and from a file:// URL), one commit per applied patch with the instruction as
//! subject and `Devflow-*` trailers, a commit per rollback restoring the files byte for byte,
//! no commit for a failed command, and publish: a push the server's repository receives and a
//! pull request opened, then updated, through a fake of GitHub's REST API that checks what
//! the daemon really sends. A `dir` session on a repository with staged, unstaged and
//! untracked changes keeps its branch, index and changes exactly as they were.

use std::path::{Path, PathBuf};
use std::time::Duration;

use devflow_tests::fake_github::{FakeGitHub, Scripted};
use devflow_tests::fixtures::fixtures_dir;
use devflow_tests::git_server::{git, GitServer};
use devflow_tests::{Client, Daemon, RestClient, WsClient};
use serde_json::{json, Value};

const GITHUB_TOKEN: &str = "ghp_fake-token-for-tests";
const WAIT: Duration = Duration::from_secs(60);

fn sidebar() -> PathBuf {
    fixtures_dir().join("sites").join("simple-sidebar")
}

/// A daemon that publishes to `github` and has no global git identity to fall back on.
fn daemon_for(temp: &Path, github: &FakeGitHub, extra: &[(&str, &str)]) -> Daemon {
    let home = temp.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let home = home.to_str().unwrap().to_string();
    let mut env = vec![
        ("DEVFLOW_GITHUB_TOKEN", GITHUB_TOKEN),
        ("DEVFLOW_GITHUB_API_URL", github.url.as_str()),
        ("DEVFLOW_PROPOSER", "builtin"),
        ("HOME", home.as_str()),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
    ];
    env.extend_from_slice(extra);
    Daemon::start_with(&temp.join("state"), &env)
}

/// Submits an instruction and waits for its final status; returns the command.
async fn run(client: &mut RestClient, session_id: &str, instruction: &str) -> Value {
    let submitted = client
        .call(
            "command/submit",
            json!({"sessionId": session_id, "instruction": instruction}),
        )
        .await
        .expect("submit");
    let params = json!({"sessionId": session_id, "commandId": submitted["commandId"]});
    let started = std::time::Instant::now();
    loop {
        let command = client
            .call("command/get", params.clone())
            .await
            .expect("command/get");
        if matches!(command["status"].as_str(), Some("READY" | "FAILED")) {
            return command;
        }
        assert!(
            started.elapsed() < WAIT,
            "{instruction:?} did not finish: {command}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `git log` of `range` in `repo`: one (subject, trailers, author) per commit, newest first.
fn log(repo: &Path, range: &str) -> Vec<(String, String, String)> {
    let text = git(
        repo,
        &[
            "log",
            "--format=%s%x1f%(trailers:only,unfold)%x1f%an <%ae>%x1e",
            range,
        ],
    );
    text.split('\u{1e}')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let parts: Vec<&str> = entry.split('\u{1f}').collect();
            (
                parts[0].to_string(),
                parts[1].trim().to_string(),
                parts[2].to_string(),
            )
        })
        .collect()
}

fn trailer<'a>(trailers: &'a str, key: &str) -> Option<&'a str> {
    trailers
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}: ")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_session_commits_each_change_and_publishes_a_pull_request() {
    let temp = tempfile::tempdir().unwrap();
    let server = GitServer::start(&temp.path().join("server"));
    let bare = server.seed(
        "acme/site.git",
        &sidebar(),
        "design-notes.txt",
        "the design branch\n",
    );
    let github = FakeGitHub::start(GITHUB_TOKEN, Some(bare.clone())).await;
    let daemon = daemon_for(
        temp.path(),
        &github,
        &[("DEVFLOW_GIT_AUTHOR", "Design Bot <bot@example.test>")],
    );
    let mut client = RestClient::new(&daemon);

    // Clone by URL at a branch.
    let url = server.url("acme/site.git");
    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "git", "url": url, "branch": "design"}}),
        )
        .await
        .expect("create a git session");
    let sid = created["sessionId"].as_str().unwrap().to_string();
    let branch = format!("devflow/{}", &sid[..8]);
    assert_eq!(created["repositoryUrl"], json!(url));
    assert_eq!(created["repositoryOwner"], "acme");
    assert_eq!(created["repositoryName"], "site");
    assert_eq!(created["branchName"], json!(branch));
    assert_eq!(created["source"]["branch"], "design");
    assert_eq!(created["settings"]["gitCommits"], true);
    assert_eq!(created["prUrl"], Value::Null);
    let workspace = daemon.state_dir.join("workspaces").join(&sid);
    assert_eq!(
        std::fs::read_to_string(workspace.join("design-notes.txt")).unwrap(),
        "the design branch\n",
        "the design branch is checked out"
    );
    assert_eq!(
        git(&workspace, &["rev-list", "--count", "HEAD"]).trim(),
        "1",
        "shallow"
    );
    assert_eq!(
        git(&workspace, &["symbolic-ref", "--short", "HEAD"]).trim(),
        branch
    );
    let base = git(&workspace, &["rev-parse", "HEAD"]).trim().to_string();
    let styles = workspace.join("css/styles.css");
    let original = std::fs::read(&styles).unwrap();

    // Two commands → two commits, the instruction as subject, the trailers.
    let red = run(&mut client, &sid, "make the buttons red").await;
    assert_eq!(red["status"], "READY", "{red}");
    let after_red = std::fs::read(&styles).unwrap();
    let corners = run(&mut client, &sid, "round the corners").await;
    assert_eq!(corners["status"], "READY", "{corners}");
    let commits = log(&workspace, &format!("{base}..{branch}"));
    assert_eq!(commits.len(), 2, "{commits:?}");
    for ((subject, trailers, author), command) in commits.iter().zip([&corners, &red]) {
        assert_eq!(subject, command["instruction"].as_str().unwrap());
        assert_eq!(author, "Design Bot <bot@example.test>");
        assert_eq!(
            trailer(trailers, "Devflow-Command"),
            command["commandId"].as_str()
        );
        assert_eq!(
            trailer(trailers, "Devflow-Patch"),
            command["patchId"].as_str()
        );
        assert_eq!(trailer(trailers, "Devflow-Proposer"), Some("builtin"));
        let confidence: f64 = trailer(trailers, "Devflow-Confidence")
            .expect("a confidence trailer")
            .parse()
            .unwrap();
        let proposed = command["proposals"][0]["confidence"].as_f64().unwrap();
        assert!(
            (confidence - proposed).abs() < 0.006,
            "{confidence} vs {proposed}"
        );
    }
    assert_eq!(
        git(&workspace, &["status", "--porcelain"]),
        "",
        "the clone's index follows the work branch"
    );
    assert_eq!(
        git(&workspace, &["show", &format!("{branch}~1:css/styles.css")]).as_bytes(),
        after_red.as_slice()
    );

    // A failed command leaves no commit.
    let failed = run(&mut client, &sid, "make the sidebar feel magical").await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(log(&workspace, &format!("{base}..{branch}")).len(), 2);

    // Rollback → a third commit; the files are byte-identical to before the patch.
    let rolled = client
        .call("session/rollback", json!({"sessionId": sid}))
        .await
        .expect("rollback");
    assert_eq!(rolled["rolledBack"], json!([corners["patchId"]]));
    assert_eq!(std::fs::read(&styles).unwrap(), after_red);
    let commits = log(&workspace, &format!("{base}..{branch}"));
    assert_eq!(commits.len(), 3, "{commits:?}");
    let (subject, trailers, _) = &commits[0];
    assert_eq!(
        subject,
        &format!(
            "Roll back {}: round the corners",
            corners["patchId"].as_str().unwrap()
        )
    );
    assert_eq!(
        trailer(trailers, "Devflow-Rollback-Of"),
        corners["patchId"].as_str()
    );
    assert_eq!(
        git(&workspace, &["rev-parse", &format!("{branch}^{{tree}}")]),
        git(&workspace, &["rev-parse", &format!("{branch}~2^{{tree}}")]),
        "the rollback commit's tree is the one before the rolled-back patch"
    );
    assert_eq!(
        git(&workspace, &["show", &format!("{branch}:css/styles.css")]).as_bytes(),
        after_red.as_slice()
    );
    assert_ne!(after_red, original);

    // Publish: the server gets the branch, GitHub a pull request.
    let published = client
        .call("session/publish", json!({"sessionId": sid}))
        .await
        .expect("publish");
    let pr_url = format!("{}/acme/site/pull/1", github.url);
    assert_eq!(
        published,
        json!({"prNumber": 1, "prUrl": pr_url, "branch": branch})
    );
    assert_eq!(
        git(&bare, &["rev-parse", &format!("refs/heads/{branch}")]),
        git(&workspace, &["rev-parse", &branch]),
        "the server's repository has the branch"
    );
    let requests = github.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/repos/acme/site/pulls");
    assert!(requests[0]
        .query
        .contains(&("head".to_string(), format!("acme:{branch}"))));
    assert!(requests[0]
        .query
        .contains(&("state".to_string(), "open".to_string())));
    assert_eq!(requests[1].method, "POST");
    assert_eq!(
        requests[1].authorization.as_deref(),
        Some(format!("Bearer {GITHUB_TOKEN}").as_str())
    );
    let body = &requests[1].body;
    assert_eq!(body["head"], json!(branch));
    assert_eq!(body["base"], "design");
    assert_eq!(body["draft"], false);
    assert_eq!(
        body["title"], "make the buttons red",
        "the one change still applied names the pull request"
    );
    let text = body["body"].as_str().unwrap();
    for expected in [
        "### 1. make the buttons red",
        "### 2. round the corners (rolled back)",
        red["proposals"][0]["reason"].as_str().unwrap(),
        "Drift score",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    assert!(
        !text.contains("magical"),
        "a failed command is not in the body"
    );

    // The token is in no log and in no git configuration.
    let logs = daemon.state_dir.join("logs");
    for entry in std::fs::read_dir(&logs).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        assert!(
            !text.contains(GITHUB_TOKEN),
            "{} shows the token",
            entry.path().display()
        );
    }
    let config = std::fs::read_to_string(workspace.join(".git/config")).unwrap();
    assert!(!config.contains(GITHUB_TOKEN));

    // The PR lands in the session and in the history of the committed commands.
    let session = client
        .call("session/get", json!({"sessionId": sid}))
        .await
        .expect("get");
    assert_eq!(session["prNumber"], 1);
    assert_eq!(session["prUrl"], json!(pr_url));
    let history = client
        .call("session/history", json!({"sessionId": sid}))
        .await
        .expect("history");
    for item in history["items"].as_array().unwrap() {
        let expected = if item["status"] == "READY" {
            json!(pr_url)
        } else {
            Value::Null
        };
        assert_eq!(item["prUrl"], expected, "{item}");
    }

    // Another change and a second publish, over JSON-RPC: the same pull request, updated.
    let padding = run(&mut client, &sid, "more padding").await;
    assert_eq!(padding["status"], "READY", "{padding}");
    let mut ws = WsClient::connect(&daemon).await;
    let again = ws
        .call(
            "session/publish",
            json!({"sessionId": sid, "title": "Brand colours and spacing"}),
        )
        .await
        .expect("publish again");
    assert_eq!(again["prNumber"], 1);
    assert_eq!(again["prUrl"], json!(pr_url));
    let requests = github.requests();
    let update = requests.last().unwrap();
    assert_eq!(update.method, "PATCH");
    assert_eq!(update.path, "/repos/acme/site/pulls/1");
    assert_eq!(update.body["title"], "Brand colours and spacing");
    assert!(update.body["body"]
        .as_str()
        .unwrap()
        .contains("### 3. more padding"));
    assert_eq!(github.pulls().len(), 1, "no second pull request");
    assert_eq!(
        git(&bare, &["rev-parse", &format!("refs/heads/{branch}")]),
        git(&workspace, &["rev-parse", &branch])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_failures_are_clear_errors_and_lose_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let server = GitServer::start(&temp.path().join("server"));
    let bare = server.seed("acme/site.git", &sidebar(), "notes.txt", "x\n");
    let github = FakeGitHub::start(GITHUB_TOKEN, Some(bare.clone())).await;
    let daemon = daemon_for(temp.path(), &github, &[]);
    let mut client = RestClient::new(&daemon);
    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "git", "url": server.url("acme/site.git")}}),
        )
        .await
        .expect("create");
    let sid = created["sessionId"].as_str().unwrap().to_string();
    let branch = format!("devflow/{}", &sid[..8]);
    let workspace = daemon.state_dir.join("workspaces").join(&sid);
    assert_eq!(created["source"]["branch"], "main", "the default branch");

    // Nothing committed yet: nothing to publish.
    let error = client
        .call("session/publish", json!({"sessionId": sid}))
        .await
        .expect_err("nothing to publish");
    assert_eq!(
        (error.status, error.body["error"].as_str()),
        (409, Some("CONFLICT"))
    );
    assert!(error.body["message"]
        .as_str()
        .unwrap()
        .contains("nothing to publish"));

    assert_eq!(
        run(&mut client, &sid, "make the buttons red").await["status"],
        "READY"
    );
    let committed = git(&workspace, &["rev-parse", &branch]);

    let expect_upstream = |error: devflow_tests::client::CallError, says: &[&str]| {
        assert_eq!(error.status, 502, "{:?}", error.body);
        assert_eq!(error.body["error"], "UPSTREAM_ERROR");
        for expected in says {
            assert!(
                error.body["message"].as_str().unwrap().contains(expected),
                "{expected:?} not in {}",
                error.body
            );
        }
        for key in ["requestId", "timestamp"] {
            assert!(error.body.get(key).is_some(), "{key} in {}", error.body);
        }
    };
    github.fail_next(Scripted::Unauthorized);
    let error = client
        .call("session/publish", json!({"sessionId": sid}))
        .await
        .expect_err("401");
    expect_upstream(
        error.clone(),
        &["401", "Bad credentials", "DEVFLOW_GITHUB_TOKEN"],
    );
    assert_eq!(error.body["details"]["field"], "githubToken");
    assert_eq!(error.body["details"]["value"]["status"], 401);

    github.fail_next(Scripted::Invalid(
        "A pull request already exists for acme:main.".into(),
    ));
    github.fail_next(Scripted::Invalid("unused".into()));
    let error = client
        .call("session/publish", json!({"sessionId": sid}))
        .await
        .expect_err("422");
    expect_upstream(
        error,
        &["422", "A pull request already exists for acme:main."],
    );
    // The GET of the next publish takes the second scripted answer.
    let _ = client
        .call("session/publish", json!({"sessionId": sid}))
        .await;

    github.fail_next(Scripted::RateLimited {
        reset: 1_900_000_000,
    });
    let error = client
        .call("session/publish", json!({"sessionId": sid}))
        .await
        .expect_err("rate limit");
    expect_upstream(error, &["rate limit", "1900000000"]);

    // Nothing local was lost: the commit is there, and publishing works once GitHub does.
    assert_eq!(git(&workspace, &["rev-parse", &branch]), committed);
    let session = client
        .call("session/get", json!({"sessionId": sid}))
        .await
        .unwrap();
    assert_eq!(
        session["prUrl"],
        Value::Null,
        "no PR recorded by a failed publish"
    );
    let published = client
        .call("session/publish", json!({"sessionId": sid, "draft": true}))
        .await
        .expect("publish after the failures");
    assert_eq!(published["prNumber"], 1);
    assert!(github.pulls()[0].5, "opened as a draft");

    // Someone else pushes to the work branch: the next push is refused, never forced.
    let other = temp.path().join("other");
    git(
        temp.path(),
        &[
            "clone",
            "-q",
            "--branch",
            &branch,
            &server.url("acme/site.git"),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("README-theirs.txt"), "theirs\n").unwrap();
    git(&other, &["add", "-A"]);
    git(&other, &["commit", "-q", "-m", "theirs"]);
    git(&other, &["push", "-q", "origin", &branch]);
    let theirs = git(&bare, &["rev-parse", &branch]);
    assert_eq!(
        run(&mut client, &sid, "round the corners").await["status"],
        "READY"
    );
    let ours = git(&workspace, &["rev-parse", &branch]);
    let error = client
        .call("session/publish", json!({"sessionId": sid}))
        .await
        .expect_err("non-fast-forward");
    assert_eq!(
        (error.status, error.body["error"].as_str()),
        (409, Some("CONFLICT"))
    );
    assert!(
        error.body["message"]
            .as_str()
            .unwrap()
            .contains("someone pushed"),
        "{}",
        error.body
    );
    assert_eq!(
        git(&bare, &["rev-parse", &branch]),
        theirs,
        "not overwritten"
    );
    assert_eq!(
        git(&workspace, &["rev-parse", &branch]),
        ours,
        "kept locally"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sources_are_refused_and_create_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let server = GitServer::start(&temp.path().join("server"));
    let bare = server.seed("acme/site.git", &sidebar(), "notes.txt", "x\n");
    let github = FakeGitHub::start(GITHUB_TOKEN, None).await;
    let daemon = daemon_for(temp.path(), &github, &[]);
    let mut client = RestClient::new(&daemon);
    let cases = [
        (
            json!({"kind": "git", "url": "ext::sh -c touch% /tmp/x"}),
            400,
            "VALIDATION_ERROR",
            "source.url",
        ),
        (
            json!({"kind": "git", "url": "https://user:secret@github.com/acme/site.git"}),
            400,
            "VALIDATION_ERROR",
            "source.url",
        ),
        (
            json!({"kind": "git", "url": server.url("acme/site.git"), "branch": "no-such-branch"}),
            400,
            "VALIDATION_ERROR",
            "source.branch",
        ),
        (
            json!({"kind": "git", "url": server.url("acme/site.git"), "branch": "bad..name"}),
            400,
            "VALIDATION_ERROR",
            "source.branch",
        ),
        (
            json!({"kind": "git", "url": server.url("acme/missing.git")}),
            502,
            "UPSTREAM_ERROR",
            "source.url",
        ),
    ];
    for (source, status, code, field) in cases {
        let error = client
            .call("session/create", json!({ "source": source }))
            .await
            .expect_err("refused");
        assert_eq!(error.status, status, "{source}: {}", error.body);
        assert_eq!(error.body["error"], code, "{source}");
        assert_eq!(error.body["details"]["field"], field, "{source}");
        assert!(!error.body["message"].as_str().unwrap().is_empty());
    }
    let listed = client.call("session/list", json!({})).await.unwrap();
    assert_eq!(listed["sessions"], json!([]), "no session was created");
    let workspaces = daemon.state_dir.join("workspaces");
    let left: Vec<_> = std::fs::read_dir(&workspaces)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing half-created: {left:?}");

    // A file:// URL clones too; owner and name come from its last two segments.
    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "git", "url": format!("file://{}", bare.display())}}),
        )
        .await
        .expect("a file:// source");
    assert_eq!(created["repositoryOwner"], "acme");
    assert_eq!(created["repositoryName"], "site");
    let sid = created["sessionId"].as_str().unwrap();
    assert!(workspaces.join(sid).join("css/styles.css").is_file());
}

/// Everything git can tell about a folder's own state. The index file's bytes are read
/// first: `git diff` itself refreshes the index's cached file stats.
fn folder_state(dir: &Path) -> Vec<String> {
    vec![
        format!("{:?}", std::fs::read(dir.join(".git/index")).unwrap()),
        git(dir, &["ls-files", "--stage"]),
        git(
            dir,
            &["--no-optional-locks", "status", "--porcelain=v1", "-uall"],
        ),
        git(dir, &["--no-optional-locks", "diff"]),
        git(dir, &["--no-optional-locks", "diff", "--cached"]),
        git(dir, &["rev-parse", "HEAD"]),
        git(dir, &["symbolic-ref", "HEAD"]),
        git(dir, &["rev-parse", "refs/heads/main"]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dir_session_never_touches_the_users_branch_index_or_changes() {
    let temp = tempfile::tempdir().unwrap();
    let server = GitServer::start(&temp.path().join("server"));
    let bare = server.seed("acme/site.git", &sidebar(), "notes.txt", "x\n");
    let github = FakeGitHub::start(GITHUB_TOKEN, Some(bare.clone())).await;
    let daemon = daemon_for(temp.path(), &github, &[]);
    let mut client = RestClient::new(&daemon);

    // The user's clone, with work in progress: staged, unstaged and untracked.
    let folder = temp.path().join("mysite");
    git(
        temp.path(),
        &[
            "clone",
            "-q",
            &server.url("acme/site.git"),
            folder.to_str().unwrap(),
        ],
    );
    let edit = |path: &str, from: &str, to: &str| {
        let file = folder.join(path);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(from), "{path} has {from:?}");
        std::fs::write(&file, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "js/scripts.js",
        "// Toggle the side navigation",
        "// Toggle the sidebar (staged)",
    );
    std::fs::write(folder.join("js/extra.js"), "console.log('staged');\n").unwrap();
    git(&folder, &["add", "js/scripts.js", "js/extra.js"]);
    edit("js/scripts.js", "Scripts", "Scripts, edited after staging");
    edit("index.html", "Simple Sidebar", "My Sidebar, unstaged");
    std::fs::write(folder.join("scratch.txt"), "untracked\n").unwrap();
    // The first reading lets git refresh the index's cached stats; the second is the baseline.
    let _ = folder_state(&folder);
    let before = folder_state(&folder);
    assert!(
        before[2].contains("A  js/extra.js")
            && before[2].contains("MM js/scripts.js")
            && before[2].contains(" M index.html")
            && before[2].contains("?? scratch.txt"),
        "{}",
        before[2]
    );

    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "dir", "path": folder}}),
        )
        .await
        .expect("create");
    let sid = created["sessionId"].as_str().unwrap().to_string();
    let branch = format!("devflow/{}", &sid[..8]);
    let enabled = client
        .call(
            "session/updateSettings",
            json!({"sessionId": sid, "gitCommits": true}),
        )
        .await
        .expect("gitCommits on");
    assert_eq!(enabled["gitCommits"], true);
    let session = client
        .call("session/get", json!({"sessionId": sid}))
        .await
        .unwrap();
    assert_eq!(session["branchName"], json!(branch));
    assert_eq!(session["repositoryOwner"], "acme");
    assert_eq!(session["repositoryName"], "site");
    let head = git(&folder, &["rev-parse", "HEAD"]).trim().to_string();
    assert_eq!(git(&folder, &["rev-parse", &branch]).trim(), head);

    let styles = folder.join("css/styles.css");
    let original = std::fs::read(&styles).unwrap();
    let red = run(&mut client, &sid, "make the buttons red").await;
    assert_eq!(red["status"], "READY", "{red}");
    let corners = run(&mut client, &sid, "round the corners").await;
    assert_eq!(corners["status"], "READY", "{corners}");
    // Only the changed file goes on the branch, never the user's uncommitted work.
    assert_eq!(
        git(&folder, &["diff", "--name-only", &head, &branch]),
        "css/styles.css\n"
    );

    // Rolling back the first patch rolls back both, newest first: two rollback commits.
    let rolled = client
        .call(
            "session/rollback",
            json!({"sessionId": sid, "patchId": red["patchId"]}),
        )
        .await
        .expect("rollback");
    assert_eq!(
        rolled["rolledBack"],
        json!([corners["patchId"], red["patchId"]])
    );
    assert_eq!(std::fs::read(&styles).unwrap(), original);
    let commits = log(&folder, &format!("{head}..{branch}"));
    let subjects: Vec<&str> = commits.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        [
            format!(
                "Roll back {}: make the buttons red",
                red["patchId"].as_str().unwrap()
            ),
            format!(
                "Roll back {}: round the corners",
                corners["patchId"].as_str().unwrap()
            ),
            "round the corners".to_string(),
            "make the buttons red".to_string(),
        ]
    );
    assert_eq!(
        git(&folder, &["rev-parse", &format!("{branch}^{{tree}}")]),
        git(&folder, &["rev-parse", &format!("{head}^{{tree}}")]),
        "after both rollbacks the branch holds the files as they were"
    );

    let published = client
        .call("session/publish", json!({"sessionId": sid}))
        .await
        .expect("publish");
    assert_eq!(published["branch"], json!(branch));
    assert_eq!(
        github.pulls()[0].4,
        "main",
        "into the folder's current branch"
    );
    assert_eq!(
        git(&bare, &["rev-parse", &format!("refs/heads/{branch}")]),
        git(&folder, &["rev-parse", &branch])
    );

    assert_eq!(
        before,
        folder_state(&folder),
        "the folder's branch, index and uncommitted changes are exactly as before"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_commits_is_refused_where_there_is_no_repository() {
    let temp = tempfile::tempdir().unwrap();
    let github = FakeGitHub::start(GITHUB_TOKEN, None).await;
    let daemon = daemon_for(temp.path(), &github, &[]);
    let mut client = RestClient::new(&daemon);
    let plain = devflow_tests::fixtures::copy_site("simple-sidebar", temp.path());
    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "dir", "path": plain}}),
        )
        .await
        .unwrap();
    let sid = created["sessionId"].as_str().unwrap();
    let error = client
        .call(
            "session/updateSettings",
            json!({"sessionId": sid, "gitCommits": true}),
        )
        .await
        .expect_err("not a repository");
    assert_eq!(error.status, 400);
    assert_eq!(error.body["details"]["field"], "gitCommits");
    assert!(error.body["message"]
        .as_str()
        .unwrap()
        .contains("not inside a git repository"));
    let settings = client
        .call("session/getSettings", json!({"sessionId": sid}))
        .await
        .unwrap();
    assert_eq!(settings["gitCommits"], false, "the setting did not change");
    let error = client
        .call("session/publish", json!({"sessionId": sid}))
        .await
        .expect_err("no branch");
    assert_eq!(error.status, 409);
    assert!(error.body["message"]
        .as_str()
        .unwrap()
        .contains("no work branch"));
}

//! devflow-git against real repositories made by the `git` binary in temp dirs: shallow
//! clones at a branch, commits built in a private index that leave a folder's HEAD, index,
//! working tree and uncommitted changes exactly as they were, and pushes that never force.

use std::path::{Path, PathBuf};
use std::process::Command;

use devflow_git::{Author, FileChange, Git, GitError, RemoteUrl};

/// Runs the test's own git (isolated from the machine's config) and returns stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.test"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A repository with two commits on `main` and a `design` branch, and its bare copy.
fn origin(temp: &Path) -> (PathBuf, PathBuf) {
    let work = temp.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q"]);
    write(&work.join("index.html"), "<h1>hello</h1>\n");
    write(&work.join("css/site.css"), "h1 { color: black; }\n");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "first"]);
    write(&work.join("css/site.css"), "h1 { color: navy; }\n");
    git(&work, &["commit", "-q", "-am", "second"]);
    git(&work, &["checkout", "-q", "-b", "design"]);
    write(&work.join("css/site.css"), "h1 { color: teal; }\n");
    git(&work, &["commit", "-q", "-am", "design"]);
    git(&work, &["checkout", "-q", "main"]);
    let bare = temp.join("acme").join("site.git");
    git(
        temp,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    (work, bare)
}

fn file_url(path: &Path) -> RemoteUrl {
    RemoteUrl::parse(&format!("file://{}", path.display())).unwrap()
}

fn devflow_git() -> Git {
    Git::new(Author::default())
}

#[test]
fn clones_one_commit_of_the_branch_asked_for() {
    let temp = tempfile::tempdir().unwrap();
    let (_, bare) = origin(temp.path());
    let into = temp.path().join("clone");
    let cloned = devflow_git()
        .clone_shallow(&file_url(&bare), Some("design"), &into)
        .unwrap();
    assert_eq!(cloned.branch, "design");
    assert_eq!(
        std::fs::read_to_string(into.join("css/site.css")).unwrap(),
        "h1 { color: teal; }\n"
    );
    assert_eq!(git(&into, &["rev-list", "--count", "HEAD"]).trim(), "1");
    assert_eq!(git(&into, &["rev-parse", "HEAD"]).trim(), cloned.head);

    let default = temp.path().join("default");
    let cloned = devflow_git()
        .clone_shallow(&file_url(&bare), None, &default)
        .unwrap();
    assert_eq!(cloned.branch, "main");
}

#[test]
fn a_missing_branch_or_repository_is_named_and_leaves_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let (_, bare) = origin(temp.path());
    let into = temp.path().join("clone");
    let error = devflow_git()
        .clone_shallow(&file_url(&bare), Some("nope"), &into)
        .unwrap_err();
    assert!(
        matches!(&error, GitError::BranchNotFound { branch, .. } if branch == "nope"),
        "{error:?}"
    );
    assert!(!into.exists());
    let error = devflow_git()
        .clone_shallow(&file_url(&temp.path().join("missing.git")), None, &into)
        .unwrap_err();
    assert!(
        matches!(error, GitError::RepositoryNotFound { .. }),
        "{error:?}"
    );
    assert!(!into.exists());
}

/// Everything `git` can tell about a folder's own state.
fn folder_state(dir: &Path) -> Vec<String> {
    vec![
        git(
            dir,
            &["--no-optional-locks", "status", "--porcelain=v1", "-uall"],
        ),
        git(dir, &["--no-optional-locks", "diff"]),
        git(dir, &["--no-optional-locks", "diff", "--cached"]),
        git(dir, &["rev-parse", "HEAD"]),
        git(dir, &["symbolic-ref", "HEAD"]),
        git(dir, &["rev-parse", "refs/heads/main"]),
        format!("{:?}", std::fs::read(dir.join(".git/index")).unwrap()),
    ]
}

#[test]
fn commits_leave_head_index_and_uncommitted_changes_alone() {
    let temp = tempfile::tempdir().unwrap();
    let (work, _) = origin(temp.path());
    // The user's own work in progress: one staged change, one unstaged, one untracked file.
    write(&work.join("index.html"), "<h1>hello, staged</h1>\n");
    git(&work, &["add", "index.html"]);
    write(
        &work.join("index.html"),
        "<h1>hello, staged and then edited</h1>\n",
    );
    write(&work.join("notes.txt"), "untracked\n");
    let before = folder_state(&work);

    let repository = devflow_git().open(&work.join("css")).unwrap();
    assert_eq!(repository.prefix(), "css/");
    let head = repository.head_commit().unwrap().unwrap();
    repository.create_branch("devflow/abcd1234", &head).unwrap();
    let index = temp.path().join("state").join("index");
    let first = repository
        .commit_files(
            "devflow/abcd1234",
            &index,
            &[
                FileChange {
                    path: "site.css",
                    contents: Some(b"h1 { color: red; }\n"),
                },
                FileChange {
                    path: "new.css",
                    contents: Some(b"p { margin: 0; }\n"),
                },
            ],
            "make the heading red\n\nDevflow-Command: c-1\n",
        )
        .unwrap()
        .expect("a commit");
    let second = repository
        .commit_files(
            "devflow/abcd1234",
            &index,
            &[FileChange {
                path: "new.css",
                contents: None,
            }],
            "remove new.css\n",
        )
        .unwrap()
        .expect("a commit");
    assert_eq!(
        before,
        folder_state(&work),
        "the folder's own state changed"
    );

    assert_eq!(
        git(&work, &["show", "devflow/abcd1234~1:css/site.css"]),
        "h1 { color: red; }\n"
    );
    assert_eq!(
        git(&work, &["rev-parse", "devflow/abcd1234~1"]).trim(),
        first
    );
    assert_eq!(
        git(&work, &["rev-parse", "devflow/abcd1234"]).trim(),
        second
    );
    assert_eq!(
        git(&work, &["rev-parse", "devflow/abcd1234~2"]).trim(),
        head
    );
    // Only the files of the change: the user's uncommitted index.html is not on the branch.
    assert_eq!(
        git(&work, &["show", "devflow/abcd1234:index.html"]),
        "<h1>hello</h1>\n"
    );
    assert_eq!(
        git(&work, &["ls-tree", "-r", "--name-only", "devflow/abcd1234"]),
        "css/site.css\nindex.html\n"
    );
    assert_eq!(
        git(
            &work,
            &["log", "-1", "--format=%an <%ae>%n%cn <%ce>", &first]
        ),
        "devflow <devflow@localhost>\ndevflow <devflow@localhost>\n"
    );
    assert_eq!(
        git(
            &work,
            &[
                "log",
                "-1",
                "--format=%(trailers:key=Devflow-Command,valueonly)",
                &first
            ]
        )
        .trim(),
        "c-1"
    );

    // The same bytes again: nothing to record.
    let again = repository
        .commit_files(
            "devflow/abcd1234",
            &index,
            &[FileChange {
                path: "site.css",
                contents: Some(b"h1 { color: red; }\n"),
            }],
            "same again\n",
        )
        .unwrap();
    assert_eq!(again, None);
}

#[test]
fn an_executable_file_stays_executable() {
    let temp = tempfile::tempdir().unwrap();
    let (work, _) = origin(temp.path());
    write(&work.join("build.sh"), "#!/bin/sh\n");
    git(&work, &["add", "--chmod=+x", "build.sh"]);
    git(&work, &["commit", "-q", "-m", "script"]);
    let repository = devflow_git().open(&work).unwrap();
    let head = repository.head_commit().unwrap().unwrap();
    repository.create_branch("devflow/x", &head).unwrap();
    repository
        .commit_files(
            "devflow/x",
            &temp.path().join("index"),
            &[FileChange {
                path: "build.sh",
                contents: Some(b"#!/bin/sh\necho hi\n"),
            }],
            "echo\n",
        )
        .unwrap();
    assert!(git(&work, &["ls-tree", "devflow/x", "build.sh"]).starts_with("100755 "));
}

#[test]
fn a_folder_outside_any_repository_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let error = devflow_git().open(temp.path()).unwrap_err();
    assert!(
        matches!(error, GitError::NotARepository { .. }),
        "{error:?}"
    );
}

#[test]
fn push_never_forces_over_commits_it_does_not_have() {
    let temp = tempfile::tempdir().unwrap();
    let (_, bare) = origin(temp.path());
    let url = file_url(&bare);
    let clone = temp.path().join("clone");
    let cloned = devflow_git().clone_shallow(&url, None, &clone).unwrap();
    let repository = devflow_git().open(&clone).unwrap();
    repository.check_out_new_branch("devflow/1").unwrap();
    // The patch engine writes the file; the commit records the same bytes.
    write(&clone.join("index.html"), "<h1>changed</h1>\n");
    repository
        .commit_files(
            "devflow/1",
            &temp.path().join("index"),
            &[FileChange {
                path: "index.html",
                contents: Some(b"<h1>changed</h1>\n"),
            }],
            "change\n",
        )
        .unwrap();
    repository.reset_index_to("devflow/1").unwrap();
    assert_eq!(
        git(&clone, &["status", "--porcelain"]),
        "",
        "the clone is clean"
    );
    assert_eq!(
        repository.commits_since(&cloned.head, "devflow/1").unwrap(),
        1
    );
    repository
        .push_branch("origin", &url.url, "devflow/1")
        .unwrap();
    assert_eq!(
        git(&bare, &["rev-parse", "devflow/1"]),
        git(&clone, &["rev-parse", "devflow/1"])
    );

    // Someone else pushes to the branch; devflow's next push is refused, not forced.
    let other = temp.path().join("other");
    git(
        temp.path(),
        &[
            "clone",
            "-q",
            "--branch",
            "devflow/1",
            url.url.as_str(),
            other.to_str().unwrap(),
        ],
    );
    write(&other.join("index.html"), "<h1>theirs</h1>\n");
    git(&other, &["commit", "-q", "-am", "theirs"]);
    git(&other, &["push", "-q", "origin", "devflow/1"]);
    repository
        .commit_files(
            "devflow/1",
            &temp.path().join("index"),
            &[FileChange {
                path: "index.html",
                contents: Some(b"<h1>mine</h1>\n"),
            }],
            "mine\n",
        )
        .unwrap();
    let theirs = git(&bare, &["rev-parse", "devflow/1"]);
    let error = repository
        .push_branch("origin", &url.url, "devflow/1")
        .unwrap_err();
    assert!(
        matches!(error, GitError::NonFastForward { .. }),
        "{error:?}"
    );
    assert_eq!(git(&bare, &["rev-parse", "devflow/1"]), theirs);
}

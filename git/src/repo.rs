//! The git operations a session needs: a shallow clone at a branch, the work branch, one
//! commit per change, and the push.
//!
//! Commits are made with plumbing only, in a private index file: `read-tree` of the work
//! branch's tip, `hash-object` + `update-index` for exactly the files the change wrote (their
//! bytes from the patch journal), `write-tree`, `commit-tree`, and `update-ref` with the old
//! tip as a guard. HEAD, the repository's own index and the working tree are never written,
//! so a folder's current branch, its staged and its unstaged changes stay exactly as they were.

use std::path::{Path, PathBuf};

use crate::cli::{classify_remote_failure, last_lines, Git, GitError, Run};
use crate::remote::RemoteUrl;

/// One file of a change: its path in the workspace and its new bytes (`None`: deleted).
#[derive(Debug, Clone, Copy)]
pub struct FileChange<'a> {
    pub path: &'a str,
    pub contents: Option<&'a [u8]>,
}

/// A repository devflow works in: the folder git calls its top level, and where the
/// session's workspace sits inside it.
#[derive(Debug, Clone)]
pub struct Repository {
    git: Git,
    top: PathBuf,
    /// The workspace's path inside the repository: empty, or ending in `/`.
    prefix: String,
}

/// What a clone produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloned {
    /// The branch that was checked out (the one asked for, or the remote's default).
    pub branch: String,
    pub head: String,
}

impl Git {
    /// `git clone --depth 1 --single-branch [--branch B]` into `into`, which must not exist.
    /// On failure nothing is left at `into`.
    pub fn clone_shallow(
        &self,
        url: &RemoteUrl,
        branch: Option<&str>,
        into: &Path,
    ) -> Result<Cloned, GitError> {
        let mut run = Run::new(&[
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--single-branch",
            "--no-tags",
        ]);
        if let Some(branch) = branch {
            run = run.arg("--branch").arg(branch);
        }
        let target = into.to_string_lossy().into_owned();
        let output = self.run(run.arg("--").arg(url.url.clone()).arg(target).remote())?;
        if !output.success {
            let _ = std::fs::remove_dir_all(into);
            return Err(classify_remote_failure(
                "clone",
                &url.url,
                branch,
                &output.stderr,
            ));
        }
        let repository = Repository {
            git: self.clone(),
            top: into.to_path_buf(),
            prefix: String::new(),
        };
        let cloned = (|| {
            let branch = repository
                .current_branch()?
                .ok_or_else(|| GitError::Local {
                    action: "clone".into(),
                    detail: "the clone has no branch checked out (the remote's HEAD is detached)"
                        .into(),
                })?;
            let head = repository
                .head_commit()?
                .ok_or_else(|| GitError::NoCommits {
                    path: url.url.clone(),
                })?;
            Ok(Cloned { branch, head })
        })();
        if cloned.is_err() {
            let _ = std::fs::remove_dir_all(into);
        }
        cloned
    }

    /// The repository `dir` is in. `NotARepository` when there is none.
    pub fn open(&self, dir: &Path) -> Result<Repository, GitError> {
        let output =
            self.run(Run::new(&["rev-parse", "--show-toplevel", "--show-prefix"]).in_dir(dir))?;
        if !output.success {
            return Err(GitError::NotARepository {
                path: dir.display().to_string(),
            });
        }
        let mut lines = output.stdout.lines();
        let top = lines.next().unwrap_or("").to_string();
        let prefix = lines.next().unwrap_or("").to_string();
        if top.is_empty() {
            // A bare repository or the inside of `.git`: no working tree to commit from.
            return Err(GitError::NotARepository {
                path: dir.display().to_string(),
            });
        }
        Ok(Repository {
            git: self.clone(),
            top: PathBuf::from(top),
            prefix,
        })
    }

    /// A repository whose top level and prefix are already known (from a saved state).
    pub fn repository_at(&self, top: &Path, prefix: &str) -> Repository {
        Repository {
            git: self.clone(),
            top: top.to_path_buf(),
            prefix: prefix.to_string(),
        }
    }
}

impl Repository {
    pub fn top(&self) -> &Path {
        &self.top
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn run(&self, args: &[&str]) -> Result<String, GitError> {
        self.git.run_ok(Run::new(args).in_dir(&self.top))
    }

    /// The checked-out branch; `None` when HEAD is detached.
    pub fn current_branch(&self) -> Result<Option<String>, GitError> {
        let output = self
            .git
            .run(Run::new(&["symbolic-ref", "--quiet", "--short", "HEAD"]).in_dir(&self.top))?;
        Ok(output
            .success
            .then(|| output.stdout.trim().to_string())
            .filter(|b| !b.is_empty()))
    }

    /// HEAD's commit; `None` on a branch without commits yet.
    pub fn head_commit(&self) -> Result<Option<String>, GitError> {
        self.resolve("HEAD")
    }

    /// The commit a branch points at; `None` when it does not exist.
    pub fn branch_tip(&self, branch: &str) -> Result<Option<String>, GitError> {
        self.resolve(&format!("refs/heads/{branch}"))
    }

    fn resolve(&self, rev: &str) -> Result<Option<String>, GitError> {
        let output = self.git.run(
            Run::new(&["rev-parse", "--quiet", "--verify", "--end-of-options"])
                .arg(format!("{rev}^{{commit}}"))
                .in_dir(&self.top),
        )?;
        Ok(output
            .success
            .then(|| output.stdout.trim().to_string())
            .filter(|c| !c.is_empty()))
    }

    /// A configured remote's URL (`remote.<name>.url`).
    pub fn remote_url(&self, remote: &str) -> Result<Option<String>, GitError> {
        let output = self.git.run(
            Run::new(&["config", "--get"])
                .arg(format!("remote.{remote}.url"))
                .in_dir(&self.top),
        )?;
        Ok(output
            .success
            .then(|| output.stdout.trim().to_string())
            .filter(|u| !u.is_empty()))
    }

    /// Creates `refs/heads/<branch>` at `commit`; fails if the branch exists. Writes no
    /// HEAD, index or working-tree file.
    pub fn create_branch(&self, branch: &str, commit: &str) -> Result<(), GitError> {
        let reference = format!("refs/heads/{branch}");
        let output = self.git.run(
            Run::new(&["update-ref", "-m", "devflow: work branch"])
                .arg(reference)
                .arg(commit)
                .arg("")
                .in_dir(&self.top),
        )?;
        if output.success {
            Ok(())
        } else {
            Err(GitError::RefMoved {
                branch: branch.to_string(),
            })
        }
    }

    /// For a clone devflow owns: makes `branch` (created at HEAD) the checked-out branch.
    /// The files do not change.
    pub fn check_out_new_branch(&self, branch: &str) -> Result<(), GitError> {
        self.run(&["checkout", "--quiet", "-b", branch])?;
        Ok(())
    }

    /// One commit on `branch` holding `files` as given on top of the branch's tip, built in
    /// the private `index_file`. Returns the new commit, or `None` when the files already
    /// are what the tip holds (nothing to record). HEAD, the repository's index and its
    /// working tree are not touched.
    pub fn commit_files(
        &self,
        branch: &str,
        index_file: &Path,
        files: &[FileChange<'_>],
        message: &str,
    ) -> Result<Option<String>, GitError> {
        let tip = self.branch_tip(branch)?.ok_or_else(|| GitError::Local {
            action: "commit".into(),
            detail: format!(
                "the work branch {branch} no longer exists in {}",
                self.top.display()
            ),
        })?;
        if let Some(parent) = index_file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| GitError::Local {
                action: "commit".into(),
                detail: format!("cannot create {}: {e}", parent.display()),
            })?;
        }
        let in_index = |args: &[&str]| Run::new(args).in_dir(&self.top).index(index_file);
        self.git.run_ok(in_index(&["read-tree"]).arg(tip.clone()))?;
        let modes = self.modes_at(&tip, files)?;
        let mut index_info = Vec::new();
        let mut removed = Vec::new();
        for file in files {
            let path = format!("{}{}", self.prefix, file.path);
            match file.contents {
                Some(bytes) => {
                    // `--path` applies the repository's attributes (eol, filters) as `git add` would.
                    let object = self.git.run_ok(
                        Run::new(&["hash-object", "-w", "--stdin"])
                            .arg(format!("--path={path}"))
                            .in_dir(&self.top)
                            .stdin(bytes),
                    )?;
                    let mode = modes
                        .iter()
                        .find(|(p, _)| *p == path)
                        .map(|(_, m)| m.as_str())
                        .unwrap_or("100644");
                    index_info.extend_from_slice(
                        format!("{mode} {}\t{path}\0", object.trim()).as_bytes(),
                    );
                }
                None => removed.extend_from_slice(format!("{path}\0").as_bytes()),
            }
        }
        if !index_info.is_empty() {
            self.git
                .run_ok(in_index(&["update-index", "-z", "--index-info"]).stdin(&index_info))?;
        }
        if !removed.is_empty() {
            self.git.run_ok(
                in_index(&["update-index", "-z", "--force-remove", "--stdin"]).stdin(&removed),
            )?;
        }
        let tree = self.git.run_ok(in_index(&["write-tree"]))?;
        let tree = tree.trim().to_string();
        let tip_tree = self.run(&["rev-parse", &format!("{tip}^{{tree}}")])?;
        if tip_tree.trim() == tree {
            return Ok(None);
        }
        let commit = self.git.run_ok(
            Run::new(&["commit-tree", tree.as_str(), "-p", tip.as_str(), "-F", "-"])
                .in_dir(&self.top)
                .stdin(message.as_bytes()),
        )?;
        let commit = commit.trim().to_string();
        let subject = message.lines().next().unwrap_or("");
        let output = self.git.run(
            Run::new(&["update-ref", "-m"])
                .arg(format!("devflow: {subject}"))
                .arg(format!("refs/heads/{branch}"))
                .arg(commit.clone())
                .arg(tip)
                .in_dir(&self.top),
        )?;
        if !output.success {
            return Err(GitError::RefMoved {
                branch: branch.to_string(),
            });
        }
        Ok(Some(commit))
    }

    /// The modes of the files that exist at `commit` (an executable stays executable).
    fn modes_at(
        &self,
        commit: &str,
        files: &[FileChange<'_>],
    ) -> Result<Vec<(String, String)>, GitError> {
        let mut run = Run::new(&["ls-tree", "-z", commit, "--"]).in_dir(&self.top);
        for file in files {
            run = run.arg(format!("{}{}", self.prefix, file.path));
        }
        let listing = self.git.run_ok(run)?;
        Ok(listing
            .split('\0')
            .filter_map(|entry| {
                let (meta, path) = entry.split_once('\t')?;
                let mode = meta.split(' ').next()?;
                matches!(mode, "100644" | "100755").then(|| (path.to_string(), mode.to_string()))
            })
            .collect())
    }

    /// For a clone devflow owns, whose HEAD is the work branch: its index takes the branch's
    /// new tip, so `git status` in the workspace shows only hand edits.
    pub fn reset_index_to(&self, branch: &str) -> Result<(), GitError> {
        self.run(&["read-tree", &format!("refs/heads/{branch}")])?;
        Ok(())
    }

    /// How many commits `branch` has that `base` does not.
    pub fn commits_since(&self, base: &str, branch: &str) -> Result<u64, GitError> {
        let count = self.run(&[
            "rev-list",
            "--count",
            &format!("{base}..refs/heads/{branch}"),
        ])?;
        Ok(count.trim().parse().unwrap_or(0))
    }

    /// `git push <remote> refs/heads/B:refs/heads/B`, never forced.
    pub fn push_branch(
        &self,
        remote: &str,
        remote_url: &str,
        branch: &str,
    ) -> Result<(), GitError> {
        let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
        let output = self.git.run(
            Run::new(&["push", "--porcelain", "--", remote])
                .arg(refspec)
                .in_dir(&self.top)
                .remote(),
        )?;
        if output.success {
            return Ok(());
        }
        // `--porcelain` puts the ref's fate on stdout: `!\trefs…\t[rejected] (fetch first)`.
        let text = format!("{}\n{}", output.stdout, output.stderr);
        match classify_remote_failure("push", remote_url, Some(branch), &text) {
            GitError::BranchNotFound { .. } => Err(GitError::Remote {
                action: "push".into(),
                detail: last_lines(&text),
            }),
            other => Err(other),
        }
    }
}

//! devflow-git: a session's git side. [`RemoteUrl`] reads a repository URL (owner and name
//! for the pull request); [`Git`] runs the user's own `git` with a controlled environment to
//! clone shallowly, keep a work branch with one commit per applied change (plumbing in a
//! private index, so a folder's HEAD, index and working tree are never written) and push it;
//! [`GitHub`] opens or updates the pull request. Message, pull-request body and error
//! reading are pure and unit-tested; everything that runs git is in `cli.rs` and `repo.rs`.

mod cli;
pub mod github;
pub mod message;
pub mod pull_request;
mod remote;
mod repo;

pub use cli::{Author, Git, GitError};
pub use github::{GitHub, GitHubError, NewPullRequest, PullRequest};
pub use message::{CommitMessage, PatchCommit, RollbackCommit};
pub use remote::{check_branch_name, RemoteUrl, Scheme, UrlError};
pub use repo::{Cloned, FileChange, Repository};

//! The command pipeline in-process, with test doubles for the proposer and the preview (the
//! real patch engine and the real SQLite store): one re-inference, rollback on failure,
//! verification, pause/cancel, prompt changes, the TTL sweeper, and slow subscribers.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use devflow_daemon::config::Config;
use devflow_daemon::metrics::Metrics;
use devflow_daemon::parts::{
    NotConfigured, PreviewHandle, PreviewRuntime, ProposalRequest, Proposer, ProposerAnswer,
    ProposerError, Proposers,
};
use devflow_daemon::service::{Parts, Service};
use devflow_protocol::*;
use devflow_store::SqliteStore;

/// Answers with the queued proposals in order and remembers every request.
#[derive(Default)]
struct ScriptedProposer {
    answers: Mutex<VecDeque<Result<Proposal, String>>>,
    requests: Mutex<Vec<ProposalRequest>>,
}

#[async_trait]
impl Proposer for ScriptedProposer {
    async fn propose(&self, request: ProposalRequest) -> Result<ProposerAnswer, ProposerError> {
        self.requests.lock().unwrap().push(request);
        match self.answers.lock().unwrap().pop_front() {
            Some(Ok(proposal)) => Ok(ProposerAnswer {
                proposal,
                usage: Some(TokenUsage {
                    input_tokens: 100,
                    output_tokens: 20,
                }),
            }),
            Some(Err(message)) => Err(ProposerError::Failed(message)),
            None => Err(ProposerError::Failed("script exhausted".into())),
        }
    }
}

/// A preview whose verification fails while `broken` is set.
#[derive(Default)]
struct FakePreview {
    broken: Mutex<bool>,
}

#[async_trait]
impl PreviewRuntime for FakePreview {
    async fn start(&self, session_id: &str, _: &Path) -> Result<PreviewHandle, String> {
        Ok(PreviewHandle {
            url: format!("http://127.0.0.1:1/{session_id}"),
        })
    }
    async fn stop(&self, _: &str) {}
    async fn verify(&self, _: &str) -> Result<(), String> {
        if *self.broken.lock().unwrap() {
            Err("the page answers HTTP 500".into())
        } else {
            Ok(())
        }
    }
    async fn files_changed(&self, _: &str, _: &[String]) {}
}

struct World {
    service: Service,
    proposer: Arc<ScriptedProposer>,
    preview: Arc<FakePreview>,
    site: PathBuf,
    _temp: tempfile::TempDir,
}

const CSS: &str = "body {\n  color: #333;\n}\n\nh1 {\n  font-size: 2rem;\n}\n";

fn proposal(diff: &str) -> Proposal {
    Proposal {
        files_to_edit: vec!["style.css".into()],
        unified_diff: diff.into(),
        reason: "test".into(),
        confidence: 0.9,
    }
}

fn good() -> Proposal {
    proposal("--- a/style.css\n+++ b/style.css\n@@ -5,3 +5,3 @@\n h1 {\n-  font-size: 2rem;\n+  font-size: 3rem;\n }\n")
}

fn bad() -> Proposal {
    proposal("--- a/style.css\n+++ b/style.css\n@@ -5,3 +5,3 @@\n h2 {\n-  font-size: 9rem;\n+  font-size: 3rem;\n }\n")
}

async fn world() -> World {
    let temp = tempfile::tempdir().unwrap();
    let site = temp.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("style.css"), CSS).unwrap();
    std::fs::write(site.join("index.html"), "<h1>hi</h1>\n").unwrap();
    let proposer = Arc::new(ScriptedProposer::default());
    let preview = Arc::new(FakePreview::default());
    let parts = Parts {
        proposers: Proposers {
            builtin: Some(proposer.clone()),
            default: Some(ProposerKind::Builtin),
            ..Proposers::default()
        },
        patch_engine: Arc::new(devflow_daemon::engine::WorkspacePatchEngine),
        ingest: Arc::new(NotConfigured("no zips in these tests")),
        preview: preview.clone(),
        browser: Arc::new(devflow_daemon::preview::browser::BrowserChecks::off(
            "no browser in these tests",
        )),
    };
    let store = SqliteStore::open(&temp.path().join("state/devflow.db")).unwrap();
    let service = Service::open(
        Config::new(temp.path().join("state")),
        Arc::new(store),
        parts,
        Arc::new(Metrics::default()),
    )
    .await
    .unwrap();
    World {
        service,
        proposer,
        preview,
        site,
        _temp: temp,
    }
}

impl World {
    async fn session(&self) -> String {
        let created = self
            .service
            .create_session(CreateSessionParams {
                source: Some(SessionSource::Dir {
                    path: self.site.to_string_lossy().into(),
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        created.session.session_id
    }

    async fn submit(&self, session_id: &str, instruction: &str) -> String {
        self.service
            .submit_command(SubmitCommandParams {
                session_id: session_id.into(),
                instruction: instruction.into(),
                idempotency_key: None,
                target: None,
            })
            .await
            .unwrap()
            .command_id
    }

    /// Event type names (with status) of one command, once it is final.
    async fn run_of(&self, session_id: &str, command_id: &str) -> Vec<Event> {
        let (_, mut subscription) = self
            .service
            .subscribe(SubscribeParams {
                session_id: session_id.into(),
                after_seq: Some(0),
            })
            .await
            .unwrap();
        let mut events = Vec::new();
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), subscription.next())
                .await
                .expect("event")
                .expect("open");
            if event.command_id.as_deref() != Some(command_id) {
                continue;
            }
            let done =
                matches!(&event.body, EventBody::CommandStatus { status, .. } if status.is_final());
            events.push(event);
            if done {
                return events;
            }
        }
    }

    fn css(&self) -> String {
        std::fs::read_to_string(self.site.join("style.css")).unwrap()
    }
}

fn names(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.body {
            EventBody::CommandStatus { status, .. } => status.as_str().to_string(),
            EventBody::PatchFailed { will_retry, .. } => format!("PATCH_FAILED retry={will_retry}"),
            other => other.type_name().to_string(),
        })
        .collect()
}

#[tokio::test]
async fn a_failed_first_proposal_gets_one_re_inference_with_the_failure_in_its_context() {
    let w = world().await;
    w.proposer
        .answers
        .lock()
        .unwrap()
        .extend([Ok(bad()), Ok(good())]);
    let sid = w.session().await;
    let cid = w.submit(&sid, "bigger headings").await;
    let run = w.run_of(&sid, &cid).await;
    assert_eq!(
        names(&run),
        [
            "QUEUED",
            "ANALYZING",
            "INFERENCE_STARTED",
            "INFERENCE_COMPLETED",
            "PATCHING",
            "PATCH_APPLY_STARTED",
            "PATCH_FAILED retry=true",
            "ANALYZING",
            "INFERENCE_STARTED",
            "INFERENCE_COMPLETED",
            "PATCHING",
            "PATCH_APPLY_STARTED",
            "PATCH_APPLY_COMPLETED",
            "PREVIEW_UPDATED",
            "READY"
        ]
    );
    let requests = w.proposer.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].previous_failure.is_none());
    let failure = requests[1]
        .previous_failure
        .as_deref()
        .expect("the retry knows why");
    assert!(failure.contains("style.css"), "{failure}");
    assert!(w.css().contains("font-size: 3rem;"));
    let command = w
        .service
        .get_command(CommandParams {
            session_id: sid.clone(),
            command_id: cid,
        })
        .await
        .unwrap();
    assert_eq!(command.attempts, 2);
    assert_eq!(command.proposals.len(), 2);
    assert_eq!(
        command.usage,
        Some(TokenUsage {
            input_tokens: 200,
            output_tokens: 40
        })
    );
}

#[tokio::test]
async fn two_failed_proposals_fail_the_command_and_leave_files_byte_identical() {
    let w = world().await;
    w.proposer
        .answers
        .lock()
        .unwrap()
        .extend([Ok(bad()), Ok(bad())]);
    let sid = w.session().await;
    let cid = w.submit(&sid, "bigger headings").await;
    let run = w.run_of(&sid, &cid).await;
    assert_eq!(names(&run).last().unwrap(), "FAILED");
    assert_eq!(
        names(&run)
            .iter()
            .filter(|n| n.starts_with("PATCH_FAILED"))
            .count(),
        2
    );
    let EventBody::PatchFailed {
        rolled_back,
        will_retry,
        logs_url,
        summary,
    } = &run[run.len() - 2].body
    else {
        panic!("PATCH_FAILED comes before FAILED: {:?}", names(&run));
    };
    assert!(rolled_back & !will_retry);
    assert!(logs_url.ends_with(&format!("/sessions/{sid}/logs")));
    assert!(!summary.is_empty());
    assert_eq!(w.css(), CSS);
    let session = w
        .service
        .get_session(SessionParams { session_id: sid })
        .await
        .unwrap();
    assert_eq!(
        session.last_error_summary.as_deref(),
        Some(summary.as_str())
    );
    assert_eq!(session.last_applied_patch_id, None);
}

#[tokio::test]
async fn a_patch_that_breaks_the_page_is_rolled_back() {
    let w = world().await;
    w.proposer
        .answers
        .lock()
        .unwrap()
        .extend([Ok(good()), Ok(good())]);
    let sid = w.session().await;
    w.service
        .start_session(SessionParams {
            session_id: sid.clone(),
        })
        .await
        .unwrap();
    for _ in 0..100 {
        let session = w
            .service
            .get_session(SessionParams {
                session_id: sid.clone(),
            })
            .await
            .unwrap();
        if session.status == SessionStatus::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    *w.preview.broken.lock().unwrap() = true;
    let cid = w.submit(&sid, "bigger headings").await;
    let run = w.run_of(&sid, &cid).await;
    assert_eq!(names(&run).last().unwrap(), "FAILED");
    let EventBody::PatchFailed { summary, .. } = &run[run.len() - 2].body else {
        panic!("{:?}", names(&run))
    };
    assert!(summary.contains("HTTP 500"), "{summary}");
    assert_eq!(w.css(), CSS, "the breaking change was undone");
}

#[tokio::test]
async fn a_proposer_error_fails_the_command_without_a_retry() {
    let w = world().await;
    w.proposer
        .answers
        .lock()
        .unwrap()
        .push_back(Err("model access denied".into()));
    let sid = w.session().await;
    let cid = w.submit(&sid, "bigger headings").await;
    let run = w.run_of(&sid, &cid).await;
    assert_eq!(
        names(&run),
        ["QUEUED", "ANALYZING", "INFERENCE_STARTED", "FAILED"]
    );
    let EventBody::CommandStatus { error_summary, .. } = &run[3].body else {
        unreachable!()
    };
    assert!(error_summary
        .as_deref()
        .unwrap()
        .contains("model access denied"));
    assert_eq!(w.proposer.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn commands_wait_while_paused_and_a_queued_one_can_be_cancelled() {
    let w = world().await;
    w.proposer.answers.lock().unwrap().push_back(Ok(good()));
    let sid = w.session().await;
    w.service
        .pause(SessionParams {
            session_id: sid.clone(),
        })
        .await
        .unwrap();
    let first = w.submit(&sid, "first").await;
    let second = w.submit(&sid, "second").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        w.proposer.requests.lock().unwrap().is_empty(),
        "nothing runs while paused"
    );
    let cancelled = w
        .service
        .cancel_command(CommandParams {
            session_id: sid.clone(),
            command_id: first.clone(),
        })
        .await
        .unwrap();
    assert!(cancelled.cancelled);
    assert_eq!(cancelled.status, CommandStatus::Failed);
    w.service
        .resume(SessionParams {
            session_id: sid.clone(),
        })
        .await
        .unwrap();
    let run = w.run_of(&sid, &second).await;
    assert_eq!(names(&run).last().unwrap(), "READY");
    let requests = w.proposer.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].instruction, "second");
    let again = w
        .service
        .cancel_command(CommandParams {
            session_id: sid,
            command_id: second,
        })
        .await
        .unwrap_err();
    assert_eq!(
        again.code,
        ErrorCode::Conflict,
        "a finished command cannot be cancelled"
    );
}

#[tokio::test]
async fn a_prompt_change_reaches_the_next_proposal() {
    let w = world().await;
    w.proposer.answers.lock().unwrap().push_back(Ok(good()));
    let sid = w.session().await;
    let settings = w
        .service
        .update_settings(UpdateSettingsParams {
            session_id: sid.clone(),
            patch: SettingsPatch {
                prompt: Some("Prefer the brand tokens.".into()),
                ..Default::default()
            },
        })
        .await
        .unwrap();
    assert_eq!(settings.prompt, "Prefer the brand tokens.");
    let cid = w.submit(&sid, "bigger headings").await;
    w.run_of(&sid, &cid).await;
    assert_eq!(
        w.proposer.requests.lock().unwrap()[0].prompt,
        "Prefer the brand tokens."
    );
}

#[tokio::test]
async fn the_sweeper_stops_idle_sessions_and_never_deletes_the_users_folder() {
    let w = world().await;
    let dir_session = w.session().await;
    let upload = w
        .service
        .create_session(CreateSessionParams {
            ttl_minutes: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    let upload_workspace = w
        .service
        .config()
        .workspaces_dir()
        .join(&upload.session.session_id);
    assert!(upload_workspace.is_dir());
    let now = devflow_daemon::now_millis() / 1000;
    assert_eq!(
        devflow_daemon::sweeper::sweep_once(&w.service, now).await,
        0,
        "nothing is idle yet"
    );
    let stopped = devflow_daemon::sweeper::sweep_once(&w.service, now + 24 * 3600).await;
    assert_eq!(stopped, 2);
    for sid in [&dir_session, &upload.session.session_id] {
        let session = w
            .service
            .get_session(SessionParams {
                session_id: sid.clone(),
            })
            .await
            .unwrap();
        assert_eq!(session.status, SessionStatus::Stopped);
        let (_, mut events) = w
            .service
            .subscribe(SubscribeParams {
                session_id: sid.clone(),
                after_seq: Some(0),
            })
            .await
            .unwrap();
        let mut expired = false;
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(200), events.next()).await
        {
            if let EventBody::SessionStatus {
                status: SessionStatus::Stopped,
                reason,
            } = &event.body
            {
                expired = reason.as_deref() == Some("expired");
            }
        }
        assert!(expired, "an event says the session expired");
    }
    assert!(
        !upload_workspace.exists(),
        "devflow's own workspace is removed"
    );
    assert_eq!(
        std::fs::read_to_string(w.site.join("style.css")).unwrap(),
        CSS,
        "the user's folder is kept"
    );
    let refused = w
        .service
        .submit_command(SubmitCommandParams {
            session_id: dir_session,
            instruction: "x".into(),
            idempotency_key: None,
            target: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::Conflict);
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_catches_up_without_gaps() {
    let w = world().await;
    let sid = w.session().await;
    let (_, mut slow) = w
        .service
        .subscribe(SubscribeParams {
            session_id: sid.clone(),
            after_seq: Some(0),
        })
        .await
        .unwrap();
    // Far more than the live buffer holds, while the subscriber reads nothing.
    for i in 0..1500 {
        w.service
            .events()
            .publish(
                &sid,
                None,
                EventBody::Log {
                    level: "info".into(),
                    message: format!("line {i}"),
                },
            )
            .await
            .unwrap();
    }
    let mut seqs = Vec::new();
    while seqs.len() < 1501 {
        let event = tokio::time::timeout(Duration::from_secs(10), slow.next())
            .await
            .unwrap()
            .unwrap();
        seqs.push(event.seq);
    }
    assert_eq!(seqs, (1..=1501).collect::<Vec<u64>>());
    let metrics = w.service.metrics().render(&[]);
    assert!(
        !metrics.contains("devflow_subscriber_lags_total 0\n"),
        "the lag was counted:\n{metrics}"
    );
}

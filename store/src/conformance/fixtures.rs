//! Builders for the wire values the conformance cases (and each backend's own tests) write:
//! complete, deterministic, and distinct per id so a mix-up between rows shows as a failed
//! equality.

use crate::{JournalFile, JournalState, NewEvent, PatchRecord};
use devflow_protocol::{
    Command, CommandKind, CommandStatus, CommandTimings, EventBody, HunkReport, HunkResult, Layout,
    Patch, PatchFile, PatchState, Session, SessionSource, SessionStatus, Settings,
};

/// A session created at `created_at` (Unix milliseconds) with every field filled.
pub fn session(session_id: &str, created_at: i64) -> Session {
    Session {
        session_id: session_id.into(),
        name: format!("site {session_id}"),
        user_id: "local".into(),
        source: SessionSource::Git {
            url: "https://example.invalid/site.git".into(),
            branch: Some("main".into()),
        },
        status: SessionStatus::Created,
        preview_url: None,
        editor_url: None,
        reference_id: None,
        history: Vec::new(),
        initial_prompt: Some("見出しをもっと大きく".into()),
        repository_url: None,
        repository_owner: None,
        repository_name: None,
        branch_name: None,
        pr_number: None,
        pr_url: None,
        last_error_summary: None,
        logs_url: format!("/sessions/{session_id}/logs"),
        last_applied_patch_id: None,
        paused: false,
        settings: Settings::default(),
        layout: Layout::default(),
        ttl_minutes: 30,
        created_at,
        updated_at: created_at,
        expires_at: created_at + 1800,
        owner: None,
    }
}

/// A queued instruction, with idempotency key `key` when given.
pub fn command(session_id: &str, command_id: &str, key: Option<&str>) -> Command {
    Command {
        command_id: command_id.into(),
        session_id: session_id.into(),
        instruction: format!("instruction of {command_id}"),
        kind: CommandKind::Instruction,
        idempotency_key: key.map(Into::into),
        target: None,
        status: CommandStatus::Queued,
        proposals: Vec::new(),
        patch_id: None,
        attempts: 0,
        error_summary: None,
        cancelled: false,
        usage: None,
        drift_before: None,
        drift_after: None,
        fidelity_lowered: false,
        verification: None,
        screenshots: Vec::new(),
        fidelity: None,
        timings: CommandTimings {
            queued_at: 1_700_000_000_000,
            started_at: None,
            finished_at: None,
        },
    }
}

/// An `info` log line to append.
pub fn log_event(session_id: &str, message: &str) -> NewEvent {
    NewEvent {
        session_id: session_id.into(),
        command_id: None,
        at: 1_700_000_000_000,
        body: EventBody::Log {
            level: "info".into(),
            message: message.into(),
        },
    }
}

/// A patch whose journal holds the awkward contents: not UTF-8, NUL bytes, an empty file,
/// a created file (no before) and a deleted file (no after).
pub fn patch_record(session_id: &str, patch_id: &str, state: JournalState) -> PatchRecord {
    PatchRecord {
        patch: Patch {
            patch_id: patch_id.into(),
            session_id: session_id.into(),
            command_id: "c1".into(),
            parent_patch_id: None,
            files: vec![PatchFile {
                path: "styles.css".into(),
                pre_image_hash: Some("aa".into()),
                post_image_hash: Some("bb".into()),
            }],
            hunks: vec![HunkReport {
                file: "styles.css".into(),
                hunk: 1,
                line: 3,
                result: HunkResult::Offset { lines: -2 },
            }],
            unified_diff: "--- a/styles.css\n+++ b/styles.css\n".into(),
            state: PatchState::Applied,
            applied_at: 1_700_000_000_000,
            rolled_back_at: None,
        },
        journal_state: state,
        files: vec![
            JournalFile {
                path: "styles.css".into(),
                before: Some(b"body { color: red }\r\n".to_vec()),
                after: Some(b"body { color: blue }\r\n".to_vec()),
            },
            JournalFile {
                path: "logo.bin".into(),
                before: Some(vec![0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x00]),
                after: Some(Vec::new()),
            },
            JournalFile {
                path: "new.css".into(),
                before: None,
                after: Some(Vec::new()),
            },
            JournalFile {
                path: "gone.html".into(),
                before: Some(Vec::new()),
                after: None,
            },
        ],
    }
}

//! Counters and gauges for `GET /metrics`, rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use devflow_protocol::CommandStatus;

#[derive(Default)]
pub struct Metrics {
    events_published: AtomicU64,
    subscribers: AtomicI64,
    subscriber_lags: AtomicU64,
    commands_submitted: AtomicU64,
    commands_ready: AtomicU64,
    commands_failed: AtomicU64,
    patches_applied: AtomicU64,
    rollbacks: AtomicU64,
    requests: AtomicU64,
    request_errors: AtomicU64,
    sessions_expired: AtomicU64,
    editor_starts: AtomicU64,
    editor_start_millis: AtomicU64,
    editor_crashes: AtomicU64,
    page_looks: AtomicU64,
}

impl Metrics {
    pub fn event_published(&self) {
        self.events_published.fetch_add(1, Ordering::Relaxed);
    }
    pub fn subscriber_added(&self) {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
    }
    pub fn subscriber_removed(&self) {
        self.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn subscriber_lagged(&self) {
        self.subscriber_lags.fetch_add(1, Ordering::Relaxed);
    }
    pub fn command_submitted(&self) {
        self.commands_submitted.fetch_add(1, Ordering::Relaxed);
    }
    pub fn command_finished(&self, status: CommandStatus) {
        match status {
            CommandStatus::Ready => self.commands_ready.fetch_add(1, Ordering::Relaxed),
            _ => self.commands_failed.fetch_add(1, Ordering::Relaxed),
        };
    }
    pub fn patch_applied(&self) {
        self.patches_applied.fetch_add(1, Ordering::Relaxed);
    }
    pub fn rolled_back(&self) {
        self.rollbacks.fetch_add(1, Ordering::Relaxed);
    }
    pub fn request(&self, failed: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.request_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    /// The browser loaded a session's page (a baseline, or the look after a patch).
    pub fn page_looked(&self) {
        self.page_looks.fetch_add(1, Ordering::Relaxed);
    }
    pub fn session_expired(&self) {
        self.sessions_expired.fetch_add(1, Ordering::Relaxed);
    }
    /// A code-server answered `took` after its start.
    pub fn editor_started(&self, took: std::time::Duration) {
        self.editor_starts.fetch_add(1, Ordering::Relaxed);
        self.editor_start_millis
            .fetch_add(took.as_millis() as u64, Ordering::Relaxed);
    }
    pub fn editor_crashed(&self) {
        self.editor_crashes.fetch_add(1, Ordering::Relaxed);
    }

    /// The editors' part of the exposition: starts (a summary of their durations), crashes,
    /// and per running editor its memory, last start time and connected browsers.
    pub fn render_editors(&self, running: &[crate::editor::EditorUsage]) -> String {
        let mut out = String::new();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP devflow_editor_start_seconds Time from starting a code-server to its first answer.\n\
             # TYPE devflow_editor_start_seconds summary\n\
             devflow_editor_start_seconds_sum {:.3}\ndevflow_editor_start_seconds_count {}",
            load(&self.editor_start_millis) as f64 / 1000.0,
            load(&self.editor_starts)
        );
        let _ = writeln!(
            out,
            "# HELP devflow_editor_crashes_total code-servers that exited on their own and were restarted.\n\
             # TYPE devflow_editor_crashes_total counter\ndevflow_editor_crashes_total {}",
            load(&self.editor_crashes)
        );
        let _ = writeln!(
            out,
            "# HELP devflow_editors_running code-servers running now.\n# TYPE devflow_editors_running gauge\ndevflow_editors_running {}",
            running.len()
        );
        let mut gauge =
            |name: &str, help: &str, value: &dyn Fn(&crate::editor::EditorUsage) -> String| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
                for editor in running {
                    let _ = writeln!(
                        out,
                        "{name}{{session_id=\"{}\"}} {}",
                        editor.session_id,
                        value(editor)
                    );
                }
            };
        gauge(
            "devflow_editor_rss_bytes",
            "Resident memory of a session's code-server, all its processes.",
            &|e| e.rss_bytes.to_string(),
        );
        gauge(
            "devflow_editor_last_start_seconds",
            "How long a session's code-server took to answer at its last start.",
            &|e| format!("{:.3}", e.start_seconds),
        );
        gauge(
            "devflow_editor_browsers",
            "Browser connections open to a session's code-server.",
            &|e| e.browsers.to_string(),
        );
        out
    }

    /// Prometheus text exposition; `sessions` is the number of sessions by status.
    pub fn render(&self, sessions: &[(&str, usize)]) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            "devflow_events_published_total",
            "Events appended and broadcast.",
            load(&self.events_published),
        );
        counter(
            "devflow_subscriber_lags_total",
            "Times a subscriber fell behind and replayed from the store.",
            load(&self.subscriber_lags),
        );
        counter(
            "devflow_commands_submitted_total",
            "Commands accepted.",
            load(&self.commands_submitted),
        );
        counter(
            "devflow_commands_ready_total",
            "Commands that ended READY.",
            load(&self.commands_ready),
        );
        counter(
            "devflow_commands_failed_total",
            "Commands that ended FAILED.",
            load(&self.commands_failed),
        );
        counter(
            "devflow_patches_applied_total",
            "Patches written to a workspace.",
            load(&self.patches_applied),
        );
        counter(
            "devflow_rollbacks_total",
            "Patches rolled back.",
            load(&self.rollbacks),
        );
        counter(
            "devflow_requests_total",
            "API requests handled, all transports.",
            load(&self.requests),
        );
        counter(
            "devflow_request_errors_total",
            "API requests answered with an error.",
            load(&self.request_errors),
        );
        counter(
            "devflow_sessions_expired_total",
            "Sessions stopped by the TTL sweeper.",
            load(&self.sessions_expired),
        );
        counter(
            "devflow_page_looks_total",
            "Times the browser loaded a session's page to verify a patch or take its baseline.",
            load(&self.page_looks),
        );
        let _ = writeln!(
            out,
            "# HELP devflow_subscribers Live event subscriptions.\n# TYPE devflow_subscribers gauge\ndevflow_subscribers {}",
            self.subscribers.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP devflow_sessions Sessions by status.\n# TYPE devflow_sessions gauge"
        );
        for (status, count) in sessions {
            let _ = writeln!(out, "devflow_sessions{{status=\"{status}\"}} {count}");
        }
        out
    }
}

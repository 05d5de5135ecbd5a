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
    pub fn session_expired(&self) {
        self.sessions_expired.fetch_add(1, Ordering::Relaxed);
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

//! The SQS requests (and dollars) a fleet's event fan-out costs, for the docs and the
//! benchmarks. Pure arithmetic over a [`FleetLoad`].
//!
//! The model: every event a session appends goes to each *other* daemon that holds a
//! subscriber of that session, so a fleet moves `sessions × events_per_second × k` messages a
//! second (`k` = those daemons per session, at most `daemons − 1`; the appending daemon's own
//! subscribers are fed locally). Messages travel in batches of `b` (1–10, and no more than fit
//! in SQS's 256 KiB per call): each batch is one `SendMessageBatch`, and on the receiving side
//! one `ReceiveMessage` (a long poll answers as soon as anything is there, so it picks up about
//! what one send put) and one `DeleteMessageBatch` (the ack). On top, every daemon's long poll
//! comes back empty at most three times a minute (20 s polls) when it is idle — counted in
//! full, so the figure is an upper bound for busy daemons. SQS bills each 64 KiB chunk of a
//! call's payload as one request, so sends and receives of large batches count more than once;
//! deletes carry only receipt handles. The per-session cost is the message-driven part divided
//! by the sessions plus the idle polls spread over them: it falls as sessions grow and tends to
//! `events_per_second × k × 3 / b` requests a second per session.

use crate::MAX_INLINE_BODY_BYTES;

/// USD per million requests on SQS standard queues, beyond the first million a month (which
/// are free) and below 100 billion a month: AWS's price list for us-east-1 as of 2026.
pub const SQS_STANDARD_USD_PER_MILLION_REQUESTS: f64 = 0.40;

/// When [`SQS_STANDARD_USD_PER_MILLION_REQUESTS`] was read off AWS's price list.
pub const SQS_PRICE_AS_OF: &str = "2026 (us-east-1, standard queues)";

/// Each started chunk of this many payload bytes is billed as one request.
pub const BILLED_CHUNK_BYTES: u64 = 64 * 1024;

/// SQS's largest batch payload (and, for these queues, message).
pub const BATCH_PAYLOAD_BYTES: u64 = 256 * 1024;

/// Empty long polls a minute of an idle daemon (one per 20 s poll).
pub const IDLE_POLLS_PER_MINUTE: f64 = 3.0;

/// Seconds in the 30-day month of [`SqsRequestRate::usd_per_month`].
const SECONDS_PER_MONTH: f64 = 30.0 * 24.0 * 3600.0;

/// The size of a pointer message (`{"kind":"pointer","sessionId":…}`), rounded up.
const POINTER_BYTES: u64 = 128;

/// What a fleet does.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetLoad {
    pub daemons: u32,
    /// Sessions open at once.
    pub sessions: u32,
    /// Events each session appends a second (on average over its life).
    pub events_per_second: f64,
    /// Daemons other than the appending one that hold a subscriber of a session (clamped to
    /// 0..=daemons − 1).
    pub subscriber_daemons_per_session: f64,
    /// An event's envelope in bytes; above [`MAX_INLINE_BODY_BYTES`] it travels as a pointer.
    pub message_bytes: u64,
    /// Envelopes per send (1 = every event on its own, 10 = SQS's most).
    pub messages_per_batch: f64,
}

/// SQS requests a second.
#[derive(Debug, Clone, PartialEq)]
pub struct SqsRequestRate {
    /// `SendMessageBatch` calls.
    pub sends: f64,
    /// `ReceiveMessage` calls that return messages.
    pub receives: f64,
    /// `DeleteMessageBatch` calls (acks).
    pub deletes: f64,
    /// Empty `ReceiveMessage` calls of idle long polls (an upper bound).
    pub idle_polls: f64,
    /// All calls.
    pub requests: f64,
    /// What SQS bills: calls, with every 64 KiB chunk of a payload counted as one.
    pub billed: f64,
}

impl SqsRequestRate {
    /// USD for a 30-day month at this rate, at [`SQS_STANDARD_USD_PER_MILLION_REQUESTS`]
    /// (the free million a month not deducted).
    pub fn usd_per_month(&self) -> f64 {
        self.billed * SECONDS_PER_MONTH * SQS_STANDARD_USD_PER_MILLION_REQUESTS / 1e6
    }
}

/// The SQS requests a second that `load` makes (see the module's documentation).
pub fn sqs_requests(load: &FleetLoad) -> SqsRequestRate {
    let other_daemons = f64::from(load.daemons.saturating_sub(1));
    let k = load
        .subscriber_daemons_per_session
        .clamp(0.0, other_daemons);
    let messages = f64::from(load.sessions) * load.events_per_second.max(0.0) * k;
    let message_bytes = if load.message_bytes > MAX_INLINE_BODY_BYTES as u64 {
        POINTER_BYTES
    } else {
        load.message_bytes.max(1)
    };
    let fit = (BATCH_PAYLOAD_BYTES / message_bytes).max(1) as f64;
    let batch = load.messages_per_batch.clamp(1.0, 10.0).min(fit);
    let chunks_per_batch = ((batch * message_bytes as f64) / BILLED_CHUNK_BYTES as f64)
        .ceil()
        .max(1.0);
    let batches = messages / batch;
    let idle_polls = f64::from(load.daemons) * IDLE_POLLS_PER_MINUTE / 60.0;
    SqsRequestRate {
        sends: batches,
        receives: batches,
        deletes: batches,
        idle_polls,
        requests: 3.0 * batches + idle_polls,
        billed: 2.0 * batches * chunks_per_batch + batches + idle_polls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load() -> FleetLoad {
        FleetLoad {
            daemons: 2,
            sessions: 10,
            events_per_second: 1.0,
            subscriber_daemons_per_session: 1.0,
            message_bytes: 1000,
            messages_per_batch: 1.0,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn small_events_one_by_one_cost_three_calls_each_plus_idle_polls() {
        let rate = sqs_requests(&load());
        assert_eq!(
            (rate.sends, rate.receives, rate.deletes),
            (10.0, 10.0, 10.0)
        );
        assert!(close(rate.idle_polls, 0.1), "{rate:?}");
        assert!(close(rate.requests, 30.1), "{rate:?}");
        assert!(close(rate.billed, 30.1), "{rate:?}");
        // 30.1 a second for 30 days at $0.40 a million.
        assert!(close(rate.usd_per_month(), 31.207_68), "{rate:?}");
    }

    #[test]
    fn batching_divides_the_message_driven_calls() {
        let rate = sqs_requests(&FleetLoad {
            messages_per_batch: 10.0,
            ..load()
        });
        assert_eq!((rate.sends, rate.receives, rate.deletes), (1.0, 1.0, 1.0));
        assert!(close(rate.requests, 3.1), "{rate:?}");
    }

    #[test]
    fn large_messages_bill_per_64_kib_chunk_and_cap_the_batch() {
        let rate = sqs_requests(&FleetLoad {
            message_bytes: 100 * 1024,
            messages_per_batch: 10.0,
            ..load()
        });
        // Two 100 KiB messages fit in 256 KiB: 5 batches a second of 4 chunks each.
        assert_eq!(rate.sends, 5.0);
        assert!(close(rate.billed, 2.0 * 5.0 * 4.0 + 5.0 + 0.1), "{rate:?}");
    }

    #[test]
    fn events_over_the_inline_limit_cost_as_pointers() {
        let pointer = sqs_requests(&FleetLoad {
            message_bytes: 10 * 1024 * 1024,
            ..load()
        });
        let small = sqs_requests(&FleetLoad {
            message_bytes: 100,
            ..load()
        });
        assert_eq!(pointer, small);
    }

    #[test]
    fn a_lone_daemon_only_polls() {
        let rate = sqs_requests(&FleetLoad {
            daemons: 1,
            subscriber_daemons_per_session: 3.0,
            ..load()
        });
        assert_eq!(rate.sends, 0.0);
        assert!(close(rate.requests, 0.05), "{rate:?}");
    }

    #[test]
    fn subscriber_daemons_are_capped_at_the_other_daemons() {
        let capped = sqs_requests(&FleetLoad {
            daemons: 3,
            subscriber_daemons_per_session: 9.0,
            ..load()
        });
        assert_eq!(capped.sends, 20.0);
    }

    #[test]
    fn the_per_session_cost_falls_towards_the_message_driven_part() {
        let per_session = |sessions: u32| {
            sqs_requests(&FleetLoad {
                sessions,
                events_per_second: 0.1,
                ..load()
            })
            .billed
                / f64::from(sessions)
        };
        let (one, ten, hundred) = (per_session(1), per_session(10), per_session(100));
        assert!(one > ten && ten > hundred, "{one} {ten} {hundred}");
        // 0.1 events/s × 1 daemon × 3 calls, plus 0.1 idle polls/s shared.
        assert!(close(one, 0.3 + 0.1), "{one}");
        assert!(close(hundred, 0.3 + 0.001), "{hundred}");
    }
}

//! How long a model call may take and how often it is retried: one [`CallPolicy`] for both
//! clients. Bedrock hands it to the SDK's standard retry strategy and timeouts (which
//! classify ThrottlingException and 5xx as retryable); the OpenAI-compatible client runs it
//! itself with [`CallPolicy::next_delay`], a pure function of the attempt and the clock.

use std::time::Duration;

/// Timeouts and retries of one model call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPolicy {
    /// Everything, retries and back-off included, ends by then.
    pub deadline: Duration,
    /// One attempt ends by then (a slow model answer is a timeout, then maybe a retry).
    pub attempt_timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first back-off; doubled for each further retry, up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for CallPolicy {
    /// Generous for a model that writes a diff: an answer may take a minute.
    fn default() -> Self {
        CallPolicy {
            deadline: Duration::from_secs(180),
            attempt_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            max_attempts: 4,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
        }
    }
}

impl CallPolicy {
    /// The back-off before retry number `retry` (1 = the first retry).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// After `attempts` failed attempts with a retryable error, `elapsed` since the call
    /// began: how long to wait before the next attempt, or `None` when no attempt is left
    /// or the next one could not start before the deadline. A server's `Retry-After` is
    /// honoured when it is longer than our own back-off.
    pub fn next_delay(
        &self,
        attempts: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let delay = self
            .backoff(attempts)
            .max(retry_after.unwrap_or_default())
            .min(self.max_backoff.max(self.initial_backoff));
        (elapsed + delay < self.deadline).then_some(delay)
    }

    /// The timeout of an attempt that starts after `elapsed`: never past the deadline.
    pub fn attempt_budget(&self, elapsed: Duration) -> Duration {
        self.attempt_timeout
            .min(self.deadline.saturating_sub(elapsed))
    }
}

/// `12 s`, `1.5 s`, `250 ms`: durations in messages for people.
pub fn human(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis} ms")
    } else if duration.subsec_millis() == 0 {
        format!("{} s", millis / 1000)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CallPolicy {
        CallPolicy {
            deadline: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(4),
            connect_timeout: Duration::from_secs(1),
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(3),
        }
    }

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let p = policy();
        let delays: Vec<u128> = (1..=5).map(|r| p.backoff(r).as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 3000, 3000]);
    }

    #[test]
    fn stops_after_the_last_attempt_or_at_the_deadline() {
        let p = policy();
        assert_eq!(
            p.next_delay(1, Duration::ZERO, None),
            Some(Duration::from_millis(500))
        );
        assert_eq!(p.next_delay(4, Duration::ZERO, None), None);
        assert_eq!(p.next_delay(2, Duration::from_millis(9500), None), None);
    }

    #[test]
    fn honours_a_longer_retry_after_within_the_cap() {
        let p = policy();
        assert_eq!(
            p.next_delay(1, Duration::ZERO, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            p.next_delay(1, Duration::ZERO, Some(Duration::from_secs(60))),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn an_attempt_never_outlives_the_deadline() {
        let p = policy();
        assert_eq!(p.attempt_budget(Duration::ZERO), Duration::from_secs(4));
        assert_eq!(
            p.attempt_budget(Duration::from_secs(8)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
        assert_eq!(human(Duration::from_secs(12)), "12 s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
    }
}

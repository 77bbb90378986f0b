//! Being a polite API client: a minimum interval between requests, and how
//! long to wait before retrying a refused or failed one.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces request starts at least `interval` apart, across all tasks
/// sharing the client.
#[derive(Debug)]
pub struct MinInterval {
    interval: Duration,
    next_free: Mutex<Option<Instant>>,
}

impl MinInterval {
    /// A limiter allowing one request per `interval` (zero: no limit).
    pub fn new(interval: Duration) -> MinInterval {
        MinInterval {
            interval,
            next_free: Mutex::new(None),
        }
    }

    /// Waits until this caller may start a request, and reserves the slot.
    pub async fn wait_turn(&self) {
        if self.interval.is_zero() {
            return;
        }
        let start = {
            let mut next_free = self.next_free.lock().await;
            reserve_slot(&mut next_free, Instant::now(), self.interval)
        };
        tokio::time::sleep_until(start).await;
    }
}

/// Books the next free start time at or after `now` and returns it.
fn reserve_slot(next_free: &mut Option<Instant>, now: Instant, interval: Duration) -> Instant {
    let start = next_free.map_or(now, |t| t.max(now));
    *next_free = Some(start + interval);
    start
}

/// How many times to retry and how long to wait in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` attempts).
    pub max_retries: u32,
    /// Wait before the first retry of a server error; doubled each time.
    pub backoff_base: Duration,
    /// Upper bound on any single wait, including a server's Retry-After.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            backoff_base: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based). A `Retry-After`
    /// value in whole seconds wins when the server sent one; an HTTP-date
    /// or unparsable value falls back to exponential backoff.
    pub fn delay(&self, retry: u32, retry_after: Option<&str>) -> Duration {
        let backoff = self
            .backoff_base
            .saturating_mul(2u32.saturating_pow(retry.min(16)));
        let wanted = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(backoff, Duration::from_secs);
        wanted.min(self.max_wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_are_honoured_and_capped() {
        let policy = RetryPolicy {
            max_retries: 3,
            backoff_base: Duration::from_millis(100),
            max_wait: Duration::from_secs(30),
        };
        assert_eq!(policy.delay(0, Some("7")), Duration::from_secs(7));
        assert_eq!(policy.delay(2, Some(" 0 ")), Duration::ZERO);
        assert_eq!(policy.delay(0, Some("3600")), Duration::from_secs(30));
    }

    #[test]
    fn backoff_doubles_without_a_usable_retry_after() {
        let policy = RetryPolicy {
            max_retries: 3,
            backoff_base: Duration::from_millis(100),
            max_wait: Duration::from_secs(1),
        };
        assert_eq!(policy.delay(0, None), Duration::from_millis(100));
        assert_eq!(policy.delay(1, None), Duration::from_millis(200));
        assert_eq!(
            policy.delay(2, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Duration::from_millis(400)
        );
        assert_eq!(policy.delay(9, None), Duration::from_secs(1));
    }

    #[test]
    fn slots_are_spaced_by_the_interval() {
        let gap = Duration::from_millis(250);
        let t0 = Instant::now();
        let mut next = None;
        assert_eq!(reserve_slot(&mut next, t0, gap), t0);
        // Two callers arriving at once get consecutive slots.
        assert_eq!(reserve_slot(&mut next, t0, gap), t0 + gap);
        assert_eq!(reserve_slot(&mut next, t0, gap), t0 + gap * 2);
        // A caller arriving after the booked slots starts right away.
        let late = t0 + Duration::from_secs(5);
        assert_eq!(reserve_slot(&mut next, late, gap), late);
        assert_eq!(next, Some(late + gap));
    }
}

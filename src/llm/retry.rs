//! When and how long to wait before trying an HTTP call again: timeouts,
//! exponential backoff with jitter, and the server's `Retry-After`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Timeouts and retry limits for one endpoint. Tests shrink every number to
/// milliseconds; the defaults suit hosted APIs.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Time allowed to open the TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Longest silence allowed while waiting for response bytes.
    pub read_timeout: Duration,
    /// Attempts in total, the first one included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles after each failure.
    pub base_delay: Duration,
    /// Ceiling on the computed backoff.
    pub max_delay: Duration,
    /// Ceiling on a server's `Retry-After`, so a bogus value cannot stall a run.
    pub max_retry_after: Duration,
    /// Deadline for one call, every attempt and wait included: a server
    /// that trickles bytes slower than `read_timeout` can notice still
    /// cannot hold a session past it.
    pub call_deadline: Duration,
    /// Largest reply body read, in bytes; a longer one is an error.
    pub max_body_bytes: usize,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            call_deadline: Duration::from_secs(600),
            max_body_bytes: 16 << 20,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `failed + 1`, after `failed` failures: the
    /// server's `Retry-After` when it sent one (capped), otherwise
    /// exponential backoff with "equal jitter" (half fixed, half random).
    pub fn delay(&self, failed: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_retry_after);
        }
        let exponent = failed.saturating_sub(1).min(20);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let half = full / 2;
        half + half.mul_f64(jitter_unit())
    }
}

/// A uniform number in [0, 1) from a tiny xorshift generator seeded by the
/// clock. Jitter only spreads retries apart; it needs no quality beyond that.
fn jitter_unit() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        x = nanos | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Reads a `Retry-After` header: delay-seconds or an HTTP date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`) relative to `now`. A date in the past
/// means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = parse_http_date(value)?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses the IMF-fixdate form of an HTTP date, the one servers must send.
/// Anything outside a real calendar date between 1970 and 9999 is `None`,
/// so no field can overflow the arithmetic below.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let (_weekday, rest) = value.split_once(", ")?;
    let parts: Vec<&str> = rest.split_whitespace().collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let day = small_number(day)?;
    let year = small_number(year)?;
    let hms: Vec<i64> = time.split(':').map(small_number).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    let valid = (1970..=9999).contains(&year)
        && (1..=days_in_month(year, month)).contains(&day)
        && *h <= 23
        && *m <= 59
        && *s <= 60;
    if !valid {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// A field of at most four ASCII digits (no sign), so it cannot overflow.
fn small_number(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Days in `month` (1-12) of a Gregorian `year`.
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// well-known civil-from-days inverse).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Thu, 29 Feb 2024 00:00:00 GMT", UNIX_EPOCH),
            Some(Duration::from_secs(1_709_164_800))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("Sun, 06 Foo 1994 08:49:47 GMT", now),
            None
        );
    }

    #[test]
    fn nonsense_retry_after_dates_are_absent_not_a_panic() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        for value in [
            "Fri, 31 Dec 9999999999999 23:59:59 GMT",
            "Fri, 31 Dec -9999999999999 23:59:59 GMT",
            "Fri, 31 Dec 292277026596 23:59:59 GMT",
            "Fri, 31 Dec 99999 23:59:59 GMT",
            "Sun, 06 Nov 1994 -1:49:47 GMT",
            "Sun, 06 Nov 1994 08:49:47:01 GMT",
            "Sun, 00 Nov 1994 08:49:47 GMT",
            "Sun, 31 Feb 1994 08:49:47 GMT",
            "18446744073709551616",
            "-5",
            "",
        ] {
            assert_eq!(parse_retry_after(value, now), None, "{value:?}");
        }
        // The largest delay-seconds still parses; the policy caps the wait.
        let far = parse_retry_after("18446744073709551615", now);
        assert_eq!(far, Some(Duration::from_secs(u64::MAX)));
        assert_eq!(
            RetryPolicy::default().delay(1, far),
            RetryPolicy::default().max_retry_after
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(Duration::from_secs(253_402_300_799 - 784_111_777))
        );
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        for (failed, full) in [(1, 100), (2, 200), (3, 350), (9, 350)] {
            for _ in 0..50 {
                let d = policy.delay(failed, None).as_millis();
                assert!(d >= full / 2 && d <= full, "failure {failed}: {d} ms");
            }
        }
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let policy = RetryPolicy {
            max_retry_after: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let hinted = Some(Duration::from_secs(3));
        assert_eq!(policy.delay(1, hinted), Duration::from_secs(3));
        let huge = Some(Duration::from_secs(3600));
        assert_eq!(policy.delay(1, huge), Duration::from_secs(60));
    }
}

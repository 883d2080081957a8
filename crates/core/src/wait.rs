//! How long a URL waits before it is tried again: the server's `Retry-After`, or exponential
//! backoff with jitter. Pure functions of their inputs: the jitter comes from a hash of the
//! seed, the URL and the try, so the same crawl waits the same times, and the wall clock a
//! `Retry-After` date needs is one the caller passes in.

use std::time::{Duration, SystemTime};

use url::Url;

/// The wait after try `tries` (from 1) of `url` failed: `base` doubled for each try before,
/// at most `max`, of which a hashed fraction between a half and all is taken ("equal
/// jitter": never less than half the exponential wait, so retries still back off, and
/// spread so that URLs that failed together do not come back together).
pub(crate) fn backoff(base: Duration, max: Duration, seed: u64, url: &Url, tries: u32) -> Duration {
    let exponential = base
        .saturating_mul(1 << tries.saturating_sub(1).min(20))
        .min(max);
    let fraction = (hash(seed, url.as_str(), tries) >> 11) as f64 / (1u64 << 53) as f64;
    exponential.mul_f64(0.5 + 0.5 * fraction)
}

/// FNV-1a of the seed, the text and the try, finished with splitmix64's mixer.
fn hash(seed: u64, text: &str, tries: u32) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64 ^ seed;
    for &b in text.as_bytes().iter().chain(&tries.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The wait a `Retry-After` value asks for (RFC 9110, 10.2.3): whole seconds, or an HTTP date,
/// read against the response's `Date` header when it has one (both the server's clock), else
/// against `wall_clock`. A negative count or a date past is no wait; a count too large to
/// hold is the longest wait there is (the caller's cap then applies), not a value that fails
/// to parse; `None` when the value is neither form. The caller caps what it gets.
pub(crate) fn retry_after(
    value: &str,
    date: Option<&str>,
    wall_clock: impl FnOnce() -> SystemTime,
) -> Option<Duration> {
    let value = value.trim();
    let digits = value.strip_prefix('-').unwrap_or(value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(match value.parse::<i64>() {
            Ok(seconds) => Duration::from_secs(seconds.max(0).unsigned_abs()),
            Err(_) if value.starts_with('-') => Duration::ZERO,
            Err(_) => Duration::MAX,
        });
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let now = date
        .and_then(|date| httpdate::parse_http_date(date.trim()).ok())
        .unwrap_or_else(wall_clock);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let url = Url::parse("http://h/x").unwrap();
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
        for tries in 1..=8 {
            let wait = backoff(base, max, 7, &url, tries);
            let full = (base * (1 << (tries - 1))).min(max);
            assert!(wait >= full / 2 && wait <= full, "try {tries}: {wait:?}");
            assert_eq!(wait, backoff(base, max, 7, &url, tries), "deterministic");
        }
        assert_ne!(
            backoff(base, max, 7, &url, 1),
            backoff(base, max, 8, &url, 1)
        );
        assert!(backoff(base, max, 0, &url, u32::MAX) <= max);
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let never = || panic!("no wall clock needed");
        assert_eq!(
            retry_after(" 3 ", None, never),
            Some(Duration::from_secs(3))
        );
        assert_eq!(retry_after("-5", None, never), Some(Duration::ZERO));
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:50:37 GMT", Some(date), never),
            Some(Duration::from_secs(60))
        );
        // No `Date` header: the wall clock the caller gave.
        let wall = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:57 GMT").unwrap();
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:50:37 GMT", None, || wall),
            Some(Duration::from_secs(40))
        );
        assert_eq!(retry_after(date, None, || wall), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", None, never), None);
        assert_eq!(retry_after("1.5", None, never), None);
        // Too large for any integer: as long as can be (the crawler caps it at --max-wait-ms).
        assert_eq!(
            retry_after("99999999999999999999999", None, never),
            Some(Duration::MAX)
        );
        assert_eq!(
            retry_after("-99999999999999999999999", None, never),
            Some(Duration::ZERO)
        );
    }
}

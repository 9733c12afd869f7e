//! Replay and rate protection: the SignatureNonce cache and the DescribeDtsJobs throttle.

use std::collections::HashMap;
use std::sync::Mutex;

/// How far a request's timestamp may be from the server clock, and how long a
/// nonce is remembered (the same window, so a replay is always caught).
pub const TIMESTAMP_WINDOW_MS: i64 = 15 * 60 * 1000;

/// Remembers recently seen `SignatureNonce`s per AccessKey.
#[derive(Default)]
pub struct NonceCache {
    seen: Mutex<HashMap<(String, String), i64>>,
}

impl NonceCache {
    /// Records the nonce; `false` when it was already used within the window.
    pub fn first_use(&self, access_key: &str, nonce: &str, now_ms: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 10_000 {
            seen.retain(|_, expires| *expires > now_ms);
        }
        let key = (access_key.to_string(), nonce.to_string());
        match seen.get(&key) {
            Some(expires) if *expires > now_ms => false,
            _ => {
                seen.insert(key, now_ms + 2 * TIMESTAMP_WINDOW_MS);
                true
            }
        }
    }
}

/// A token bucket per (AccessKey, region): `rate` calls per second, bursts up to `rate`.
pub struct Throttle {
    rate: f64,
    buckets: Mutex<HashMap<(String, String), (f64, i64)>>,
}

impl Throttle {
    pub fn new(rate_per_second: u32) -> Throttle {
        Throttle { rate: rate_per_second.max(1) as f64, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token; `false` when the caller is over its rate.
    pub fn allow(&self, access_key: &str, region: &str, now_ms: i64) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets
            .entry((access_key.to_string(), region.to_string()))
            .or_insert((self.rate, now_ms));
        let elapsed = (now_ms - *last).max(0) as f64 / 1000.0;
        *tokens = (*tokens + elapsed * self.rate).min(self.rate);
        *last = now_ms;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_refused_the_second_time_within_the_window() {
        let c = NonceCache::default();
        assert!(c.first_use("ak", "n1", 0));
        assert!(!c.first_use("ak", "n1", 1000));
        assert!(c.first_use("other", "n1", 1000));
        assert!(c.first_use("ak", "n1", 3 * TIMESTAMP_WINDOW_MS));
    }

    #[test]
    fn throttle_allows_the_rate_then_refuses_then_refills() {
        let t = Throttle::new(20);
        let allowed = (0..25).filter(|_| t.allow("ak", "cn-hangzhou", 0)).count();
        assert_eq!(allowed, 20);
        assert!(t.allow("ak", "cn-beijing", 0));
        assert!(t.allow("ak", "cn-hangzhou", 100)); // 0.1 s later: 2 tokens back
    }
}

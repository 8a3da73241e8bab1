//! Fixed-window counters for sign-in attempts, per client address and per account.
//! Kept in memory per instance: behind N instances an attacker gets at most N times the limit,
//! which still turns a password-guessing run from seconds into years.

use std::time::{Duration, Instant};

use dashmap::DashMap;

pub struct RateLimiter {
    limit: u32,
    window: Duration,
    hits: DashMap<String, (Instant, u32)>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit,
            window,
            hits: DashMap::new(),
        }
    }

    /// Counts one attempt for `key`; `Err(seconds)` says how long until the next is allowed.
    pub fn hit(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        if self.hits.len() > 100_000 {
            self.hits
                .retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let mut entry = self.hits.entry(key.to_string()).or_insert((now, 0));
        let (start, count) = &mut *entry;
        if now.duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        if *count >= self.limit {
            let wait = self.window.saturating_sub(now.duration_since(*start));
            return Err(wait.as_secs().max(1));
        }
        *count += 1;
        Ok(())
    }

    /// Forget a key (a successful sign-in clears the account's failures).
    pub fn reset(&self, key: &str) {
        self.hits.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_limit_then_refuses_until_the_window_passes() {
        let rl = RateLimiter::new(3, Duration::from_millis(200));
        for _ in 0..3 {
            assert!(rl.hit("a").is_ok());
        }
        assert!(rl.hit("a").is_err());
        assert!(rl.hit("b").is_ok(), "keys are independent");
        std::thread::sleep(Duration::from_millis(250));
        assert!(rl.hit("a").is_ok());
        rl.reset("a");
        for _ in 0..3 {
            assert!(rl.hit("a").is_ok());
        }
    }
}

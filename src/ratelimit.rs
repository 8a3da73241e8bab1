//! Sign-in attempts, limited per client address and per account with `governor`'s keyed GCRA
//! limiter: a burst of `limit` attempts, then one more every `window / limit`. Over a long run
//! that is the same `limit` per `window` as a fixed window, without the double burst a fixed
//! window lets through at its edge.
//!
//! Kept in memory per instance: behind N instances an attacker gets at most N times the limit,
//! which still turns a password-guessing run from seconds into years.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::Quota;

/// Beyond this many keys, keys whose attempts are all forgotten are dropped.
const PRUNE_ABOVE: usize = 100_000;

pub struct RateLimiter {
    limiter: governor::RateLimiter<String, Keys, DefaultClock, NoOpMiddleware>,
    keys: Keys,
    clock: DefaultClock,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        let limit = NonZeroU32::new(limit).expect("a limit above zero");
        let quota = Quota::with_period(window / limit.get())
            .expect("a window above zero")
            .allow_burst(limit);
        let keys = Keys::default();
        let clock = DefaultClock::default();
        RateLimiter {
            limiter: governor::RateLimiter::new(quota, keys.clone(), clock.clone()),
            keys,
            clock,
        }
    }

    /// Counts one attempt for `key`; `Err(seconds)` says how long until the next is allowed.
    pub fn hit(&self, key: &str) -> Result<(), u64> {
        if self.limiter.len() > PRUNE_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&key.to_string()).map_err(|until| {
            let wait = until.wait_time_from(self.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })?;
        Ok(())
    }

    /// Forget a key (a successful sign-in clears the account's failures).
    pub fn reset(&self, key: &str) {
        self.keys.0.remove(key);
    }
}

/// governor's own DashMap store, behind an `Arc` so that a key can be removed: governor's
/// limiter has no call for that.
#[derive(Clone, Default)]
struct Keys(Arc<DashMap<String, InMemoryState>>);

impl StateStore for Keys {
    type Key = String;

    fn measure_and_replace<T, F, E>(&self, key: &String, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(state) = self.0.get(key) {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        self.0
            .entry(key.clone())
            .or_default()
            .measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl ShrinkableKeyedStateStore<String> for Keys {
    fn retain_recent(&self, drop_below: Nanos) {
        // A key's state is the time at which it is again as good as new; read it without
        // changing it (a closure that always refuses changes nothing).
        let fresh_at = |state: &InMemoryState| {
            state
                .measure_and_replace(&NotKeyed::NonKey, Err::<((), Nanos), _>)
                .unwrap_err()
        };
        self.0
            .retain(|_, state| fresh_at(state).is_some_and(|at| at > drop_below));
    }

    fn shrink_to_fit(&self) {
        self.0.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_limit_then_refuses_until_attempts_are_replenished() {
        let rl = RateLimiter::new(3, Duration::from_millis(300));
        for _ in 0..3 {
            assert!(rl.hit("a").is_ok());
        }
        assert_eq!(rl.hit("a"), Err(1), "a wait of under a second says 1");
        assert!(rl.hit("b").is_ok(), "keys are independent");
        std::thread::sleep(Duration::from_millis(120));
        assert!(rl.hit("a").is_ok(), "one attempt back per window / limit");
        assert!(rl.hit("a").is_err());
        rl.reset("a");
        for _ in 0..3 {
            assert!(rl.hit("a").is_ok());
        }
    }

    #[test]
    fn the_wait_is_whole_seconds_rounded_up() {
        let rl = RateLimiter::new(10, Duration::from_secs(15 * 60));
        for _ in 0..10 {
            assert!(rl.hit("account:a@example.com").is_ok());
        }
        assert_eq!(rl.hit("account:a@example.com"), Err(90));
    }

    #[test]
    fn idle_keys_are_pruned_and_busy_ones_kept() {
        let rl = RateLimiter::new(2, Duration::from_secs(1));
        rl.hit("idle").unwrap();
        rl.hit("busy").unwrap();
        rl.hit("busy").unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        rl.limiter.retain_recent();
        assert!(!rl.keys.0.contains_key("idle"), "as good as new: dropped");
        assert!(rl.keys.0.contains_key("busy"));
    }
}

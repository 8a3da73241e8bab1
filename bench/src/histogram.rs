//! Latency histogram: exact below 256 µs, then 128 buckets per power of two (< 1% error). It
//! travels between processes as JSON (a worker's `Finished`), and histograms from several
//! workers merge into one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Hist {
    buckets: BTreeMap<u32, u64>,
    pub count: u64,
    pub max_us: u64,
}

fn bucket_of(us: u64) -> u32 {
    if us < 256 {
        us as u32
    } else {
        let e = 63 - us.leading_zeros();
        let sub = ((us >> (e - 7)) & 127) as u32;
        256 + (e - 8) * 128 + sub
    }
}

fn bucket_value(b: u32) -> u64 {
    if b < 256 {
        b as u64
    } else {
        let e = (b - 256) / 128 + 8;
        let sub = ((b - 256) % 128) as u64;
        (128 + sub) << (e - 7)
    }
}

impl Hist {
    pub fn add(&mut self, us: u64) {
        *self.buckets.entry(bucket_of(us)).or_default() += 1;
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }
    pub fn merge(&mut self, o: &Hist) {
        for (b, n) in &o.buckets {
            *self.buckets.entry(*b).or_default() += n;
        }
        self.count += o.count;
        self.max_us = self.max_us.max(o.max_us);
    }
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let want = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, n) in &self.buckets {
            seen += n;
            if seen >= want {
                return (bucket_value(*b).min(self.max_us)) as f64 / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }
    pub fn summary(&self) -> Value {
        let r = |x: f64| (x * 1000.0).round() / 1000.0;
        json!({
            "count": self.count,
            "p50": r(self.quantile_ms(0.5)),
            "p90": r(self.quantile_ms(0.9)),
            "p99": r(self.quantile_ms(0.99)),
            "p99_9": r(self.quantile_ms(0.999)),
            "max": r(self.max_us as f64 / 1000.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: impl IntoIterator<Item = u64>) -> Hist {
        let mut h = Hist::default();
        for us in values {
            h.add(us);
        }
        h
    }

    #[test]
    fn empty_reports_zeros() {
        let h = Hist::default();
        assert_eq!(h.quantile_ms(0.5), 0.0);
        assert_eq!(
            h.summary(),
            json!({"count": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "p99_9": 0.0, "max": 0.0})
        );
    }

    #[test]
    fn a_single_value_is_every_percentile() {
        // Below 256 µs every microsecond has a bucket of its own.
        let s = of([100]).summary();
        assert_eq!(
            s,
            json!({"count": 1, "p50": 0.1, "p90": 0.1, "p99": 0.1, "p99_9": 0.1, "max": 0.1})
        );
        // Above, a percentile is its bucket's lower bound (1,232 µs holds 1,232..=1,239); the
        // maximum is exact.
        let s = of([1234]).summary();
        for q in ["p50", "p90", "p99", "p99_9"] {
            assert_eq!(s[q], 1.232, "{q}");
        }
        assert_eq!(s["max"], 1.234);
    }

    #[test]
    fn percentiles_of_one_to_a_thousand() {
        // 1..=1000 µs once each: the k-th percentile is k * 10 µs, to within its bucket.
        let h = of(1..=1000);
        let s = h.summary();
        assert_eq!(s["count"], 1000);
        assert_eq!(s["p50"], 0.5);
        assert_eq!(s["p90"], 0.9);
        assert_eq!(s["p99"], 0.988);
        assert_eq!(s["p99_9"], 0.996);
        assert_eq!(s["max"], 1.0);
        assert_eq!(h.quantile_ms(0.001), 0.001);
        assert_eq!(h.quantile_ms(1.0), 1.0);
    }

    #[test]
    fn buckets_are_lower_bounds_within_one_percent() {
        for us in (0..2_000_000).step_by(97).chain([u32::MAX as u64, 1 << 40]) {
            let v = bucket_value(bucket_of(us));
            assert!(v <= us && us - v <= us / 128, "{us} -> {v}");
        }
    }

    #[test]
    fn merge_equals_adding_everything_to_one() {
        let (a, b) = ((1..500).map(|x| x * 7), (1..300).map(|x| x * 131));
        let mut merged = of(a.clone());
        merged.merge(&of(b.clone()));
        let whole = of(a.chain(b));
        assert_eq!(merged.buckets, whole.buckets);
        assert_eq!((merged.count, merged.max_us), (whole.count, whole.max_us));
        assert_eq!(merged.summary(), whole.summary());

        let before = merged.summary();
        merged.merge(&Hist::default());
        assert_eq!(merged.summary(), before);
    }
}

//! Prometheus text metrics without a registry crate: labelled counters and gauges in a map, and
//! fixed-bucket latency histograms for HTTP routes.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use dashmap::DashMap;

use crate::AppState;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    counters: DashMap<(&'static str, String), AtomicU64>,
    gauges: DashMap<&'static str, AtomicI64>,
    http: DashMap<(String, String), Histogram>,
    http_status: DashMap<(String, String, u16), AtomicU64>,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Metrics::default())
    }

    /// `name{labels} += by`; `labels` is Prometheus label text like `channel="email"` or "".
    pub fn add(&self, name: &'static str, labels: impl Into<String>, by: u64) {
        self.counters
            .entry((name, labels.into()))
            .or_default()
            .fetch_add(by, Ordering::Relaxed);
    }

    pub fn inc(&self, name: &'static str) {
        self.add(name, String::new(), 1);
    }

    pub fn gauge_add(&self, name: &'static str, delta: i64) {
        self.gauges
            .entry(name)
            .or_default()
            .fetch_add(delta, Ordering::Relaxed);
    }

    pub fn counter(&self, name: &'static str, labels: &str) -> u64 {
        self.counters
            .get(&(name, labels.to_string()))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn gauge(&self, name: &'static str) -> i64 {
        self.gauges
            .get(name)
            .map_or(0, |g| g.load(Ordering::Relaxed))
    }

    fn observe_http(&self, method: &str, route: &str, status: u16, secs: f64) {
        let h = self
            .http
            .entry((method.to_string(), route.to_string()))
            .or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                h.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        h.sum_micros
            .fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
        self.http_status
            .entry((method.to_string(), route.to_string(), status))
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counters: Vec<_> = self
            .counters
            .iter()
            .map(|e| {
                (
                    e.key().0,
                    e.key().1.clone(),
                    e.value().load(Ordering::Relaxed),
                )
            })
            .collect();
        counters.sort();
        let mut last = "";
        for (name, labels, v) in counters {
            if name != last {
                let _ = writeln!(out, "# TYPE {name} counter");
                last = name;
            }
            let labels = if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            };
            let _ = writeln!(out, "{name}{labels} {v}");
        }
        let mut gauges: Vec<_> = self
            .gauges
            .iter()
            .map(|e| (*e.key(), e.value().load(Ordering::Relaxed)))
            .collect();
        gauges.sort();
        for (name, v) in gauges {
            let _ = writeln!(out, "# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(out, "# TYPE baton_http_requests_total counter");
        for e in self.http_status.iter() {
            let (m, r, s) = e.key();
            let _ = writeln!(
                out,
                "baton_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{s}\"}} {}",
                e.value().load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# TYPE baton_http_request_duration_seconds histogram");
        for e in self.http.iter() {
            let (m, r) = e.key();
            let h = e.value();
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "baton_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"{le}\"}} {}", h.buckets[i].load(Ordering::Relaxed));
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(out, "baton_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(
                out,
                "baton_http_request_duration_seconds_sum{{method=\"{m}\",route=\"{r}\"}} {}",
                h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "baton_http_request_duration_seconds_count{{method=\"{m}\",route=\"{r}\"}} {count}"
            );
        }
        out
    }
}

/// Middleware: latency and status per route template (`/api/cases/{id}`, never raw ids).
pub async fn track_http(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.observe_http(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

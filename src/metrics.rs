//! Prometheus metrics: handles of the `metrics` crate, rendered by `metrics-exporter-prometheus`
//! in the Prometheus text format. Each instance has a recorder of its own, never the process-wide
//! one, so that servers started side by side (tests, the bench) keep their numbers apart.
//!
//! Not `prometheus-client`: it writes OpenMetrics only, where a counter is named without its
//! `_total`, so the counter `baton_notification_jobs_total` and the gauge
//! `baton_notification_jobs` would be one metric family twice, which scrapers and `promtool`
//! refuse. The names stay as they are: dashboards and alerts are written against them.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Gauge, Key, KeyName, Label, Level, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::PrometheusRecorder;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const HTTP_DURATION: &str = "baton_http_request_duration_seconds";
const HTTP_REQUESTS: &str = "baton_http_requests_total";
const NOTIFICATION_JOBS: &str = "baton_notification_jobs_total";
const OUTBOUND_JOBS: &str = "baton_outbound_jobs_total";
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// Latency samples wait in a queue until they are folded into the histogram: at a scrape, or
/// at this interval, so that an instance nobody scrapes does not collect them without end.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static META: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    pub events_published: Counter,
    pub events_delivered: Counter,
    pub resume_replays: Counter,
    pub socket_queue_overflows: Counter,
    pub socket_rate_limited: Counter,
    pub redis_reconnects: Counter,
    pub email_bounces: Counter,
    pub sockets_open: Gauge,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &BUCKETS)
            .expect("latency buckets are not empty")
            .build_recorder();
        let counter = |name: &'static str, help: &'static str| {
            recorder.describe_counter(KeyName::from_const_str(name), None, help.into());
            recorder.register_counter(&Key::from_static_name(name), &META)
        };
        let events_published = counter(
            "baton_events_published_total",
            "Events this instance committed and handed to the bus.",
        );
        let events_delivered = counter(
            "baton_events_delivered_total",
            "Event frames queued to this instance's sockets.",
        );
        let resume_replays = counter(
            "baton_resume_replays_total",
            "Resumes and gap fills read from the event log.",
        );
        let socket_queue_overflows = counter(
            "baton_socket_queue_overflows_total",
            "Sockets closed (4000) for reading too slowly.",
        );
        let socket_rate_limited = counter(
            "baton_socket_rate_limited_total",
            "Sockets closed for sending too many frames.",
        );
        let redis_reconnects = counter(
            "baton_redis_reconnects_total",
            "Reconnections of the Redis subscriber.",
        );
        let email_bounces = counter(
            "baton_email_bounces_total",
            "Bounce reports received for email Baton sent.",
        );
        recorder.describe_counter(
            KeyName::from_const_str(NOTIFICATION_JOBS),
            None,
            "Push and email jobs finished, by channel and outcome.".into(),
        );
        recorder.describe_counter(
            KeyName::from_const_str(OUTBOUND_JOBS),
            None,
            "Outbound replies (email) finished, by channel and outcome.".into(),
        );
        recorder.describe_counter(
            KeyName::from_const_str(HTTP_REQUESTS),
            None,
            "HTTP requests by method, route template and status.".into(),
        );
        recorder.describe_histogram(
            KeyName::from_const_str(HTTP_DURATION),
            None,
            "HTTP request latency by method and route template.".into(),
        );
        let sockets_open = {
            let name = "baton_sockets_open";
            recorder.describe_gauge(KeyName::from_const_str(name), None, "Open sockets.".into());
            recorder.register_gauge(&Key::from_static_name(name), &META)
        };
        let metrics = Arc::new(Metrics {
            handle: recorder.handle(),
            recorder,
            events_published,
            events_delivered,
            resume_replays,
            socket_queue_overflows,
            socket_rate_limited,
            redis_reconnects,
            email_bounces,
            sockets_open,
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(upkeep(Arc::downgrade(&metrics)));
        }
        metrics
    }

    /// `baton_notification_jobs_total{channel, outcome}` += 1.
    pub fn notification_job(&self, channel: &'static str, outcome: &'static str) {
        self.job_finished(NOTIFICATION_JOBS, channel, outcome);
    }

    /// `baton_outbound_jobs_total{channel, outcome}` += 1.
    pub fn outbound_job(&self, channel: &'static str, outcome: &'static str) {
        self.job_finished(OUTBOUND_JOBS, channel, outcome);
    }

    fn job_finished(&self, name: &'static str, channel: &'static str, outcome: &'static str) {
        let labels = vec![
            Label::from_static_parts("channel", channel),
            Label::from_static_parts("outcome", outcome),
        ];
        let key = Key::from_parts(name, labels);
        self.recorder.register_counter(&key, &META).increment(1);
    }

    fn observe_http(&self, method: &str, route: &str, status: u16, secs: f64) {
        let method = SharedString::from(method.to_string());
        let route = SharedString::from(route.to_string());
        let by_route = vec![
            Label::new("method", method.clone()),
            Label::new("route", route.clone()),
        ];
        let mut by_status = by_route.clone();
        by_status.push(Label::new("status", status.to_string()));
        let requests = Key::from_parts(HTTP_REQUESTS, by_status);
        self.recorder
            .register_counter(&requests, &META)
            .increment(1);
        let duration = Key::from_parts(HTTP_DURATION, by_route);
        self.recorder
            .register_histogram(&duration, &META)
            .record(secs);
    }

    /// The Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// Runs upkeep until the instance's metrics are dropped.
async fn upkeep(metrics: Weak<Metrics>) {
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match metrics.upgrade() {
            Some(metrics) => metrics.handle.run_upkeep(),
            None => return,
        }
    }
}

/// Middleware: latency and status per route template (`/api/cases/{id}`, never raw ids).
pub async fn track_http(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.observe_http(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn names_and_labels_are_the_documented_ones() {
        let m = Metrics::new();
        m.events_published.increment(2);
        m.sockets_open.increment(3.0);
        m.sockets_open.decrement(1.0);
        m.notification_job("push", "sent");
        m.notification_job("push", "sent");
        m.observe_http("GET", "/api/cases/{id}", 200, 0.003);
        let text = m.render();
        assert_eq!(value(&text, "baton_events_published_total"), Some(2.0));
        assert_eq!(
            value(&text, "baton_socket_queue_overflows_total"),
            Some(0.0)
        );
        assert_eq!(value(&text, "baton_sockets_open"), Some(2.0));
        assert!(text.contains("# TYPE baton_sockets_open gauge"), "{text}");
        assert_eq!(
            value(
                &text,
                "baton_notification_jobs_total{channel=\"push\",outcome=\"sent\"}"
            ),
            Some(2.0)
        );
        let route = "method=\"GET\",route=\"/api/cases/{id}\"";
        assert_eq!(
            value(
                &text,
                &format!("baton_http_requests_total{{{route},status=\"200\"}}")
            ),
            Some(1.0)
        );
        assert!(text.contains("# TYPE baton_http_request_duration_seconds histogram"));
        assert_eq!(
            value(
                &text,
                &format!("baton_http_request_duration_seconds_bucket{{{route},le=\"0.0025\"}}")
            ),
            Some(0.0)
        );
        assert_eq!(
            value(
                &text,
                &format!("baton_http_request_duration_seconds_bucket{{{route},le=\"0.005\"}}")
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                &format!("baton_http_request_duration_seconds_count{{{route}}}")
            ),
            Some(1.0)
        );
    }

    #[test]
    fn instances_keep_their_numbers_apart() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.socket_queue_overflows.increment(1);
        assert_eq!(
            value(&b.render(), "baton_socket_queue_overflows_total"),
            Some(0.0)
        );
    }
}

//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub database: bool,
    pub bus: bool,
    pub instance: String,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()), responses((status = 200, body = Health)))]
async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        database: true,
        bus: true,
        instance: state.instance.to_string(),
    })
}

/// Ready for traffic: the database and the bus (Redis) answer. 503 while either does not.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()), responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let database = tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping())
        .await
        .is_ok_and(|r| r.is_ok());
    let bus = state.broker.healthy().await;
    let ready = database && bus && !state.hub.is_shutting_down();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Health {
            status: if ready { "ready" } else { "unavailable" }.into(),
            database,
            bus,
            instance: state.instance.to_string(),
        }),
    )
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()), responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = state.metrics.render();
    // Jobs by channel and state come from the table itself: shared by every instance, so any
    // instance reports the cluster's queue (pending = queued and not yet sent).
    if let Ok(Ok(counts)) =
        tokio::time::timeout(std::time::Duration::from_secs(2), state.store.job_counts()).await
    {
        text.push_str("# TYPE baton_notification_jobs gauge\n");
        for (channel, job_state, n) in counts {
            text.push_str(&format!(
                "baton_notification_jobs{{channel=\"{channel}\",state=\"{job_state}\"}} {n}\n"
            ));
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

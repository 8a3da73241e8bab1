//! The OpenAPI document, generated from the handlers' annotations so it cannot drift.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Doc;
use utoipa::{Modify, OpenApi};

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Baton", description = "A real-time team inbox: cases, assignment, live updates. The WebSocket protocol is in docs/protocol.md."),
    modifiers(&Security),
    security(("session" = []), ("bearer" = [])),
    // Query-parameter enums are referenced by name; register them so the references resolve.
    components(schemas(crate::store::View, crate::store::Filter))
)]
struct Base;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Doc) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                super::extract::SESSION_COOKIE,
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "ingest_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("the workspace's ingest token"))
                    .build(),
            ),
        );
    }
}

pub fn base() -> Doc {
    Base::openapi()
}

pub fn router(spec: Arc<Doc>) -> Router<AppState> {
    Router::new().route(
        "/api/openapi.json",
        get(move || async move { Json(spec.as_ref().clone()) }),
    )
}

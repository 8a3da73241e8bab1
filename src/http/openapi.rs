//! The OpenAPI document, generated from the handlers' annotations so it cannot drift.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Doc;
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

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

/// The shape of every error answer (see `crate::error`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    /// Stable, for programs: `invalid`, `not_found`, `conflict`, `unavailable`, …
    code: String,
    /// For people.
    message: String,
    /// The request field that was refused (with `invalid`), e.g. `from.name`.
    field: Option<String>,
    /// The resource as it is now (with `conflict`), so a client that lost a race sees who won.
    #[schema(value_type = Option<Object>)]
    current: Option<serde_json::Value>,
}

/// Every operation can fail in the same few ways, answered by `crate::error::Error` with one JSON
/// shape. Describe them once here instead of in every handler's annotation: a 401 for whatever
/// needs credentials, a 403 for role and cross-site refusals, a 404 for unknown ids in the path,
/// 400/413/422 for refused input, 503 (with `Retry-After`) while a dependency is down.
pub fn describe_errors(doc: &mut Doc) {
    use utoipa::openapi::header::Header;
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

    let body = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build()
    };
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in [
        ("ErrorBody", ErrorBody::schema()),
        ("ErrorDetail", ErrorDetail::schema()),
    ] {
        components.schemas.insert(name.to_string(), schema);
    }
    let retry_after = Header::new(
        utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::Integer),
    );
    let standard = |status: &str| -> RefOr<utoipa::openapi::Response> {
        let description = match status {
            "400" => "malformed request (not JSON, wrong types, unknown fields)",
            "401" => "authentication required",
            "403" => "not allowed for this role, or a cross-site request",
            "404" => "no such resource in this workspace",
            "413" => "request body too large",
            "422" => "a field was refused; `error.field` names it",
            "503" => "a dependency is unavailable; retry after `Retry-After` seconds",
            _ => "error",
        };
        let mut response = ResponseBuilder::new()
            .description(description)
            .content("application/json", body());
        if status == "503" {
            response = response.header("Retry-After", retry_after.clone());
        }
        response.build().into()
    };

    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let public = operation
                .security
                .as_ref()
                .is_some_and(|s| s.iter().all(|r| r == &Default::default()));
            let in_path = operation
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p.parameter_in, ParameterIn::Path));
            let takes_input = operation.request_body.is_some() || operation.parameters.is_some();
            let mut statuses = vec!["503"];
            if !public {
                statuses.extend(["401", "403"]);
            }
            if in_path {
                statuses.push("404");
            }
            if takes_input {
                statuses.extend(["400", "413", "422"]);
            }
            let responses = &mut operation.responses.responses;
            for status in statuses {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| standard(status));
            }
            // Error answers declared by a handler without a body still carry the error shape.
            for (status, response) in responses.iter_mut() {
                if let RefOr::T(response) = response {
                    if status.as_str() >= "400" && response.content.is_empty() {
                        response.content.insert("application/json".into(), body());
                    }
                }
            }
        }
    }
}

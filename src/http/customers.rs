//! Customers: `GET /api/customers?q=` finds one, `GET /api/customers/{id}` is their page
//! (addresses, notes, cases), `PATCH` edits the notes, `POST …/merge` makes two customers one,
//! `POST …/erase` erases them (admins). See `service::customers`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiJson, ApiQuery, Auth, PathId};
use crate::domain::ids::CustomerId;
use crate::error::Result;
use crate::service::customers;
use crate::store::{Customer, CustomerProfile, Erasure};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(find))
        .routes(routes!(profile, update))
        .routes(routes!(merge))
        .routes(routes!(erase))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindParams {
    /// Part of a name, email address or phone number (any case); empty lists the first by name.
    #[serde(default)]
    pub q: String,
}

/// Find customers by name, email address or phone number (at most 20, by name; customers merged
/// away or erased are not listed).
#[utoipa::path(get, path = "/api/customers", tag = "customers", params(FindParams),
    responses((status = 200, body = Vec<Customer>), (status = 401), (status = 422)))]
async fn find(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<FindParams>,
) -> Result<Json<Vec<Customer>>> {
    Ok(Json(
        customers::find(&state, &auth.teammate, &params.q).await?,
    ))
}

/// A customer's page: every address they wrote from, the team's notes, their cases (newest
/// first). The id of a customer merged into another answers the one they became.
#[utoipa::path(get, path = "/api/customers/{id}", tag = "customers", params(("id" = Uuid, Path)),
    responses((status = 200, body = CustomerProfile), (status = 401), (status = 404)))]
async fn profile(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<CustomerId>,
) -> Result<Json<CustomerProfile>> {
    Ok(Json(customers::profile(&state, &auth.teammate, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerChanges {
    /// What the team notes about this customer: plain text, at most 10,000 characters.
    pub notes: String,
}

/// Edit the team's notes about a customer (agents and up).
#[utoipa::path(patch, path = "/api/customers/{id}", tag = "customers", params(("id" = Uuid, Path)),
    request_body = CustomerChanges,
    responses((status = 200, body = CustomerProfile), (status = 401), (status = 403), (status = 404), (status = 422)))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<CustomerId>,
    ApiJson(body): ApiJson<CustomerChanges>,
) -> Result<Json<CustomerProfile>> {
    Ok(Json(
        customers::set_notes(&state, &auth.teammate, id, &body.notes).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The customer this one becomes: they keep their name; this one's cases, notes and
    /// addresses join them.
    pub into_id: CustomerId,
}

/// Merge this customer into another (agents and up): the same person wrote from two addresses.
/// Their cases move (a `customer.merged` event), and mail or texts from either address find the
/// one customer from now on. Answers the page of the customer they became.
#[utoipa::path(post, path = "/api/customers/{id}/merge", tag = "customers", params(("id" = Uuid, Path)),
    request_body = MergeBody,
    responses((status = 200, body = CustomerProfile), (status = 401), (status = 403), (status = 404), (status = 422, description = "the same customer, an erased one, or none of this workspace")))]
async fn merge(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<CustomerId>,
    ApiJson(body): ApiJson<MergeBody>,
) -> Result<Json<CustomerProfile>> {
    Ok(Json(
        customers::merge(&state, &auth.teammate, id, body.into_id).await?,
    ))
}

/// Erase a customer: their name, addresses and phone, the text of every message and note on
/// their cases, their attachments, pending notifications and replies, and the event log's
/// copies. The cases stay, under "Erased customer", for statistics; the same address writing
/// again starts a new customer (admins and the owner).
#[utoipa::path(post, path = "/api/customers/{id}/erase", tag = "customers", params(("id" = Uuid, Path)),
    responses((status = 200, body = Erasure), (status = 401), (status = 403), (status = 404)))]
async fn erase(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<CustomerId>,
) -> Result<Json<Erasure>> {
    Ok(Json(
        crate::service::customers::erase(&state, &auth.teammate, id).await?,
    ))
}

//! Cases: lists and counts, one case with its conversation, status, replies and notes, read
//! markers, follow-ups.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{ApiJson, ApiQuery, Auth, PathId};
use crate::domain::ids::{AttachmentId, CaseId, ChannelId, TagId, TeammateId};
use crate::domain::Status;
use crate::error::{Error, Result};
use crate::service::snooze::{self, SnoozeBody};
use crate::service::{cases, messages};
use crate::store::{Case, CaseDetail, CasePage, CaseQuery, Counts, Filter, Message, Sort, View};
use crate::AppState;

const PAGE_DEFAULT: i64 = 50;
const PAGE_MAX: i64 = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_cases))
        .routes(routes!(counts))
        .routes(routes!(get_case))
        .routes(routes!(set_status))
        .routes(routes!(post_message))
        .routes(routes!(mark_read))
        .routes(routes!(set_follow_up))
        .routes(routes!(snooze_case, wake_case))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub view: Option<View>,
    pub filter: Option<Filter>,
    /// Search: a case number (`BT-000123` or `123`), or words found in messages, notes, the
    /// subject, the customer's name or email, or digits of their phone (however written). A
    /// case matches when one message, one note, or its subject and customer hold every word;
    /// the last word also matches as a prefix. Each result then carries `search`: where it
    /// matched, with the matched words marked.
    pub q: Option<String>,
    /// Only cases with this tag (its id).
    pub tag: Option<TagId>,
    /// With `q`: `relevance` (default, best match first) or `recent` (newest activity first).
    pub sort: Option<Sort>,
    /// Only these statuses, comma-separated (`needs_reply,on_hold`), within `filter`.
    pub status: Option<String>,
    /// Only cases assigned to this teammate.
    pub assignee_id: Option<TeammateId>,
    /// Only cases of this channel.
    pub channel_id: Option<ChannelId>,
    /// Only cases with activity at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only cases whose last activity is before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub status: Status,
}

/// What a teammate posts: a reply or a note (the customer's messages arrive by other ways).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NewMessageKind {
    /// To the customer.
    Reply,
    /// Internal: the customer never sees it. `@mentions` notify teammates.
    Note,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    pub kind: NewMessageKind,
    pub body: String,
    /// Files uploaded with `POST /api/attachments` to go with this message.
    #[serde(default)]
    pub attachment_ids: Vec<AttachmentId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpBody {
    /// When the case should come back as `follow_up_due`; `null` cancels the follow-up.
    pub due_at: Option<DateTime<Utc>>,
}

/// Where the next page starts: after a case (newest-first lists) or after so many results
/// (ranked searches, whose order is not by a column).
#[derive(Debug, PartialEq, Eq)]
enum Cursor {
    After(i64, CaseId),
    Ranked(i64),
}

fn encode_cursor(cursor: Cursor) -> String {
    let text = match cursor {
        Cursor::After(at, id) => format!("{at}:{id}"),
        Cursor::Ranked(offset) => format!("+{offset}"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(raw: &str) -> Result<Cursor> {
    let bad = || Error::invalid("cursor", "not a cursor this server issued");
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    if let Some(offset) = text.strip_prefix('+') {
        let offset: i64 = offset.parse().map_err(|_| bad())?;
        return (0..=1_000_000)
            .contains(&offset)
            .then_some(Cursor::Ranked(offset))
            .ok_or_else(bad);
    }
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    Ok(Cursor::After(
        at.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

fn parse_statuses(raw: Option<&str>) -> Result<Vec<Status>> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(|s| {
            Status::parse(s.trim())
                .ok_or_else(|| Error::invalid("status", format!("{s:?} is not a status")))
        })
        .collect()
}

/// The case lists: `view` (mine, unassigned, all: snoozed cases left out; snoozed) × `filter`
/// (open, unread, closed, breached), newest activity first, with search, a tag and cursor
/// paging.
#[utoipa::path(get, path = "/api/cases", tag = "cases", params(ListQuery), responses((status = 200, body = CasePage), (status = 401), (status = 422)))]
async fn list_cases(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<CasePage>> {
    let limit = query.limit.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(Error::invalid("limit", format!("must be 1 to {PAGE_MAX}")));
    }
    if query.q.as_ref().is_some_and(|q| q.len() > 200) {
        return Err(Error::invalid("q", "must be at most 200 characters"));
    }
    let sort = query.sort.unwrap_or_default();
    let ranked =
        sort == Sort::Relevance && query.q.as_deref().is_some_and(|q| !q.trim().is_empty());
    let (after, offset) = match query.cursor.as_deref().map(decode_cursor).transpose()? {
        None => (None, 0),
        Some(Cursor::After(at, id)) if !ranked => (Some((at, id)), 0),
        Some(Cursor::Ranked(offset)) if ranked => (None, offset),
        Some(_) => return Err(Error::invalid("cursor", "a cursor of another kind of list")),
    };
    let ms = |t: DateTime<Utc>| t.timestamp_millis();
    let mut cases = state
        .store
        .cases(
            auth.teammate.workspace_id,
            auth.teammate.id,
            CaseQuery {
                view: query.view.unwrap_or_default(),
                filter: query.filter.unwrap_or_default(),
                q: query.q,
                after,
                offset,
                limit: limit + 1,
                tag: query.tag,
                sort,
                statuses: parse_statuses(query.status.as_deref())?,
                assignee_id: query.assignee_id,
                channel_id: query.channel_id,
                since: query.since.map(ms),
                until: query.until.map(ms),
            },
        )
        .await?;
    let next_cursor = if cases.len() as i64 > limit {
        cases.truncate(limit as usize);
        match ranked {
            true => Some(encode_cursor(Cursor::Ranked(offset + limit))),
            false => cases
                .last()
                .map(|c| encode_cursor(Cursor::After(c.last_message_at.timestamp_millis(), c.id))),
        }
    } else {
        None
    };
    Ok(Json(CasePage { cases, next_cursor }))
}

/// How many cases each view × filter holds, for the caller.
#[utoipa::path(get, path = "/api/cases/counts", tag = "cases", responses((status = 200, body = Counts), (status = 401)))]
async fn counts(State(state): State<AppState>, auth: Auth) -> Result<Json<Counts>> {
    Ok(Json(
        state
            .store
            .counts(auth.teammate.workspace_id, auth.teammate.id)
            .await?,
    ))
}

/// One case with its messages, notes and timeline.
#[utoipa::path(get, path = "/api/cases/{id}", tag = "cases", params(("id" = Uuid, Path)), responses((status = 200, body = CaseDetail), (status = 401), (status = 404)))]
async fn get_case(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<CaseId>,
) -> Result<Json<CaseDetail>> {
    Ok(Json(
        state
            .store
            .case_detail(auth.teammate.workspace_id, auth.teammate.id, id)
            .await?,
    ))
}

/// Set the status by hand (owner, admin, manager, agent).
#[utoipa::path(put, path = "/api/cases/{id}/status", tag = "cases", params(("id" = Uuid, Path)), request_body = StatusBody,
    responses((status = 200, body = Case), (status = 403), (status = 404), (status = 422)))]
async fn set_status(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<CaseId>,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Json<Case>> {
    let case = cases::set_status(&state, &auth.teammate, id, body.status).await?;
    Ok(Json(case))
}

/// Reply to the customer, or add an internal note (`@handle` mentions notify teammates).
#[utoipa::path(post, path = "/api/cases/{id}/messages", tag = "cases", params(("id" = Uuid, Path)), request_body = MessageBody,
    responses((status = 201, body = Message), (status = 403), (status = 404), (status = 422)))]
async fn post_message(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<CaseId>,
    ApiJson(body): ApiJson<MessageBody>,
) -> Result<(StatusCode, Json<Message>)> {
    let note = body.kind == NewMessageKind::Note;
    let message = messages::post(
        &state,
        &auth.teammate,
        id,
        note,
        &body.body,
        &body.attachment_ids,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(message)))
}

/// Mark the case read for the caller (their badge and unread counts drop).
#[utoipa::path(post, path = "/api/cases/{id}/read", tag = "cases", params(("id" = Uuid, Path)), responses((status = 204), (status = 401), (status = 404)))]
async fn mark_read(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<CaseId>,
) -> Result<StatusCode> {
    cases::mark_read(&state, &auth.teammate, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Schedule (or cancel, with `null`) a follow-up: when due, the case becomes `follow_up_due`
/// and its assignee is pinged.
#[utoipa::path(put, path = "/api/cases/{id}/follow-up", tag = "cases", params(("id" = Uuid, Path)), request_body = FollowUpBody,
    responses((status = 200, body = Case), (status = 403), (status = 404), (status = 422)))]
async fn set_follow_up(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<CaseId>,
    ApiJson(body): ApiJson<FollowUpBody>,
) -> Result<Json<Case>> {
    let case = cases::set_follow_up(&state, &auth.teammate, id, body.due_at).await?;
    Ok(Json(case))
}

/// Snooze the case until `until`: it leaves Mine, Unassigned and All for Snoozed, and comes back
/// by itself then (its owner is pinged), or earlier when the customer writes.
#[utoipa::path(post, path = "/api/cases/{id}/snooze", tag = "cases", params(("id" = Uuid, Path)), request_body = SnoozeBody,
    responses((status = 200, body = Case), (status = 403), (status = 404), (status = 422)))]
async fn snooze_case(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<CaseId>,
    ApiJson(body): ApiJson<SnoozeBody>,
) -> Result<Json<Case>> {
    Ok(Json(
        snooze::snooze(&state, &auth.teammate, id, body.until).await?,
    ))
}

/// Wake a snoozed case now (a case that is not snoozed stays as it is).
#[utoipa::path(delete, path = "/api/cases/{id}/snooze", tag = "cases", params(("id" = Uuid, Path)),
    responses((status = 200, body = Case), (status = 403), (status = 404)))]
async fn wake_case(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<CaseId>,
) -> Result<Json<Case>> {
    Ok(Json(snooze::wake(&state, &auth.teammate, id).await?))
}

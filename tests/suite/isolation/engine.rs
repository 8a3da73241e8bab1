//! A row of the table made a request: the action's path and body filled with A's or B's ids, sent
//! as a member of A, its answer checked for B's strings.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use reqwest::{Client, Method};
use serde_json::{json, Value};
use uuid::Uuid;

use super::world::{subscription, Api, World};
use super::{AGENT, OWNER, ROLES, WAIT};
use crate::common::{enc, TestApp, Ws};

/// B's strings found in `body` that A did not send itself: each string A sent (a path segment,
/// a query value, a JSON string of the body) is taken out of the answer before looking.
pub(super) fn leaks(secrets: &BTreeSet<String>, sent: &[String], body: &str) -> Vec<String> {
    let mut rest = body.to_string();
    let mut echoed: Vec<&String> = sent
        .iter()
        .filter(|atom| secrets.iter().any(|s| atom.contains(s.as_str())))
        .collect();
    echoed.sort_by_key(|a| std::cmp::Reverse(a.len()));
    for atom in echoed {
        rest = rest.replace(atom.as_str(), "");
    }
    secrets
        .iter()
        .filter(|s| rest.contains(s.as_str()))
        .cloned()
        .collect()
}

pub(super) fn atoms_of(path: &str, body: Option<&Value>) -> Vec<String> {
    pub(super) fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            Value::Object(o) => o.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let mut out: Vec<String> = route.split('/').map(str::to_string).collect();
    out.extend(url::form_urlencoded::parse(query.as_bytes()).map(|(_, v)| v.into_owned()));
    if let Some(b) = body {
        strings(b, &mut out);
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    A,
    B,
    /// Made-up ids that name nothing anywhere.
    Nowhere,
}

/// What a request names, taken from one side.
pub(super) struct Target {
    pub(super) case: String,
    /// The agent: an assignable teammate with open cases.
    pub(super) teammate: String,
    pub(super) teammate_name: String,
    pub(super) teammate_first: String,
    pub(super) teammate_email: String,
    pub(super) customer_email: String,
    pub(super) external_id: String,
    pub(super) endpoint: String,
    pub(super) used_invite: String,
    pub(super) workspace_name: String,
    /// The second case (snoozed and woken by the rows), a saved reply, a tag.
    pub(super) case2: String,
    pub(super) saved_reply: String,
    pub(super) tag: String,
    /// The teammate of the caller's role, for sign-in and unsubscribe links.
    pub(super) peer_id: String,
    pub(super) peer_email: String,
    /// A session of the teammate of the caller's role.
    pub(super) session: String,
}

pub(super) enum Call {
    Http {
        method: Method,
        path: String,
        body: Option<Value>,
        bearer: Option<String>,
    },
    Ws {
        token: String,
        since: Option<i64>,
    },
}

pub(super) struct Answer {
    pub(super) status: String,
    pub(super) body: String,
}

impl Answer {
    /// What tells one answer from another without reading data: status, error code and field.
    pub(super) fn signature(&self) -> String {
        let v: Value = serde_json::from_str(&self.body).unwrap_or(Value::Null);
        format!(
            "{} {} {}",
            self.status,
            v["error"]["code"].as_str().unwrap_or("-"),
            v["error"]["field"].as_str().unwrap_or("-")
        )
    }
}

pub(super) struct Matrix<'a> {
    pub(super) app: &'a TestApp,
    pub(super) http: Client,
    pub(super) api: Api,
    pub(super) a: &'a World,
    pub(super) b: &'a World,
    /// A's ingest token: a row may rotate it.
    pub(super) a_ingest: String,
    pub(super) b_seq: i64,
    pub(super) unsubscribe: HashMap<String, String>,
    pub(super) secrets: BTreeSet<String>,
    pub(super) problems: Vec<String>,
    /// (row, body) of A's successful reads of its own data: the marker check must see A's marker
    /// there, or it could not see B's either.
    pub(super) own_reads: Vec<(String, String)>,
}

impl<'a> Matrix<'a> {
    pub(super) fn world(&self, side: Side) -> Option<&'a World> {
        match side {
            Side::A => Some(self.a),
            Side::B => Some(self.b),
            Side::Nowhere => None,
        }
    }

    pub(super) fn target(&self, side: Side, role: usize) -> Target {
        match self.world(side) {
            Some(w) => Target {
                case: w.cases[0].clone(),
                teammate: w.members[AGENT].id.clone(),
                teammate_name: w.members[AGENT].name.clone(),
                teammate_first: w.agent_first.to_lowercase(),
                teammate_email: w.members[AGENT].email.clone(),
                customer_email: w.customer_email.clone(),
                external_id: w.external_id.clone(),
                endpoint: w.endpoint.clone(),
                used_invite: w.used_invite.clone(),
                workspace_name: w.name.clone(),
                case2: w.cases[1].clone(),
                saved_reply: w.saved_reply.clone(),
                tag: w.tag.clone(),
                peer_id: w.members[role].id.clone(),
                peer_email: w.members[role].email.clone(),
                session: w.sessions[role].clone(),
            },
            None => {
                let u = Uuid::new_v4().simple().to_string();
                Target {
                    case: Uuid::now_v7().to_string(),
                    teammate: Uuid::now_v7().to_string(),
                    teammate_name: format!("Nobody {u}"),
                    teammate_first: format!("nobody{}", &u[..6]),
                    teammate_email: format!("nobody.{u}@example.com"),
                    customer_email: format!("nobody.{u}@example.com"),
                    external_id: format!("ext-{u}"),
                    endpoint: format!("http://127.0.0.1:9/push/{u}"),
                    used_invite: format!("{u}{u}"),
                    workspace_name: format!("Nowhere {u}"),
                    case2: Uuid::now_v7().to_string(),
                    saved_reply: Uuid::now_v7().to_string(),
                    tag: Uuid::now_v7().to_string(),
                    peer_id: Uuid::now_v7().to_string(),
                    peer_email: format!("nobody.{u}@example.com"),
                    session: Uuid::new_v4().to_string(),
                }
            }
        }
    }

    /// A teammate of A that a row may remove.
    pub(super) async fn removable(&self) -> String {
        let owner = &self.a.members[OWNER].token;
        let email = format!("leaving.{}@example.com", Uuid::new_v4().simple());
        let name = format!("Leaving {}", self.a.marker);
        let body = json!({ "email": email, "name": name, "role": "agent" });
        let v = self.api.ok(owner, "POST /api/invites", body).await;
        let token = v["token"].as_str().unwrap();
        let (status, v) = self
            .api
            .call(
                "-",
                &format!("POST /api/invites/{token}/accept"),
                json!({ "password": self.a.password }),
            )
            .await;
        assert_eq!(status, 200);
        v["teammate"]["id"].as_str().unwrap().to_string()
    }

    /// A new invite into A, not yet accepted.
    pub(super) async fn pending_invite(&self) -> String {
        let email = format!("joining.{}@example.com", Uuid::new_v4().simple());
        let name = format!("Joining {}", self.a.marker);
        let invite = json!({ "email": email, "name": name, "role": "agent" });
        let owner = &self.a.members[OWNER].token;
        let v = self.api.ok(owner, "POST /api/invites", invite).await;
        v["token"].as_str().unwrap().to_string()
    }

    /// A new customer of A that a row may erase (so A's own customer stays for later rows).
    pub(super) async fn erasable(&self) -> String {
        let email = format!("erasable.{}@example.com", Uuid::new_v4().simple());
        let v = self
            .api
            .ok(
                &self.a_ingest,
                "POST /api/inbound",
                json!({ "channel": "email", "from": { "name": "Erasable", "email": email }, "body": "Please forget me" }),
            )
            .await;
        self.customer_of(self.a, v["case_id"].as_str().unwrap())
            .await
    }

    /// The customer of one of `w`'s cases.
    pub(super) async fn customer_of(&self, w: &World, case: &str) -> String {
        let v = self
            .api
            .ok(
                &w.members[OWNER].token,
                &format!("GET /api/cases/{case}"),
                json!(null),
            )
            .await;
        v["case"]["customer"]["id"].as_str().unwrap().to_string()
    }

    /// The request for one row: `key` as `role` of A, naming the ids of `side`. None: the suite
    /// does not know this route yet (a new endpoint needs a request here and rows in the table).
    pub(super) async fn call(&mut self, key: &str, role: usize, side: Side) -> Option<Call> {
        let me = &self.a.members[role];
        let t = self.target(side, role);
        let a = self.a;
        let mut body = None;
        let mut auth = Some(me.token.clone());
        let (method, path) = match key {
            "GET /api/assign-rules" => (Method::GET, "/api/assign-rules".to_string()),
            "PUT /api/assign-rules" => {
                body = Some(
                    json!({ "mode": "round_robin", "pool": [t.teammate], "categories": {}, "fallback": null }),
                );
                (Method::PUT, "/api/assign-rules".into())
            }
            "GET /api/cases" => (
                Method::GET,
                format!(
                    "/api/cases?view=all&filter=open&q={}",
                    enc(&t.customer_email)
                ),
            ),
            "POST /api/cases/bulk-reassign" => {
                body = Some(json!({ "from": t.teammate, "to": null }));
                (Method::POST, "/api/cases/bulk-reassign".into())
            }
            "GET /api/cases/counts" => (Method::GET, "/api/cases/counts".into()),
            "GET /api/cases/{id}" => (Method::GET, format!("/api/cases/{}", t.case)),
            "PUT /api/cases/{id}/assignee" => {
                body = Some(json!({ "assignee_id": t.teammate }));
                (Method::PUT, format!("/api/cases/{}/assignee", t.case))
            }
            "PUT /api/cases/{id}/assignee [B's teammate in body]" => {
                body = Some(json!({ "assignee_id": t.teammate }));
                (Method::PUT, format!("/api/cases/{}/assignee", a.cases[0]))
            }
            "PUT /api/cases/{id}/follow-up" => {
                body = Some(json!({ "due_at": "2099-06-01T00:00:00Z" }));
                (Method::PUT, format!("/api/cases/{}/follow-up", t.case))
            }
            "POST /api/cases/{id}/messages" => {
                body = Some(json!({ "kind": "reply", "body": "Thanks, we are on it." }));
                (Method::POST, format!("/api/cases/{}/messages", t.case))
            }
            "POST /api/cases/{id}/messages [note @mentions B's teammate]" => {
                body = Some(
                    json!({ "kind": "note", "body": format!("@{} can you look?", t.teammate_first) }),
                );
                (Method::POST, format!("/api/cases/{}/messages", a.cases[0]))
            }
            "POST /api/cases/{id}/read" => (Method::POST, format!("/api/cases/{}/read", t.case)),
            "PUT /api/cases/{id}/status" => {
                body = Some(json!({ "status": "on_hold" }));
                (Method::PUT, format!("/api/cases/{}/status", t.case))
            }
            "POST /api/inbound" => {
                // Authenticated by A's ingest token alone: the caller's role plays no part.
                auth = Some(self.a_ingest.clone());
                body = Some(
                    json!({ "channel": "email", "from": { "name": a.customer_name, "email": a.customer_email }, "body": "One more thing", "external_id": t.external_id }),
                );
                (Method::POST, "/api/inbound".into())
            }
            "POST /api/invites" => {
                let email = match side {
                    Side::A => format!("new.{}.{}@example.com", a.marker, Uuid::new_v4().simple()),
                    _ => t.teammate_email.clone(),
                };
                body = Some(json!({ "email": email, "name": "New Hire", "role": "agent" }));
                (Method::POST, "/api/invites".into())
            }
            "GET /api/invites/{token}" => {
                let token = match side {
                    Side::A => self.pending_invite().await,
                    _ => t.used_invite.clone(),
                };
                (Method::GET, format!("/api/invites/{token}"))
            }
            "POST /api/invites/{token}/accept" => {
                let token = match side {
                    Side::A => self.pending_invite().await,
                    _ => t.used_invite.clone(),
                };
                body = Some(json!({ "password": a.password }));
                (Method::POST, format!("/api/invites/{token}/accept"))
            }
            "GET /api/saved-replies" => (Method::GET, "/api/saved-replies".into()),
            "POST /api/saved-replies" => {
                body = Some(json!({ "name": "Thanks", "body": "Thanks {{customer.first_name}}" }));
                (Method::POST, "/api/saved-replies".into())
            }
            "PATCH /api/saved-replies/{id}" => {
                body = Some(json!({ "name": "Greeting again" }));
                (
                    Method::PATCH,
                    format!("/api/saved-replies/{}", t.saved_reply),
                )
            }
            "DELETE /api/saved-replies/{id}" => {
                let id = match side {
                    Side::A => {
                        let reply =
                            json!({ "name": "Short-lived", "scope": "workspace", "body": "Bye" });
                        let owner = &a.members[OWNER].token;
                        let v = self.api.ok(owner, "POST /api/saved-replies", reply).await;
                        v["id"].as_str().unwrap().to_string()
                    }
                    _ => t.saved_reply.clone(),
                };
                (Method::DELETE, format!("/api/saved-replies/{id}"))
            }
            "POST /api/cases/{id}/saved-replies/{reply_id}/render" => (
                Method::POST,
                format!(
                    "/api/cases/{}/saved-replies/{}/render",
                    t.case, t.saved_reply
                ),
            ),
            "GET /api/tags" => (Method::GET, "/api/tags".into()),
            "POST /api/tags" => {
                body = Some(json!({ "name": format!("New {}", Uuid::new_v4().simple()) }));
                (Method::POST, "/api/tags".into())
            }
            "PATCH /api/tags/{id}" => {
                body = Some(json!({ "color": "#123456" }));
                (Method::PATCH, format!("/api/tags/{}", t.tag))
            }
            "DELETE /api/tags/{id}" => {
                let id = match side {
                    Side::A => {
                        let tag = json!({ "name": format!("Gone {}", Uuid::new_v4().simple()) });
                        let owner = &a.members[OWNER].token;
                        let v = self.api.ok(owner, "POST /api/tags", tag).await;
                        v["id"].as_str().unwrap().to_string()
                    }
                    _ => t.tag.clone(),
                };
                (Method::DELETE, format!("/api/tags/{id}"))
            }
            "POST /api/cases/{id}/tags" => {
                body = Some(json!({ "name": "Follow" }));
                (Method::POST, format!("/api/cases/{}/tags", t.case))
            }
            "DELETE /api/cases/{id}/tags/{tag_id}" => (
                Method::DELETE,
                format!("/api/cases/{}/tags/{}", t.case, t.tag),
            ),
            "POST /api/cases/{id}/snooze" => {
                let until = chrono::Utc::now() + chrono::Duration::days(30);
                body = Some(json!({ "until": until }));
                (Method::POST, format!("/api/cases/{}/snooze", t.case2))
            }
            "DELETE /api/cases/{id}/snooze" => {
                (Method::DELETE, format!("/api/cases/{}/snooze", t.case2))
            }
            "GET /api/me" => (Method::GET, "/api/me".into()),
            // Sessions are the caller's own: another's id is unknown (404) to every role.
            "GET /api/me/sessions" => (Method::GET, "/api/me/sessions".into()),
            "DELETE /api/me/sessions/{id}" => {
                let id = match side {
                    Side::A => {
                        let v = self
                            .api
                            .ok(&me.token, "POST /api/tokens", Value::Null)
                            .await;
                        v["id"].as_str().unwrap().to_string()
                    }
                    _ => t.session.clone(),
                };
                (Method::DELETE, format!("/api/me/sessions/{id}"))
            }
            "GET /api/audit" => (Method::GET, "/api/audit?limit=200".into()),
            "GET /api/reports" => (Method::GET, "/api/reports".into()),
            "GET /api/reports.csv" => (Method::GET, "/api/reports.csv".into()),
            "GET /api/me/notifications" => (Method::GET, "/api/me/notifications".into()),
            // Two-factor acts on the caller alone: no id to name, the same answer either way.
            "POST /api/me/totp" => (Method::POST, "/api/me/totp".into()),
            "POST /api/me/totp/confirm" => {
                body = Some(json!({ "code": "000000x" }));
                (Method::POST, "/api/me/totp/confirm".into())
            }
            "DELETE /api/me/totp" => {
                body = Some(json!({ "code": "000000x" }));
                (Method::DELETE, "/api/me/totp".into())
            }
            "PUT /api/me/notifications" => {
                body = Some(
                    json!({ "web_push": true, "email": true, "chime": false, "unassigned": false, "email_delay_secs": 300 }),
                );
                (Method::PUT, "/api/me/notifications".into())
            }
            "GET /api/presence" => (Method::GET, "/api/presence".into()),
            "GET /api/push/key" => (Method::GET, "/api/push/key".into()),
            "POST /api/push/subscriptions" => {
                // An endpoint is a browser's secret, not an id: no B value to put here.
                body = Some(subscription(&format!(
                    "http://127.0.0.1:9/push/{}",
                    Uuid::new_v4().simple()
                )));
                (Method::POST, "/api/push/subscriptions".into())
            }
            "DELETE /api/push/subscriptions" => {
                let endpoint = match side {
                    Side::A => {
                        let own = format!("http://127.0.0.1:9/push/{}", Uuid::new_v4().simple());
                        self.api
                            .ok(
                                &me.token,
                                "POST /api/push/subscriptions",
                                subscription(&own),
                            )
                            .await;
                        own
                    }
                    _ => t.endpoint.clone(),
                };
                body = Some(json!({ "endpoint": endpoint }));
                (Method::DELETE, "/api/push/subscriptions".into())
            }
            "POST /api/session" => {
                body = Some(json!({ "email": t.peer_email, "password": a.password }));
                (Method::POST, "/api/session".into())
            }
            "DELETE /api/session" => {
                // Signs out the credential it is called with: a fresh one, so the role keeps
                // its own.
                let v = self
                    .api
                    .ok(&me.token, "POST /api/tokens", Value::Null)
                    .await;
                auth = Some(v["token"].as_str().unwrap().to_string());
                (Method::DELETE, "/api/session".into())
            }
            "POST /api/signup" => {
                body = Some(
                    json!({ "workspace_name": t.workspace_name, "name": "Sam Side", "email": format!("sam.{}@example.com", Uuid::new_v4().simple()), "password": a.password }),
                );
                (Method::POST, "/api/signup".into())
            }
            "GET /api/teammates" => (
                Method::GET,
                format!("/api/teammates?q={}", enc(&t.teammate_name)),
            ),
            "DELETE /api/teammates/{id}" => {
                let id = match side {
                    Side::A => self.removable().await,
                    _ => t.teammate.clone(),
                };
                body = Some(json!({ "reassign_to": null }));
                (Method::DELETE, format!("/api/teammates/{id}"))
            }
            "DELETE /api/teammates/{id} [reassign_to B's teammate]" => {
                let id = self.removable().await;
                body = Some(json!({ "reassign_to": t.teammate }));
                (Method::DELETE, format!("/api/teammates/{id}"))
            }
            "PATCH /api/teammates/{id}" => {
                body = Some(json!({ "away": true }));
                (Method::PATCH, format!("/api/teammates/{}", t.teammate))
            }
            "POST /api/tokens" => (Method::POST, "/api/tokens".into()),
            "GET /api/workspace" => (Method::GET, "/api/workspace".into()),
            "GET /api/workspace/export" => (Method::GET, "/api/workspace/export".into()),
            "GET /api/customers" => (Method::GET, "/api/customers?q=e".into()),
            "GET /api/customers/{id}" | "PATCH /api/customers/{id}" => {
                let id = match side {
                    Side::A => self.customer_of(self.a, &self.a.cases[0]).await,
                    Side::B => self.customer_of(self.b, &self.b.cases[0]).await,
                    Side::Nowhere => Uuid::now_v7().to_string(),
                };
                if key.starts_with("PATCH") {
                    body = Some(json!({ "notes": "Prefers the phone." }));
                    (Method::PATCH, format!("/api/customers/{id}"))
                } else {
                    (Method::GET, format!("/api/customers/{id}"))
                }
            }
            "POST /api/customers/{id}/merge" => {
                let into = self.customer_of(self.a, &self.a.cases[0]).await;
                let id = match side {
                    Side::A => self.erasable().await,
                    Side::B => self.customer_of(self.b, &self.b.cases[0]).await,
                    Side::Nowhere => Uuid::now_v7().to_string(),
                };
                body = Some(json!({ "into_id": into }));
                (Method::POST, format!("/api/customers/{id}/merge"))
            }
            "POST /api/customers/{id}/merge [into B's customer]" => {
                let into = match side {
                    Side::B => self.customer_of(self.b, &self.b.cases[0]).await,
                    _ => Uuid::now_v7().to_string(),
                };
                body = Some(json!({ "into_id": into }));
                let id = self.erasable().await;
                (Method::POST, format!("/api/customers/{id}/merge"))
            }
            "POST /api/customers/{id}/erase" => {
                let id = match side {
                    Side::A => self.erasable().await,
                    Side::B => self.customer_of(self.b, &self.b.cases[0]).await,
                    Side::Nowhere => Uuid::now_v7().to_string(),
                };
                (Method::POST, format!("/api/customers/{id}/erase"))
            }
            "PATCH /api/workspace" => {
                body = Some(json!({ "reopen_days": 30 }));
                (Method::PATCH, "/api/workspace".into())
            }
            "POST /api/workspace/ingest-token" => {
                (Method::POST, "/api/workspace/ingest-token".into())
            }
            "GET /api/workspace/sso" => (Method::GET, "/api/workspace/sso".into()),
            "PUT /api/workspace/sso" => {
                body = Some(a.sso.clone());
                (Method::PUT, "/api/workspace/sso".into())
            }
            "DELETE /api/workspace/sso" => {
                // Each row deletes a configuration the owner has just put back.
                let owner = &a.members[OWNER].token;
                self.api
                    .ok(owner, "PUT /api/workspace/sso", a.sso.clone())
                    .await;
                (Method::DELETE, "/api/workspace/sso".into())
            }
            "POST /api/sso/start" => {
                let domain = match self.world(side) {
                    Some(w) => format!("{}.test", w.marker),
                    None => format!("nowhere{}.test", Uuid::new_v4().simple()),
                };
                auth = None;
                body = Some(json!({ "email": format!("someone@{domain}") }));
                (Method::POST, "/api/sso/start".into())
            }
            "GET /sso/callback" => {
                auth = None;
                let state = Uuid::new_v4().simple();
                (Method::GET, format!("/sso/callback?code=x&state={state}"))
            }
            "GET /healthz" => (Method::GET, "/healthz".into()),
            "GET /readyz" => (Method::GET, "/readyz".into()),
            "GET /metrics" => (Method::GET, "/metrics".into()),
            "GET /api/openapi.json" => (Method::GET, "/api/openapi.json".into()),
            "GET /ws" => {
                let since = match side {
                    Side::A => None,
                    Side::B => Some(self.b_seq),
                    Side::Nowhere => Some(1_000_000_000),
                };
                return Some(Call::Ws {
                    token: me.token.clone(),
                    since,
                });
            }
            "GET /unsubscribe" | "POST /unsubscribe" => {
                // A link signed for one teammate; another id with that signature is a forgery.
                let own = &self.unsubscribe[&me.id];
                let token = match side {
                    Side::A => own.clone(),
                    _ => format!(
                        "{}.{}",
                        Uuid::parse_str(&t.peer_id).unwrap().simple(),
                        own.split_once('.').unwrap().1
                    ),
                };
                auth = None;
                let method = if key.starts_with("GET") {
                    Method::GET
                } else {
                    Method::POST
                };
                (method, format!("/unsubscribe?t={token}"))
            }
            "GET /api/channels" => (Method::GET, "/api/channels".into()),
            "POST /api/channels" => {
                body = Some(
                    json!({ "kind": "email", "name": "Support", "settings": { "from_name": "Support", "from_address": format!("help.{}@example.com", Uuid::new_v4().simple()) } }),
                );
                (Method::POST, "/api/channels".into())
            }
            // No channel of B exists to name: B's case id stands for an id of another workspace.
            "PATCH /api/channels/{id}" => {
                body = Some(json!({ "name": "Renamed" }));
                (Method::PATCH, format!("/api/channels/{}", t.case))
            }
            "DELETE /api/channels/{id}" => (Method::DELETE, format!("/api/channels/{}", t.case)),
            "POST /api/cases/{case_id}/messages/{message_id}/retry" => (
                Method::POST,
                format!("/api/cases/{}/messages/{}/retry", t.case, t.case),
            ),
            "POST /api/inbound/email" => {
                // The ingest token alone authenticates; a JSON body is refused before it is read
                // as mail (the raw-mail paths are in tests/suite/email.rs).
                auth = Some(self.a_ingest.clone());
                body = Some(json!({ "external_id": t.external_id }));
                (Method::POST, "/api/inbound/email".into())
            }
            // The body is the file; no id is named, so "other" repeats the same upload.
            "POST /api/attachments" => {
                body = Some(json!({ "note": "a file" }));
                (Method::POST, "/api/attachments?filename=note.json".into())
            }
            // No attachment of B exists to name: B's case id stands for an id of another
            // workspace (a real other workspace's file: tests/suite/email.rs).
            "GET /api/attachments/{id}" => (Method::GET, format!("/api/attachments/{}", t.case)),
            "GET /api/webhooks" => (Method::GET, "/api/webhooks".into()),
            "POST /api/webhooks" => {
                body =
                    Some(json!({ "url": "http://127.0.0.1:9/hook", "events": ["case.created"] }));
                (Method::POST, "/api/webhooks".into())
            }
            // No webhook of B exists to name: B's case id stands for an id of another workspace.
            "DELETE /api/webhooks/{id}" => (Method::DELETE, format!("/api/webhooks/{}", t.case)),
            "GET /api/webhooks/{id}/deliveries" => {
                (Method::GET, format!("/api/webhooks/{}/deliveries", t.case))
            }
            "POST /api/webhooks/{id}/deliveries/{delivery_id}/retry" => (
                Method::POST,
                format!("/api/webhooks/{}/deliveries/{}/retry", t.case, t.case),
            ),
            // Twilio's webhooks name a channel and are signed with its token: unsigned, an id of
            // any workspace (none is an SMS channel here) is a 404 like a made-up one.
            "POST /hooks/twilio/{channel_id}" => {
                auth = None;
                (Method::POST, format!("/hooks/twilio/{}", t.case))
            }
            "POST /hooks/twilio/{channel_id}/status" => {
                auth = None;
                (Method::POST, format!("/hooks/twilio/{}/status", t.case))
            }
            "GET /cases/{id}" => (Method::GET, format!("/cases/{}", t.case)),
            _ => return None,
        };
        Some(Call::Http {
            method,
            path,
            body,
            bearer: auth,
        })
    }

    pub(super) async fn send(&mut self, call: Call) -> (Answer, Vec<String>) {
        match call {
            Call::Http {
                method,
                path,
                body,
                bearer,
            } => {
                let mut req = self.http.request(method, format!("{}{path}", self.app.url));
                if let Some(t) = bearer {
                    req = req.bearer_auth(t);
                }
                if let Some(b) = &body {
                    req = req.json(b);
                }
                let r = req.send().await.unwrap();
                let answer = Answer {
                    status: r.status().as_u16().to_string(),
                    body: r.text().await.unwrap_or_default(),
                };
                (answer, atoms_of(&path, body.as_ref()))
            }
            Call::Ws { token, since } => {
                let sent = vec![since.map(|s| s.to_string()).unwrap_or_default()];
                match Ws::connect(&self.app.url, &token, since).await {
                    Ok(mut ws) => {
                        let mut frames = vec![ws.expect("hello", WAIT).await];
                        while let Some(f) = ws.next(Duration::from_millis(200)).await {
                            frames.push(f);
                        }
                        let body = Value::Array(frames).to_string();
                        (
                            Answer {
                                status: "101".into(),
                                body,
                            },
                            sent,
                        )
                    }
                    Err(code) => (
                        Answer {
                            status: code.to_string(),
                            body: String::new(),
                        },
                        sent,
                    ),
                }
            }
        }
    }

    /// Keeps A's ingest token current when a row (or its made-up-id twin) rotates it.
    pub(super) fn follow_rotation(&mut self, key: &str, answer: &Answer) {
        if key == "POST /api/workspace/ingest-token" && answer.status == "200" {
            let v: Value = serde_json::from_str(&answer.body).unwrap();
            self.a_ingest = v["ingest_token"].as_str().unwrap().to_string();
        }
    }

    /// Runs one row; checks what every answer to A must satisfy. Returns the status.
    pub(super) async fn row(&mut self, key: &str, role: usize, side: Side) -> String {
        let label = format!(
            "{key} as {} ({})",
            ROLES[role],
            if side == Side::A { "same" } else { "other" }
        );
        let Some(call) = self.call(key, role, side).await else {
            self.problems
                .push(format!("{key}: the suite builds no request for this route"));
            return "?".into();
        };
        let (answer, sent) = self.send(call).await;
        if answer.status.starts_with('5') {
            self.problems.push(format!(
                "{label}: server error {}: {}",
                answer.status, answer.body
            ));
        }
        let found = leaks(&self.secrets, &sent, &answer.body);
        if !found.is_empty() {
            self.problems.push(format!(
                "{label}: B's data in the answer {found:?}: {}",
                answer.body
            ));
        }
        self.follow_rotation(key, &answer);
        if side == Side::A && answer.status == "200" && key.starts_with("GET /api/") {
            self.own_reads.push((key.to_string(), answer.body.clone()));
        }
        // Another workspace's id must be a made-up id as far as A can tell. Invites are the
        // exception the table notes: an email is unique server-wide.
        if side == Side::B && key != "POST /api/invites" {
            let call = self.call(key, role, Side::Nowhere).await.unwrap();
            let (ghost, sent) = self.send(call).await;
            self.follow_rotation(key, &ghost);
            if ghost.signature() != answer.signature() {
                self.problems.push(format!(
                    "{label}: B's ids answer `{}`, made-up ids `{}`: a caller can tell them apart",
                    answer.signature(),
                    ghost.signature()
                ));
            }
            let found = leaks(&self.secrets, &sent, &ghost.body);
            if !found.is_empty() {
                self.problems.push(format!(
                    "{label} (made-up ids): B's data in the answer {found:?}"
                ));
            }
        }
        answer.status
    }
}

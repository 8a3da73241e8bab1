//! Tenant isolation: a teammate of workspace A, whatever their role, who uses the ids of
//! workspace B gets what a made-up id gets (404 for an id in the path), never B's data, and
//! changes nothing in B.
//!
//! Two workspaces are built side by side, each with an owner, an admin, a manager, an agent and
//! a viewer, cases with messages, a note and a follow-up, a pending invite and a push
//! subscription. Every string of B (names, emails, subjects, message bodies, the push endpoint)
//! carries a marker, and every id of B is known; no answer to A may contain any of them unless A
//! sent it itself.
//!
//! The HTTP matrix takes every operation of the live `/api/openapi.json` plus the routes outside
//! it (`.route(…)` in `src/http/*.rs`, and the web app's deep links), calls each as every role of
//! A with A's ids ("same") and with B's ids ("other"), and compares the statuses with
//! `isolation.table`. A route without rows, or a row without a route, fails the test.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use reqwest::{Client, Method};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::{Db, TestApp, User, Ws};

const TABLE: &str = include_str!("isolation.table");
const ROLES: [&str; 5] = ["owner", "admin", "manager", "agent", "viewer"];
const OWNER: usize = 0;
const AGENT: usize = 3;
const VIEWER: usize = 4;
const WAIT: Duration = Duration::from_secs(10);
/// How long a socket must stay silent to count as having nothing more to say.
const QUIET: Duration = Duration::from_millis(400);

/// Routes that are not in the OpenAPI document: the document itself, the socket, the
/// unsubscribe page and the web app (any other GET serves it, `/cases/{id}` is its deep link).
const OUTSIDE_OPENAPI: [&str; 7] = [
    "GET /api/openapi.json",
    "POST /hooks/twilio/{channel_id}",
    "POST /hooks/twilio/{channel_id}/status",
    "GET /ws",
    "GET /unsubscribe",
    "POST /unsubscribe",
    "GET /cases/{id}",
];

/// The same route with B's id in the body instead of the path (A's own id in the path).
const BODY_VARIANTS: [&str; 4] = [
    "PUT /api/cases/{id}/assignee [B's teammate in body]",
    "POST /api/cases/{id}/messages [note @mentions B's teammate]",
    "DELETE /api/teammates/{id} [reassign_to B's teammate]",
    "POST /api/customers/{id}/merge [into B's customer]",
];

struct Member {
    id: String,
    name: String,
    email: String,
    token: String,
}

/// One workspace and everything in it that the test names.
struct World {
    marker: String,
    password: &'static str,
    name: String,
    ingest: String,
    members: Vec<Member>,
    /// The agent's first name, for `@mentions`.
    agent_first: String,
    cases: Vec<String>,
    numbers: Vec<String>,
    customer_name: String,
    customer_email: String,
    customer_phone: String,
    subject: String,
    text: String,
    external_id: String,
    /// The viewer's push subscription.
    endpoint: String,
    pending_invite: String,
    /// The agent's invite, accepted during setup.
    used_invite: String,
    /// The id of each member's API token (`GET /api/me/sessions`), by role.
    sessions: Vec<String>,
    /// The workspace's saved reply (the agent has one of their own too) and a tag on the first
    /// case.
    saved_reply: String,
    tag: String,
    /// The body that configures its single sign-on (`PUT /api/workspace/sso`).
    sso: Value,
}

fn random_digits(n: usize) -> String {
    let digits: String = Uuid::new_v4()
        .as_u128()
        .to_string()
        .chars()
        .rev()
        .take(n)
        .collect();
    digits
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A push subscription body as a browser sends it (the keys have the right shape; nothing is
/// ever delivered to the loopback endpoint).
fn subscription(endpoint: &str) -> Value {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut p256dh = vec![4u8];
    p256dh.extend((0..64).map(|i| i as u8 + 1));
    json!({ "endpoint": endpoint, "keys": { "p256dh": b64.encode(&p256dh), "auth": b64.encode([7u8; 16]) } })
}

/// Setup and checks over the API with a bearer token: `api.ok(token, "PUT /api/…", body)`.
#[derive(Clone)]
struct Api {
    http: Client,
    base: String,
}

impl Api {
    fn new(app: &TestApp) -> Api {
        Api {
            http: Client::new(),
            base: app.url.clone(),
        }
    }

    /// `what` is "METHOD /path"; a `Null` body sends none.
    async fn call(&self, token: &str, what: &str, body: Value) -> (u16, Value) {
        let (method, path) = what.split_once(' ').unwrap();
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if !body.is_null() {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, token: &str, what: &str, body: Value) -> Value {
        let (status, v) = self.call(token, what, body).await;
        assert!((200..300).contains(&status), "{what}: {status} {v}");
        v
    }
}

impl World {
    async fn build(
        app: &TestApp,
        tag: &str,
        prefix: &str,
        firsts: [&str; 5],
        password: &'static str,
    ) -> World {
        let api = Api::new(app);
        let marker = format!(
            "{}q{}",
            tag.to_lowercase(),
            &Uuid::new_v4().simple().to_string()[..10]
        );
        let email_of = |first: &str| format!("{}.{marker}@example.com", first.to_lowercase());
        let name = format!("{tag} Corp {marker}");

        let first_user = User::new(app);
        let r = first_user
            .post(
                "/api/signup",
                json!({ "workspace_name": name, "name": format!("{} {marker}", firsts[0]), "email": email_of(firsts[0]), "password": password }),
            )
            .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let ingest = v["workspace"]["ingest_token"].as_str().unwrap().to_string();
        let owner = Member {
            id: v["teammate"]["id"].as_str().unwrap().to_string(),
            name: format!("{} {marker}", firsts[0]),
            email: email_of(firsts[0]),
            token: first_user.api_token().await,
        };
        api.ok(
            &owner.token,
            "PATCH /api/workspace",
            json!({ "case_prefix": prefix }),
        )
        .await;

        let owner_token = owner.token.clone();
        let invite = |first: &str, role: &str| {
            let body = json!({ "email": email_of(first), "name": format!("{first} {marker}"), "role": role });
            let (api, token) = (api.clone(), owner_token.clone());
            async move {
                api.ok(&token, "POST /api/invites", body).await["token"]
                    .as_str()
                    .unwrap()
                    .to_string()
            }
        };
        let mut members = vec![];
        let mut used_invite = String::new();
        for (role, first) in ROLES.iter().zip(firsts).skip(1) {
            let token = invite(first, role).await;
            let user = User::new(app);
            let r = user
                .post(
                    &format!("/api/invites/{token}/accept"),
                    json!({ "password": password }),
                )
                .await;
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            members.push(Member {
                id: v["teammate"]["id"].as_str().unwrap().to_string(),
                name: format!("{first} {marker}"),
                email: email_of(first),
                token: user.api_token().await,
            });
            if *role == "agent" {
                used_invite = token;
            }
        }
        members.insert(0, owner);
        let pending_invite = invite("Pending", "viewer").await;
        let mut sessions = vec![];
        for m in &members {
            let v = api.ok(&m.token, "GET /api/me/sessions", Value::Null).await;
            let current = v["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["current"] == true);
            sessions.push(current.unwrap()["id"].as_str().unwrap().to_string());
        }

        let customer_name = format!("Carla {marker}");
        let customer_email = format!("carla.{marker}@example.com");
        let customer_phone = format!("+1555{}", random_digits(7));
        let subject = format!("Invoice {marker}");
        let text = format!("Where is my order {marker}?");
        let external_id = format!("ext-{}", Uuid::new_v4().simple());
        let mut cases = vec![];
        let mut numbers = vec![];
        for body in [
            json!({ "channel": "email", "from": { "name": customer_name, "email": customer_email, "phone": customer_phone }, "subject": subject, "body": text, "external_id": external_id }),
            // Both workspaces receive this external id: deduplication is per workspace.
            json!({ "channel": "web", "from": { "name": format!("Second {marker}"), "email": format!("second.{marker}@example.com") }, "body": format!("A second question {marker}"), "external_id": "shared-external-id" }),
            json!({ "channel": "sms", "from": { "name": format!("Third {marker}"), "phone": format!("+1666{}", random_digits(7)) }, "body": format!("Closed matter {marker}") }),
        ] {
            let r = app.inbound(&ingest, body).await;
            assert_eq!(
                r.status(),
                201,
                "each message makes a new case in its own workspace"
            );
            let v: Value = r.json().await.unwrap();
            cases.push(v["case_id"].as_str().unwrap().to_string());
            numbers.push(v["number"].as_str().unwrap().to_string());
        }
        let (owner, agent) = (&members[OWNER].token, &members[AGENT].token);
        let c1 = &cases[0];
        api.ok(
            owner,
            &format!("PUT /api/cases/{c1}/assignee"),
            json!({ "assignee_id": members[AGENT].id }),
        )
        .await;
        api.ok(
            agent,
            &format!("POST /api/cases/{c1}/messages"),
            json!({ "kind": "reply", "body": format!("On its way {marker}") }),
        )
        .await;
        let mention = firsts[AGENT].to_lowercase();
        let note =
            json!({ "kind": "note", "body": format!("@{mention} check the invoice {marker}") });
        api.ok(owner, &format!("POST /api/cases/{c1}/messages"), note)
            .await;
        api.ok(
            &members[2].token,
            &format!("PUT /api/cases/{c1}/follow-up"),
            json!({ "due_at": "2099-01-01T00:00:00Z" }),
        )
        .await;
        api.ok(agent, &format!("POST /api/cases/{c1}/read"), Value::Null)
            .await;
        api.ok(
            owner,
            &format!("PUT /api/cases/{}/status", cases[2]),
            json!({ "status": "won" }),
        )
        .await;
        let reply = json!({ "name": format!("Greeting {marker}"), "scope": "workspace", "body": format!("Hello {{{{customer.first_name}}}} {marker}") });
        let saved_reply = api.ok(owner, "POST /api/saved-replies", reply).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let reply = json!({ "name": format!("Mine {marker}"), "body": format!("Cheers {marker}") });
        api.ok(agent, "POST /api/saved-replies", reply).await;
        let tagged = api
            .ok(
                agent,
                &format!("POST /api/cases/{c1}/tags"),
                json!({ "name": format!("Vip {marker}") }),
            )
            .await;
        let tag = tagged["tags"][0]["id"].as_str().unwrap().to_string();
        let endpoint = format!("http://127.0.0.1:9/push/{marker}");
        api.ok(
            &members[VIEWER].token,
            "POST /api/push/subscriptions",
            subscription(&endpoint),
        )
        .await;

        // Single sign-on, configured but off: its settings carry the marker, and a sign-in for
        // its domain gets what a sign-in for any other domain gets.
        let sso = json!({
            "issuer": format!("http://127.0.0.1:9/{marker}"),
            "client_id": format!("client-{marker}"),
            "client_secret": format!("secret-{marker}"),
            "domains": [format!("{marker}.test")],
            "join_role": "agent",
            "enabled": false,
        });
        api.ok(&members[OWNER].token, "PUT /api/workspace/sso", sso.clone())
            .await;

        World {
            sso,
            marker,
            password,
            name,
            ingest,
            members,
            agent_first: firsts[AGENT].to_string(),
            cases,
            numbers,
            customer_name,
            customer_email,
            customer_phone,
            subject,
            text,
            external_id,
            endpoint,
            pending_invite,
            used_invite,
            sessions,
            saved_reply,
            tag,
        }
    }

    /// Everything B's own teammates can see of B, and B's log position: equal before and after
    /// A's attempts, or A changed something in B.
    async fn snapshot(&self, app: &TestApp) -> Value {
        let api = Api::new(app);
        let owner = &self.members[OWNER].token;
        let get = |path: String| {
            let api = api.clone();
            async move { api.ok(owner, &format!("GET {path}"), Value::Null).await }
        };
        let mut lists = BTreeMap::new();
        let mut details = BTreeMap::new();
        for filter in ["open", "unread", "closed"] {
            let list = get(format!("/api/cases?view=all&filter={filter}")).await;
            for case in list["cases"].as_array().unwrap() {
                let id = case["id"].as_str().unwrap().to_string();
                details.insert(id.clone(), get(format!("/api/cases/{id}")).await);
            }
            lists.insert(filter, list);
        }
        let mut members = vec![];
        for m in &self.members {
            let me = api.ok(&m.token, "GET /api/me", Value::Null).await;
            let mut ws = Ws::connect(&app.url, &m.token, None)
                .await
                .expect("connect");
            let hello = ws.expect("hello", WAIT).await;
            members.push(json!({ "me": me, "seq": hello["seq"], "badge": hello["badge"] }));
        }
        json!({
            "workspace": get("/api/workspace".into()).await,
            "teammates": get("/api/teammates".into()).await,
            "rules": get("/api/assign-rules".into()).await,
            "counts": get("/api/cases/counts".into()).await,
            "saved_replies": get("/api/saved-replies".into()).await,
            "agent_replies": api.ok(&self.members[AGENT].token, "GET /api/saved-replies", Value::Null).await,
            "tags": get("/api/tags".into()).await,
            "lists": lists,
            "cases": details,
            "members": members,
        })
    }

    /// What must never reach A: the marker (in every name, email, subject and text of this
    /// workspace), every id this workspace's own teammates can see, its case numbers and its
    /// ingest token.
    fn secrets(&self, snapshot: &Value, other: &World) -> BTreeSet<String> {
        assert!(
            !snapshot.to_string().contains(&other.marker),
            "this workspace's own view already holds the other's data: {snapshot:#}"
        );
        fn ids(v: &Value, out: &mut BTreeSet<String>) {
            match v {
                Value::String(s) if Uuid::parse_str(s).is_ok() => {
                    out.insert(s.clone());
                }
                Value::Array(a) => a.iter().for_each(|v| ids(v, out)),
                Value::Object(o) => o.values().for_each(|v| ids(v, out)),
                _ => {}
            }
        }
        let mut out = BTreeSet::new();
        ids(snapshot, &mut out);
        out.insert(self.marker.clone());
        out.insert(self.ingest.clone());
        out.extend(self.numbers.iter().cloned());
        out
    }

    fn member_ids(&self) -> BTreeSet<String> {
        self.members.iter().map(|m| m.id.clone()).collect()
    }
}

/// B's strings found in `body` that A did not send itself: each string A sent (a path segment,
/// a query value, a JSON string of the body) is taken out of the answer before looking.
fn leaks(secrets: &BTreeSet<String>, sent: &[String], body: &str) -> Vec<String> {
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

fn atoms_of(path: &str, body: Option<&Value>) -> Vec<String> {
    fn strings(v: &Value, out: &mut Vec<String>) {
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
enum Side {
    A,
    B,
    /// Made-up ids that name nothing anywhere.
    Nowhere,
}

/// What a request names, taken from one side.
struct Target {
    case: String,
    /// The agent: an assignable teammate with open cases.
    teammate: String,
    teammate_name: String,
    teammate_first: String,
    teammate_email: String,
    customer_email: String,
    external_id: String,
    endpoint: String,
    used_invite: String,
    workspace_name: String,
    /// The second case (snoozed and woken by the rows), a saved reply, a tag.
    case2: String,
    saved_reply: String,
    tag: String,
    /// The teammate of the caller's role, for sign-in and unsubscribe links.
    peer_id: String,
    peer_email: String,
    /// A session of the teammate of the caller's role.
    session: String,
}

enum Call {
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

struct Answer {
    status: String,
    body: String,
}

impl Answer {
    /// What tells one answer from another without reading data: status, error code and field.
    fn signature(&self) -> String {
        let v: Value = serde_json::from_str(&self.body).unwrap_or(Value::Null);
        format!(
            "{} {} {}",
            self.status,
            v["error"]["code"].as_str().unwrap_or("-"),
            v["error"]["field"].as_str().unwrap_or("-")
        )
    }
}

struct Matrix<'a> {
    app: &'a TestApp,
    http: Client,
    api: Api,
    a: &'a World,
    b: &'a World,
    /// A's ingest token: a row may rotate it.
    a_ingest: String,
    b_seq: i64,
    unsubscribe: HashMap<String, String>,
    secrets: BTreeSet<String>,
    problems: Vec<String>,
    /// (row, body) of A's successful reads of its own data: the marker check must see A's marker
    /// there, or it could not see B's either.
    own_reads: Vec<(String, String)>,
}

impl<'a> Matrix<'a> {
    fn world(&self, side: Side) -> Option<&'a World> {
        match side {
            Side::A => Some(self.a),
            Side::B => Some(self.b),
            Side::Nowhere => None,
        }
    }

    fn target(&self, side: Side, role: usize) -> Target {
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
    async fn removable(&self) -> String {
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
    async fn pending_invite(&self) -> String {
        let email = format!("joining.{}@example.com", Uuid::new_v4().simple());
        let name = format!("Joining {}", self.a.marker);
        let invite = json!({ "email": email, "name": name, "role": "agent" });
        let owner = &self.a.members[OWNER].token;
        let v = self.api.ok(owner, "POST /api/invites", invite).await;
        v["token"].as_str().unwrap().to_string()
    }

    /// A new customer of A that a row may erase (so A's own customer stays for later rows).
    async fn erasable(&self) -> String {
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
    async fn customer_of(&self, w: &World, case: &str) -> String {
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
    async fn call(&mut self, key: &str, role: usize, side: Side) -> Option<Call> {
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

    async fn send(&mut self, call: Call) -> (Answer, Vec<String>) {
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
    fn follow_rotation(&mut self, key: &str, answer: &Answer) {
        if key == "POST /api/workspace/ingest-token" && answer.status == "200" {
            let v: Value = serde_json::from_str(&answer.body).unwrap();
            self.a_ingest = v["ingest_token"].as_str().unwrap().to_string();
        }
    }

    /// Runs one row; checks what every answer to A must satisfy. Returns the status.
    async fn row(&mut self, key: &str, role: usize, side: Side) -> String {
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

/// One expectation: action, role, scope → status.
type Rows = Vec<(String, String, String, String)>;

fn parse_table(text: &str) -> Rows {
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            assert!(
                words.len() >= 5,
                "isolation.table: a row needs method, path, role, scope and status: {l}"
            );
            let n = words.len();
            (
                words[..n - 3].join(" "),
                words[n - 3].into(),
                words[n - 2].into(),
                words[n - 1].into(),
            )
        })
        .collect()
}

fn render(rows: &Rows) -> String {
    let header: String = TABLE
        .lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let mut out = header.trim_end().to_string();
    out.push('\n');
    let mut last = "";
    for (action, role, scope, status) in rows {
        if action != last {
            out.push('\n');
            last = action;
        }
        out.push_str(&format!("{action:<60} {role:<8} {scope:<6} {status}\n"));
    }
    out
}

/// Paths given to `.route(…)` in `src/http/*.rs`: the routes the OpenAPI document does not list
/// must be in `OUTSIDE_OPENAPI`.
fn routes_in_source() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for piece in text.split(".route(").skip(1) {
            if let Some(path) = piece
                .trim_start()
                .strip_prefix('"')
                .and_then(|p| p.split('"').next())
            {
                out.insert(path.to_string());
            }
        }
    }
    out
}

async fn spec_operations(app: &TestApp) -> Vec<String> {
    let spec: Value = Client::new()
        .get(format!("{}/api/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = vec![];
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if ops.get(method).is_some() {
                out.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    out
}

/// Valid unsubscribe links for these teammates, signed as the server signs the ones it emails.
async fn unsubscribe_links(
    app: &TestApp,
    ids: impl Iterator<Item = String>,
) -> HashMap<String, String> {
    let store = baton::store::connect(&app.db_url).await.expect("store");
    let config = baton::Config {
        data_dir: tempfile::tempdir().unwrap().keep(),
        ..baton::Config::default()
    };
    let notifier = baton::notify::Notifier::new(&config, &store, &app.url)
        .await
        .expect("notifier");
    ids.map(|id| {
        let token = notifier.unsubscribe_token(Uuid::parse_str(&id).unwrap());
        (id, token)
    })
    .collect()
}

async fn two_worlds(app: &TestApp) -> (World, World) {
    let a = World::build(
        app,
        "A",
        "AQ",
        ["Olivia", "Adam", "Maya", "Dana", "Victor"],
        "correct horse battery",
    )
    .await;
    let b = World::build(
        app,
        "B",
        "BQ",
        ["Oscar", "Beth", "Mona", "Zelda", "Vera"],
        "staple battery horse b",
    )
    .await;
    (a, b)
}

on_both!(
    every_route_for_every_role_matches_the_isolation_table,
    every_route_for_every_role_matches_the_isolation_table_on
);
async fn every_route_for_every_role_matches_the_isolation_table_on(db: Db) {
    let expected = parse_table(TABLE);
    let started = std::time::Instant::now();
    let app = TestApp::spawn(db).await;
    let (a, b) = two_worlds(&app).await;
    // B's own emailed reply settles (queued -> sent) in the background: wait for it, so
    // that the only changes to B left to see are A's doing.
    let mut before = b.snapshot(&app).await;
    for _ in 0..100 {
        if !before.to_string().contains("\"queued\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        before = b.snapshot(&app).await;
    }
    let secrets = b.secrets(&before, &a);

    let ops = spec_operations(&app).await;
    let mut problems = vec![];
    for path in routes_in_source() {
        if !OUTSIDE_OPENAPI
            .iter()
            .any(|k| k.ends_with(&format!(" {path}")))
        {
            problems.push(format!(
                "route {path} (src/http) is neither in the OpenAPI document nor in \
                 OUTSIDE_OPENAPI"
            ));
        }
    }
    let mut keys: Vec<(String, Vec<Side>)> = ops
        .iter()
        .map(|k| k.as_str())
        .chain(OUTSIDE_OPENAPI)
        .map(|k| (k.to_string(), vec![Side::A, Side::B]))
        .collect();
    keys.extend(BODY_VARIANTS.iter().map(|k| (k.to_string(), vec![Side::B])));

    let mut m = Matrix {
        app: &app,
        http: Client::new(),
        api: Api::new(&app),
        a: &a,
        b: &b,
        a_ingest: a.ingest.clone(),
        b_seq: before["members"][0]["seq"].as_i64().unwrap(),
        unsubscribe: unsubscribe_links(&app, a.members.iter().map(|m| m.id.clone())).await,
        secrets: secrets.clone(),
        problems: vec![],
        own_reads: vec![],
    };
    let mut actual: Rows = vec![];
    for (key, sides) in &keys {
        for (role, name) in ROLES.iter().enumerate() {
            for side in sides {
                let status = m.row(key, role, *side).await;
                let scope = if *side == Side::A { "same" } else { "other" };
                actual.push((key.clone(), (*name).into(), scope.into(), status));
            }
        }
    }
    problems.append(&mut m.problems);

    // The marker check can see: A's own reads carry A's marker where they hold A's data.
    for key in [
        "GET /api/cases",
        "GET /api/cases/{id}",
        "GET /api/teammates",
        "GET /api/workspace",
    ] {
        let seen = m
            .own_reads
            .iter()
            .filter(|(k, body)| k == key && body.contains(&a.marker))
            .count();
        assert_eq!(
            seen,
            ROLES.len(),
            "{key}: every role reads A's own data, marker included"
        );
    }

    let table_diff = diff(&expected, &actual);
    if !table_diff.is_empty() {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("isolation.table.actual");
        std::fs::write(&path, render(&actual)).unwrap();
        problems.push(format!(
            "{db:?}: the answers differ from tests/suite/isolation.table (- expected, + actual):\n{}\nThe whole table as observed: {}",
            table_diff.join("\n"),
            path.display()
        ));
    }

    let after = b.snapshot(&app).await;
    let mut changed = vec![];
    differences("B", &before, &after, &mut changed);
    if !changed.is_empty() {
        problems.push(format!(
            "{db:?}: B changed under A's calls:\n{}",
            changed.join("\n")
        ));
    }
    // What the snapshot cannot show: B's subscription, pending invite and passwords are
    // still B's.
    let api = Api::new(&app);
    let (status, _) = api
        .call(
            &b.members[VIEWER].token,
            "DELETE /api/push/subscriptions",
            json!({ "endpoint": b.endpoint }),
        )
        .await;
    assert_eq!(status, 204, "B's viewer still holds its push subscription");
    let (status, v) = api
        .call(
            "-",
            &format!("POST /api/invites/{}/accept", b.pending_invite),
            json!({ "password": b.password }),
        )
        .await;
    assert_eq!(
        (status, v["workspace"]["name"].as_str()),
        (200, Some(b.name.as_str())),
        "B's pending invite still joins B"
    );
    for member in &b.members {
        let (status, _) = api
            .call(
                "-",
                "POST /api/session",
                json!({ "email": member.email, "password": b.password }),
            )
            .await;
        assert_eq!(status, 200, "{} still signs in", member.email);
    }

    assert!(
        problems.is_empty(),
        "{db:?}: {} problems:\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    eprintln!(
        "isolation table on {db:?}: {} rows in {:.1?}",
        actual.len(),
        started.elapsed()
    );
    app.stop().await;
}

/// The places where two JSON documents differ, as `path: before -> after`.
fn differences(path: &str, before: &Value, after: &Value, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()).collect::<BTreeSet<_>>() {
                let (p, q) = (x.get(k), y.get(k));
                differences(
                    &format!("{path}.{k}"),
                    p.unwrap_or(&Value::Null),
                    q.unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), p, q, out);
            }
        }
        _ if before != after => out.push(format!("{path}: {before} -> {after}")),
        _ => {}
    }
}

/// Rows whose status differs, and rows only one side has, in table order.
fn diff(expected: &Rows, actual: &Rows) -> Vec<String> {
    let key = |r: &(String, String, String, String)| (r.0.clone(), r.1.clone(), r.2.clone());
    let exp: BTreeMap<_, _> = expected.iter().map(|r| (key(r), r.3.clone())).collect();
    let act: BTreeMap<_, _> = actual.iter().map(|r| (key(r), r.3.clone())).collect();
    let line = |(a, r, s): &(String, String, String), status: &str| {
        format!("{a:<60} {r:<8} {s:<6} {status}")
    };
    let mut out = vec![];
    for row in actual {
        let k = key(row);
        match exp.get(&k) {
            Some(e) if *e == row.3 => {}
            Some(e) => {
                out.push(format!("- {}", line(&k, e)));
                out.push(format!("+ {}", line(&k, &row.3)));
            }
            None => out.push(format!("+ {}", line(&k, &row.3))),
        }
    }
    for row in expected {
        let k = key(row);
        if !act.contains_key(&k) {
            out.push(format!(
                "- {}   (no such route or row any more)",
                line(&k, &row.3)
            ));
        }
    }
    out
}

async fn online(app: &TestApp, member: &Member) -> Ws {
    let mut ws = Ws::connect(&app.url, &member.token, None)
        .await
        .expect("connect");
    ws.expect("hello", WAIT).await;
    ws
}

/// Every frame each socket receives until all of them have been quiet for `QUIET`.
async fn drain(sockets: &mut [Ws]) -> Vec<Vec<Value>> {
    futures_util::future::join_all(sockets.iter_mut().map(|ws| async move {
        let mut frames = vec![];
        while let Some(f) = ws.next(QUIET).await {
            frames.push(f);
        }
        frames
    }))
    .await
}

/// Frames up to and including the first one that `last` accepts.
async fn frames_until(ws: &mut Ws, what: &str, last: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut out = vec![];
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = ws
            .next(left)
            .await
            .unwrap_or_else(|| panic!("no {what} within {WAIT:?}; got {out:?}"));
        let done = last(&frame);
        out.push(frame);
        if done {
            return out;
        }
    }
}

fn kinds(frames: &[Value]) -> BTreeSet<String> {
    frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or("?").to_string())
        .collect()
}

on_both!(
    sockets_carry_nothing_from_one_workspace_to_the_other,
    sockets_carry_nothing_from_one_workspace_to_the_other_on
);
async fn sockets_carry_nothing_from_one_workspace_to_the_other_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let (a, b) = two_worlds(&app).await;
    let secrets = b.secrets(&b.snapshot(&app).await, &a);
    let api = Api::new(&app);
    let mut a_ws = vec![];
    for m in &a.members {
        a_ws.push(online(&app, m).await);
    }
    let mut b_ws = vec![
        online(&app, &b.members[OWNER]).await,
        online(&app, &b.members[AGENT]).await,
    ];
    drain(&mut a_ws).await;
    drain(&mut b_ws).await;

    // B at work: events, badges and presence, every kind of frame a socket can carry.
    let (bo, ba) = (&b.members[OWNER].token, &b.members[AGENT].token);
    let r = app
        .inbound(&b.ingest, json!({ "channel": "chat", "from": { "name": format!("Newcomer {}", b.marker), "email": format!("newcomer.{}@example.com", b.marker) }, "subject": format!("Refund {}", b.marker), "body": format!("I want a refund {}", b.marker) }))
        .await;
    assert_eq!(r.status(), 201);
    let fresh = r.json::<Value>().await.unwrap()["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    let case = |tail: &str| format!("/api/cases/{fresh}/{tail}");
    api.ok(
        ba,
        &format!("PUT {}", case("assignee")),
        json!({ "assignee_id": b.members[AGENT].id }),
    )
    .await;
    api.ok(
        bo,
        &format!("POST {}", case("messages")),
        json!({ "kind": "note", "body": format!("@zelda refund it {}", b.marker) }),
    )
    .await;
    api.ok(
        ba,
        &format!("POST {}", case("messages")),
        json!({ "kind": "reply", "body": format!("Refunded {}", b.marker) }),
    )
    .await;
    api.ok(
        ba,
        &format!("PUT {}", case("status")),
        json!({ "status": "on_hold" }),
    )
    .await;
    api.ok(
        ba,
        &format!("PUT {}", case("follow-up")),
        json!({ "due_at": "2099-01-01T00:00:00Z" }),
    )
    .await;
    api.ok(
        bo,
        "PATCH /api/workspace",
        json!({ "name": format!("B Renamed {}", b.marker) }),
    )
    .await;
    api.ok(
        bo,
        "PUT /api/assign-rules",
        json!({ "mode": "round_robin", "pool": [b.members[AGENT].id] }),
    )
    .await;
    api.ok(
        bo,
        "POST /api/cases/bulk-reassign",
        json!({ "from": b.members[AGENT].id, "to": null }),
    )
    .await;
    api.ok(
        bo,
        &format!("PATCH /api/teammates/{}", b.members[2].id),
        json!({ "away": true }),
    )
    .await;
    let email = format!("newbie.{}@example.com", b.marker);
    let invite = json!({ "email": email, "name": format!("Newbie {}", b.marker), "role": "agent" });
    let token = api.ok(bo, "POST /api/invites", invite).await["token"].clone();
    let accept = format!("POST /api/invites/{}/accept", token.as_str().unwrap());
    api.ok("-", &accept, json!({ "password": b.password }))
        .await;
    b_ws[0]
        .send(json!({ "type": "viewing", "case_id": fresh }))
        .await;
    b_ws[1]
        .send(json!({ "type": "typing", "case_id": fresh }))
        .await;
    let mut visit = Ws::connect(&app.url, &b.members[VIEWER].token, None)
        .await
        .unwrap();
    let b_head = visit.expect("hello", WAIT).await["seq"].as_i64().unwrap();
    drop(visit);

    // B's owner sees all of it, so it was all sent; A's sockets get none of it.
    let mut seen = frames_until(&mut b_ws[0], "B's latest event", |f| {
        f["seq"] == b_head && f["type"] == "event"
    })
    .await;
    seen.extend(drain(&mut b_ws).await.concat());
    assert!(
        ["event", "badge", "presence"]
            .iter()
            .all(|k| kinds(&seen).contains(*k)),
        "B's activity made events, badges and presence: {:?}",
        kinds(&seen)
    );
    let r = app
        .inbound(&a.ingest, json!({ "channel": "chat", "from": { "name": a.customer_name, "email": format!("sentinel.{}@example.com", a.marker) }, "body": format!("Hello {}", a.marker) }))
        .await;
    let sentinel = r.json::<Value>().await.unwrap()["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut a_frames = vec![];
    for (role, ws) in a_ws.iter_mut().enumerate() {
        let got = frames_until(ws, "A's own new case", |f| {
            f["type"] == "event" && f["event"]["case_id"] == sentinel.as_str()
        })
        .await;
        assert_eq!(
            got.len(),
            1,
            "A's {} received frames from B's activity before A's own next event: {got:#?}",
            ROLES[role]
        );
        a_frames.push(got);
    }
    for (role, frames) in drain(&mut a_ws).await.into_iter().enumerate() {
        a_frames[role].extend(frames);
    }
    let a_head = a_frames[0]
        .iter()
        .filter_map(|f| f["seq"].as_i64())
        .max()
        .unwrap();
    for (role, frames) in a_frames.iter().enumerate() {
        let text = Value::Array(frames.clone()).to_string();
        assert!(
            leaks(&secrets, &[], &text).is_empty(),
            "A's {} socket: B's data {:?} in {text}",
            ROLES[role],
            leaks(&secrets, &[], &text)
        );
    }

    // A's sockets name B's case and B's log; B's sockets hear nothing of it.
    assert!(
        b_head > a_head,
        "B's log ({b_head}) is ahead of A's ({a_head}), so B's seq means nothing to A"
    );
    let b_case = b.cases[0].clone();
    for ws in a_ws.iter_mut() {
        for frame in [
            json!({ "type": "viewing", "case_id": b_case }),
            json!({ "type": "typing", "case_id": b_case }),
            json!({ "type": "resume", "since": b_head }),
            json!({ "type": "resume", "since": 0 }),
            json!({ "type": "ping" }),
        ] {
            ws.send(frame).await;
        }
    }
    let a_member_ids = a.member_ids();
    let mut a_cases: BTreeSet<String> = a.cases.iter().cloned().collect();
    a_cases.insert(sentinel.clone());
    for (role, ws) in a_ws.iter_mut().enumerate() {
        let mut frames = frames_until(ws, "pong", |f| f["type"] == "pong").await;
        frames.extend(drain(std::slice::from_mut(ws)).await.concat());
        let who = ROLES[role];
        let text = Value::Array(frames.clone()).to_string();
        let found = leaks(&secrets, std::slice::from_ref(&b_case), &text);
        assert!(found.is_empty(), "A's {who}: B's data {found:?} in {text}");
        let resync = frames
            .iter()
            .position(|f| f["type"] == "resync")
            .expect("resuming from B's seq: resync");
        assert_eq!(frames[resync]["reason"], "unknown_seq", "{who}");
        let resumed = frames
            .iter()
            .position(|f| f["type"] == "resumed")
            .expect("resume from 0");
        assert_eq!(frames[resumed]["since"], 0);
        let replay: Vec<&Value> = frames[resumed..]
            .iter()
            .filter(|f| f["type"] == "event")
            .collect();
        let seqs: Vec<i64> = replay.iter().map(|f| f["seq"].as_i64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=a_head).collect::<Vec<_>>(),
            "{who}: A's whole log, A's only"
        );
        for f in &replay {
            if let Some(case) = f["event"]["case_id"].as_str() {
                assert!(a_cases.contains(case), "{who}: replay names case {case}");
            }
        }
        for f in frames.iter().filter(|f| f["type"] == "presence") {
            let teammate = f["teammate_id"].as_str().unwrap();
            assert!(
                a_member_ids.contains(teammate),
                "{who}: presence of {teammate} in A"
            );
        }
    }
    // B's own replies may finish sending while this runs: a `message.delivery` on a case
    // that B's owner can open is B's to hear; anything else is A's.
    let mut b_heard: Vec<Value> = Vec::new();
    for f in drain(&mut b_ws).await.concat() {
        if f["event"]["kind"] == "message.delivery" {
            let case = f["event"]["case_id"].as_str().unwrap_or("");
            let (status, _) = api
                .call(
                    &b.members[OWNER].token,
                    &format!("GET /api/cases/{case}"),
                    Value::Null,
                )
                .await;
            if status == 200 {
                continue;
            }
        }
        b_heard.push(f);
    }
    assert!(
        b_heard.is_empty(),
        "B's sockets heard A's frames: {b_heard:#?}"
    );
    let b_ids = b.member_ids();
    for (world, ids, other) in [(&b, &b_ids, &a_member_ids), (&a, &a_member_ids, &b_ids)] {
        let online = api
            .ok(
                &world.members[OWNER].token,
                "GET /api/presence",
                Value::Null,
            )
            .await;
        for p in online["online"].as_array().unwrap() {
            let teammate = p["teammate_id"].as_str().unwrap();
            assert!(
                ids.contains(teammate) && !other.contains(teammate),
                "presence lists {teammate}: {online}"
            );
        }
    }
    let b_online = api
        .ok(bo, "GET /api/presence", Value::Null)
        .await
        .to_string();
    assert!(
        !b_online.contains(&b_case),
        "nobody in B views B's first case: A's viewing did not land in B: {b_online}"
    );
    app.stop().await;
}

on_both!(
    lists_search_and_counts_stay_inside_their_workspace,
    lists_search_and_counts_stay_inside_their_workspace_on
);
async fn lists_search_and_counts_stay_inside_their_workspace_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let (a, b) = two_worlds(&app).await;
    let (a_secrets, b_secrets) = (
        a.secrets(&a.snapshot(&app).await, &b),
        b.secrets(&b.snapshot(&app).await, &a),
    );
    let api = Api::new(&app);
    for (me, other, secrets) in [(&a, &b, &b_secrets), (&b, &a, &a_secrets)] {
        let own: BTreeSet<String> = me.cases.iter().cloned().collect();
        let get = |token: String, path: String| {
            let api = api.clone();
            async move {
                let v = api.ok(&token, &format!("GET {path}"), Value::Null).await;
                let found = leaks(secrets, &atoms_of(&path, None), &v.to_string());
                assert!(
                    found.is_empty(),
                    "{path}: the other workspace's {found:?} in {v}"
                );
                v
            }
        };
        let ids = |v: &Value| -> BTreeSet<String> {
            v["cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string())
                .collect()
        };
        for (role, m) in me.members.iter().enumerate() {
            let who = format!("{} of {}", ROLES[role], me.name);
            let counts = get(m.token.clone(), "/api/cases/counts".into()).await;
            let mut all = BTreeSet::new();
            for view in ["mine", "unassigned", "all"] {
                for filter in ["open", "unread", "closed"] {
                    let list = ids(&get(
                        m.token.clone(),
                        format!("/api/cases?view={view}&filter={filter}"),
                    )
                    .await);
                    assert!(
                        list.is_subset(&own),
                        "{who}: {view}/{filter} lists {list:?}"
                    );
                    assert_eq!(
                        counts[view][filter],
                        list.len(),
                        "{who}: {view}/{filter} count"
                    );
                    if view == "all" && filter != "unread" {
                        all.extend(list);
                    }
                }
            }
            assert_eq!(
                all, own,
                "{who}: open and closed together are exactly the workspace's cases"
            );

            // Search finds one's own customer by every field, and the other's by none.
            let search = |q: &str| format!("/api/cases?view=all&filter=open&q={}", enc(q));
            for (mine, theirs) in [
                (&me.customer_email, &other.customer_email),
                (&me.customer_name, &other.customer_name),
                (&me.customer_phone, &other.customer_phone),
                (&me.subject, &other.subject),
                (&me.text, &other.text),
                (&me.numbers[0], &other.numbers[0]),
                (&me.marker, &other.marker),
            ] {
                let found = ids(&get(m.token.clone(), search(mine)).await);
                assert!(
                    found.contains(&me.cases[0]),
                    "{who}: searching {mine} finds the own case"
                );
                let found = ids(&get(m.token.clone(), search(theirs)).await);
                assert!(
                    found.is_empty(),
                    "{who}: searching the other workspace's {theirs} finds {found:?}"
                );
            }
            // A cursor built on the other workspace's case pages through one's own cases only.
            use base64::Engine;
            let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
                "{}:{}",
                chrono::Utc::now().timestamp_millis() + 60_000,
                other.cases[0]
            ));
            let page = ids(&get(
                m.token.clone(),
                format!("/api/cases?view=all&filter=open&cursor={cursor}"),
            )
            .await);
            assert!(page.is_subset(&own) && !page.is_empty(), "{who}: {page:?}");

            let mates = get(
                m.token.clone(),
                format!("/api/teammates?q={}", enc(&other.marker)),
            )
            .await;
            assert_eq!(
                mates["teammates"],
                json!([]),
                "{who}: the other workspace's teammates"
            );
            let mates = get(m.token.clone(), "/api/teammates?assignable=true".into()).await;
            let own_team = me.member_ids();
            for t in mates["teammates"].as_array().unwrap() {
                assert!(own_team.contains(t["id"].as_str().unwrap()), "{who}: {t}");
            }
        }
    }
    app.stop().await;
}

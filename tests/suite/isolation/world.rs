//! The two workspaces side by side: every role, cases with messages, a note, a follow-up, a
//! pending invite and a push subscription, B's strings marked and B's ids known.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use reqwest::{Client, Method};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{AGENT, OWNER, ROLES, VIEWER, WAIT};
use crate::common::{TestApp, User, Ws};

pub(super) struct Member {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) token: String,
}

/// One workspace and everything in it that the test names.
pub(super) struct World {
    pub(super) marker: String,
    pub(super) password: &'static str,
    pub(super) name: String,
    pub(super) ingest: String,
    pub(super) members: Vec<Member>,
    /// The agent's first name, for `@mentions`.
    pub(super) agent_first: String,
    pub(super) cases: Vec<String>,
    pub(super) numbers: Vec<String>,
    pub(super) customer_name: String,
    pub(super) customer_email: String,
    pub(super) customer_phone: String,
    pub(super) subject: String,
    pub(super) text: String,
    pub(super) external_id: String,
    /// The viewer's push subscription.
    pub(super) endpoint: String,
    pub(super) pending_invite: String,
    /// The agent's invite, accepted during setup.
    pub(super) used_invite: String,
    /// The id of each member's API token (`GET /api/me/sessions`), by role.
    pub(super) sessions: Vec<String>,
    /// The workspace's saved reply (the agent has one of their own too) and a tag on the first
    /// case.
    pub(super) saved_reply: String,
    pub(super) tag: String,
    /// The body that configures its single sign-on (`PUT /api/workspace/sso`).
    pub(super) sso: Value,
}

pub(super) fn random_digits(n: usize) -> String {
    let digits: String = Uuid::new_v4()
        .as_u128()
        .to_string()
        .chars()
        .rev()
        .take(n)
        .collect();
    digits
}

/// A push subscription body as a browser sends it (the keys have the right shape; nothing is
/// ever delivered to the loopback endpoint).
pub(super) fn subscription(endpoint: &str) -> Value {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut p256dh = vec![4u8];
    p256dh.extend((0..64).map(|i| i as u8 + 1));
    json!({ "endpoint": endpoint, "keys": { "p256dh": b64.encode(&p256dh), "auth": b64.encode([7u8; 16]) } })
}

/// Setup and checks over the API with a bearer token: `api.ok(token, "PUT /api/…", body)`.
#[derive(Clone)]
pub(super) struct Api {
    pub(super) http: Client,
    pub(super) base: String,
}

impl Api {
    pub(super) fn new(app: &TestApp) -> Api {
        Api {
            http: Client::new(),
            base: app.url.clone(),
        }
    }

    /// `what` is "METHOD /path"; a `Null` body sends none.
    pub(super) async fn call(&self, token: &str, what: &str, body: Value) -> (u16, Value) {
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

    pub(super) async fn ok(&self, token: &str, what: &str, body: Value) -> Value {
        let (status, v) = self.call(token, what, body).await;
        assert!((200..300).contains(&status), "{what}: {status} {v}");
        v
    }
}

impl World {
    pub(super) async fn build(
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
    pub(super) async fn snapshot(&self, app: &TestApp) -> Value {
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
    pub(super) fn secrets(&self, snapshot: &Value, other: &World) -> BTreeSet<String> {
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

    pub(super) fn member_ids(&self) -> BTreeSet<String> {
        self.members.iter().map(|m| m.id.clone()).collect()
    }
}

/// Valid unsubscribe links for these teammates, signed as the server signs the ones it emails.
pub(super) async fn unsubscribe_links(
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
        let token = notifier.unsubscribe_token(id.parse().unwrap());
        (id, token)
    })
    .collect()
}

pub(super) async fn two_worlds(app: &TestApp) -> (World, World) {
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

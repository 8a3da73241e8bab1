//! The unread badge is true at every moment: under concurrent assignment changes, reads, customer
//! messages and status changes, every `badge` frame a teammate's socket receives equals the true
//! counts at some moment, none is negative, and the last one equals `GET /api/cases/counts`.
//!
//! How the test knows the truth: the work runs in rounds; within a round every operation touches
//! a different case, and each is one transaction. So the true badge at any moment of a round is
//! the badge before it plus the changes of the operations committed so far: one of the subset
//! sums of the round's changes. A frame that is late by up to one round is allowed (it was true
//! when it was computed); anything else was never true.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{
    postgres_available, redis_available, redis_url, require, Db, TestApp, TestDb, User, Ws,
};

const CASES: usize = 64;
const SETTLE: Duration = Duration::from_secs(15);

type Badge = (i64, i64);

/// What the test knows of one case, as far as the watching teammate's badge is concerned.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Owner {
    Watcher,
    Nobody,
    Other,
}

#[derive(Clone, Debug)]
struct CaseModel {
    id: String,
    customer: String,
    owner: Owner,
    open: bool,
    inbound: u32,
    seen: u32,
}

impl CaseModel {
    /// This case's share of the watcher's badge (the watcher is an owner: they watch unassigned).
    fn share(&self) -> Badge {
        let unread = self.open && self.inbound > self.seen;
        match self.owner {
            Owner::Watcher if unread => (1, 0),
            Owner::Nobody if unread => (0, 1),
            _ => (0, 0),
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Assign(Owner),
    Read,
    CustomerWrites,
    Close,
    Reopen,
}

/// The badges that are true at some moment of a round that starts at `base` and applies these
/// independent changes in any order.
fn reachable(base: Badge, deltas: &[Badge]) -> BTreeSet<Badge> {
    let mut out = BTreeSet::from([base]);
    for d in deltas {
        let next: Vec<Badge> = out.iter().map(|b| (b.0 + d.0, b.1 + d.1)).collect();
        out.extend(next);
    }
    out
}

struct Team {
    watcher: (User, String),
    actors: Vec<(User, String)>,
    other: User,
    ingest: String,
}

/// The watcher's socket: every badge frame is checked against what was true.
struct Watch {
    ws: Ws,
    current: Badge,
    frames: usize,
    wrong: Vec<(Badge, usize)>,
}

impl Watch {
    fn badge_of(v: &Value) -> Badge {
        (
            v["mine"].as_i64().unwrap(),
            v["unassigned"].as_i64().unwrap(),
        )
    }

    fn check(&mut self, frame: &Value, allowed: &BTreeSet<Badge>, round: usize) {
        if frame["type"] != "badge" {
            return;
        }
        let b = Self::badge_of(frame);
        self.frames += 1;
        if b.0 < 0 || b.1 < 0 || !allowed.contains(&b) {
            self.wrong.push((b, round));
        }
        self.current = b;
    }

    /// Checks every frame that arrives while `work` runs.
    async fn during<T>(
        &mut self,
        work: impl std::future::Future<Output = T>,
        allowed: &BTreeSet<Badge>,
        round: usize,
    ) {
        tokio::pin!(work);
        loop {
            tokio::select! {
                _ = &mut work => return,
                frame = self.ws.next(SETTLE) => {
                    let frame = frame.expect("the socket stays open");
                    self.check(&frame, allowed, round);
                }
            }
        }
    }

    /// Reads frames until the badge shows `want`, checking each, then takes whatever else comes
    /// within a short quiet spell (late frames of this round).
    async fn settle(&mut self, want: Badge, allowed: &BTreeSet<Badge>, round: usize) {
        let deadline = tokio::time::Instant::now() + SETTLE;
        while self.current != want {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.ws.next(left).await.unwrap_or_else(|| {
                panic!(
                    "round {round}: the badge never became {want:?} (last {:?}, wrong so far {:?})",
                    self.current, self.wrong
                )
            });
            self.check(&frame, allowed, round);
        }
        while let Some(frame) = self.ws.next(Duration::from_millis(150)).await {
            self.check(&frame, allowed, round);
        }
    }
}

async fn ok(r: reqwest::Response, what: &str) {
    let status = r.status();
    assert!(
        status.is_success(),
        "{what}: {status} {}",
        r.text().await.unwrap_or_default()
    );
}

/// The teammate as an API client of the instance at `base` (their token, as a script would).
fn on(base: &str, (user, token): &(User, String)) -> User {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    User {
        base: base.to_string(),
        client: reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap(),
        ..user.clone()
    }
}

/// Runs one operation on one case through the API of one of the instances.
async fn apply(team: &Team, base: &str, actor: usize, case: &CaseModel, op: &Op) {
    let actor = on(base, &team.actors[actor % team.actors.len()]);
    let id = &case.id;
    match op {
        Op::Assign(owner) => {
            let to = match owner {
                Owner::Watcher => Some(team.watcher.0.id.as_str()),
                Owner::Other => Some(team.other.id.as_str()),
                Owner::Nobody => None,
            };
            ok(actor.assign(id, to).await, "assign").await;
        }
        Op::Read => {
            let r = on(base, &team.watcher)
                .post(&format!("/api/cases/{id}/read"), json!({}))
                .await;
            assert_eq!(r.status(), StatusCode::NO_CONTENT, "read");
        }
        Op::CustomerWrites => {
            let r = reqwest::Client::new()
                .post(format!("{base}/api/inbound"))
                .bearer_auth(&team.ingest)
                .json(&json!({ "channel": "email", "from": { "name": "Customer", "email": case.customer }, "body": "one more thing" }))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "inbound: {status} {v}");
            assert_eq!(
                v["case_id"],
                id.as_str(),
                "the customer's message lands on their case"
            );
        }
        Op::Close | Op::Reopen => {
            let status = if matches!(op, Op::Close) {
                "won"
            } else {
                "needs_reply"
            };
            ok(
                actor
                    .put(
                        &format!("/api/cases/{id}/status"),
                        json!({ "status": status }),
                    )
                    .await,
                "status",
            )
            .await;
        }
    }
}

fn after(case: &CaseModel, op: &Op) -> CaseModel {
    let mut c = case.clone();
    match op {
        Op::Assign(owner) => c.owner = *owner,
        Op::Read => c.seen = c.inbound,
        Op::CustomerWrites => {
            c.inbound += 1;
            c.open = true;
        }
        Op::Close => c.open = false,
        Op::Reopen => c.open = true,
    }
    c
}

fn pick_op(rng: &mut StdRng, case: &CaseModel) -> Op {
    match rng.gen_range(0..10) {
        0..=3 => Op::Assign([Owner::Watcher, Owner::Nobody, Owner::Other][rng.gen_range(0..3)]),
        4 | 5 => Op::CustomerWrites,
        6 | 7 => Op::Read,
        _ if case.open => Op::Close,
        _ => Op::Reopen,
    }
}

fn total(cases: &[CaseModel]) -> Badge {
    cases
        .iter()
        .map(CaseModel::share)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// The scenario on one or more instances of one database: `urls[0]` takes the setup, the
/// watcher's socket is on the last instance, and the work is spread over all of them.
async fn badges_are_true_at_every_moment(apps: &[&TestApp]) {
    let urls: Vec<String> = apps.iter().map(|a| a.url.clone()).collect();
    let urls = urls.as_slice();
    let first = apps[0];
    let watcher = first.signup("Badges", "Wanda Watcher").await;
    let mut actors = Vec::new();
    for i in 0..4 {
        let actor = first
            .invite(&watcher, &format!("Actor {i}"), "manager")
            .await;
        let token = actor.api_token().await;
        actors.push((actor, token));
    }
    let other = first.invite(&watcher, "Otto Other", "agent").await;
    let watcher_token = watcher.api_token().await;
    let team = Team {
        ingest: watcher.ingest_token.clone(),
        watcher: (watcher, watcher_token),
        actors,
        other,
    };
    let watcher = &team.watcher.0;

    // The watcher opens 64 cases and reads each to the end: the true badge is 0/0.
    let mut cases = Vec::new();
    for i in 0..CASES {
        let customer = format!("customer{i}@example.com");
        let v = first
            .customer_writes(&team.ingest, &customer, "hello")
            .await;
        let id = v["case_id"].as_str().unwrap().to_string();
        ok(
            watcher
                .post(&format!("/api/cases/{id}/read"), json!({}))
                .await,
            "read",
        )
        .await;
        cases.push(CaseModel {
            id,
            customer,
            owner: Owner::Nobody,
            open: true,
            inbound: 1,
            seen: 1,
        });
    }
    let counts = watcher.json("/api/cases/counts").await;
    assert_eq!(
        (
            counts["mine"]["unread"].as_i64(),
            counts["unassigned"]["unread"].as_i64()
        ),
        (Some(0), Some(0))
    );

    let token = &team.watcher.1;
    let socket_on = urls.last().unwrap();
    let mut ws = Ws::connect(socket_on, token, None).await.expect("socket");
    let hello = ws.expect("hello", SETTLE).await;
    let mut watch = Watch {
        ws,
        current: Watch::badge_of(&hello["badge"]),
        frames: 0,
        wrong: Vec::new(),
    };
    assert_eq!(watch.current, (0, 0));

    // The reproduction: eight clients move the read cases between the watcher and nobody, 20
    // times each, at once. Nothing becomes unread, so 0/0 is the only true badge.
    let zero = BTreeSet::from([(0, 0)]);
    {
        let movers = (0..8).map(|client| {
            let team = &team;
            let cases = &cases;
            let base = urls[client % urls.len()].clone();
            async move {
                let mut rng = StdRng::seed_from_u64(client as u64);
                for i in 0..20 {
                    let case = &cases[rng.gen_range(0..CASES)];
                    let owner = if i % 2 == 0 {
                        Owner::Watcher
                    } else {
                        Owner::Nobody
                    };
                    apply(team, &base, client, case, &Op::Assign(owner)).await;
                }
            }
        });
        watch
            .during(futures_util::future::join_all(movers), &zero, 0)
            .await;
    }
    watch.settle((0, 0), &zero, 0).await;
    assert!(
        watch.wrong.is_empty(),
        "badge frames that were never true while cases moved: {:?}",
        watch.wrong
    );
    // Where the cases ended up is whatever the last mover did; ask the server.
    for case in cases.iter_mut() {
        let v = watcher.json(&format!("/api/cases/{}", case.id)).await;
        case.owner = match v["case"]["assignee_id"].as_str() {
            None => Owner::Nobody,
            Some(id) if id == watcher.id => Owner::Watcher,
            Some(_) => Owner::Other,
        };
    }

    // Mixed work in rounds of independent operations on distinct cases.
    let mut rng = StdRng::seed_from_u64(14);
    let mut previous = zero.clone();
    for round in 1..=30 {
        let base = total(&cases);
        let mut chosen: Vec<usize> = (0..CASES).collect();
        for i in 0..8 {
            let j = rng.gen_range(i..CASES);
            chosen.swap(i, j);
        }
        let plan: Vec<(usize, Op)> = chosen[..8]
            .iter()
            .map(|&i| (i, pick_op(&mut rng, &cases[i])))
            .collect();
        let mut deltas = Vec::new();
        let mut next: HashMap<usize, CaseModel> = HashMap::new();
        for (i, op) in &plan {
            let now = cases[*i].share();
            let then = after(&cases[*i], op);
            let share = then.share();
            deltas.push((share.0 - now.0, share.1 - now.1));
            next.insert(*i, then);
        }
        let this_round = reachable(base, &deltas);
        let allowed: BTreeSet<Badge> = this_round.union(&previous).copied().collect();
        {
            let work = plan.iter().enumerate().map(|(k, (i, op))| {
                let url = urls[k % urls.len()].clone();
                let team = &team;
                let case = cases[*i].clone();
                async move { apply(team, &url, k, &case, op).await }
            });
            watch
                .during(futures_util::future::join_all(work), &allowed, round)
                .await;
        }
        for (i, c) in next {
            cases[i] = c;
        }
        let want = total(&cases);
        watch.settle(want, &allowed, round).await;
        previous = this_round;
    }

    assert!(
        watch.wrong.is_empty(),
        "badge frames that were never true: {:?} of {}",
        watch.wrong,
        watch.frames
    );
    assert!(
        watch.frames >= 10,
        "the mixed rounds change the badge, so frames came: {}",
        watch.frames
    );
    let counts = watcher.json("/api/cases/counts").await;
    let server = (
        counts["mine"]["unread"].as_i64().unwrap(),
        counts["unassigned"]["unread"].as_i64().unwrap(),
    );
    assert_eq!(
        watch.current, server,
        "the last frame equals GET /api/cases/counts"
    );
    assert_eq!(server, total(&cases), "and both equal what the test knows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn badges_are_true_at_every_moment_on_sqlite() {
    let app = TestApp::spawn(Db::Sqlite).await;
    badges_are_true_at_every_moment(&[&app]).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn badges_are_true_at_every_moment_on_postgres() {
    if !require("Postgres", postgres_available().await) {
        return;
    }
    let app = TestApp::spawn(Db::Postgres).await;
    badges_are_true_at_every_moment(&[&app]).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn badges_are_true_at_every_moment_across_two_instances() {
    if !require("Postgres", postgres_available().await)
        || !require("Redis", redis_available().await)
    {
        return;
    }
    let db = TestDb::new(Db::Postgres).await;
    let with_redis = |c: &mut baton::Config| c.redis_url = Some(redis_url());
    let one = TestApp::spawn_with(Db::Postgres, db.url.clone(), with_redis).await;
    let two = TestApp::spawn_with(Db::Postgres, db.url.clone(), with_redis).await;
    badges_are_true_at_every_moment(&[&one, &two]).await;
    one.stop().await;
    two.stop().await;
}

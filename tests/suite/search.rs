//! Search over cases (`GET /api/cases?q=`): every field a teammate would look for, ranked,
//! highlighted, narrowed by the list's filters, inside one workspace, up to date the moment a
//! write is answered.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{enc, error_of, Db, TestApp, User};

/// The cases `q` finds (with extra query parameters), in order, as returned.
async fn search(user: &User, q: &str, extra: &str) -> Vec<Value> {
    let page = user
        .json(&format!(
            "/api/cases?view=all&filter=open&q={}{extra}",
            enc(q)
        ))
        .await;
    page["cases"].as_array().unwrap().clone()
}

async fn found(user: &User, q: &str, extra: &str) -> Vec<String> {
    ids(&search(user, q, extra).await)
}

fn ids(cases: &[Value]) -> Vec<String> {
    cases
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// The marked words of a result's snippet.
fn marked(case: &Value) -> Vec<String> {
    case["search"]["snippet"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["mark"] == true)
        .map(|p| p["text"].as_str().unwrap().to_string())
        .collect()
}

fn snippet_text(case: &Value) -> String {
    case["search"]["snippet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect()
}

async fn writes(
    app: &TestApp,
    user: &User,
    from: Value,
    subject: Option<&str>,
    body: &str,
) -> String {
    let r = app
        .inbound(
            &user.ingest_token,
            json!({ "channel": "email", "from": from, "subject": subject, "body": body }),
        )
        .await;
    assert!(r.status().is_success(), "inbound: {}", r.status());
    r.json::<Value>().await.unwrap()["case_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A customer named `name` (email `{name}@example.com`) writes `body`.
async fn asks(app: &TestApp, user: &User, name: &str, subject: Option<&str>, body: &str) -> String {
    let from = json!({ "name": name, "email": format!("{}@example.com", name.to_lowercase()) });
    writes(app, user, from, subject, body).await
}

/// `path` answers 422 naming `field`.
async fn refused(user: &User, path: &str, field: &str) {
    let (status, _, named) = error_of(user.get(path).await).await;
    assert_eq!(
        (status, named.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
        "{path}"
    );
}

async fn post_message(user: &User, case: &str, kind: &str, body: &str) -> String {
    let r = user
        .post(
            &format!("/api/cases/{case}/messages"),
            json!({ "kind": kind, "body": body }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{kind}");
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

async fn execute(db_url: &str, sql: &str, id: &str) {
    use sqlx::Connection;
    let id: uuid::Uuid = id.parse().unwrap();
    if db_url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(db_url).await.unwrap();
        sqlx::query(sql).bind(id).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(db_url).await.unwrap();
        sqlx::query(sql).bind(id).execute(&mut c).await.unwrap();
    }
}

on_both!(finds_every_field_however_typed, every_field);
async fn every_field(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Kettles", "Olivia Owner").await;
    let elodie = writes(
        &app,
        &owner,
        json!({ "name": "Élodie Durand", "email": "elodie.durand@example.com", "phone": "+1 415 555 0100" }),
        Some("Broken kettle"),
        "The kettle arrived cracked <script>alert(1)</script>",
    )
    .await;
    let marcus = writes(
        &app,
        &owner,
        json!({ "name": "Marcus Lee", "email": "marcus@shop.example.org" }),
        None,
        "Where is my parcel?",
    )
    .await;
    let note = post_message(
        &owner,
        &marcus,
        "note",
        "Called the courier about the shipment",
    )
    .await;

    for (q, want, field) in [
        ("cracked", &elodie, "message"),
        ("kettle", &elodie, "subject"),
        ("courier", &marcus, "note"),
        ("Marcus", &marcus, "customer"),
        ("marcus@shop.example.org", &marcus, "email"),
        ("4155550100", &elodie, "phone"),
        ("+1 (415) 555-0100", &elodie, "phone"),
        ("555 0100", &elodie, "phone"),
        ("ELODIE", &elodie, "customer"),
        ("elodie", &elodie, "customer"),
        ("durand élodie", &elodie, "customer"),
        ("Ca\u{301}lled", &marcus, "note"),
    ] {
        let cases = search(&owner, q, "").await;
        assert_eq!(ids(&cases), vec![want.clone()], "{db:?} q={q}");
        assert_eq!(
            cases[0]["search"]["field"], field,
            "{db:?} q={q}: {}",
            cases[0]
        );
    }
    let cases = search(&owner, "courier", "").await;
    assert_eq!(cases[0]["search"]["message_id"], note.as_str());

    // Prefix of the last word only: the user is still typing it.
    assert_eq!(found(&owner, "parc", "").await, vec![marcus.clone()]);
    assert_eq!(
        found(&owner, "where is my par", "").await,
        vec![marcus.clone()]
    );
    assert_eq!(found(&owner, "par is", "").await, Vec::<String>::new());
    assert_eq!(found(&owner, "parc ", "").await, Vec::<String>::new());
    assert_eq!(found(&owner, "zebra", "").await, Vec::<String>::new());
    // Query syntax of either engine is only text.
    for q in [
        "\"",
        "*",
        "kettle OR",
        "(kettle",
        "kettle & !",
        "'",
        ":*",
        "NEAR(a b)",
    ] {
        let r = owner.get(&format!("/api/cases?q={}", enc(q))).await;
        assert_eq!(r.status(), StatusCode::OK, "{db:?} q={q}");
    }

    // Highlights: exactly the words that matched, in the text as written, markup as text.
    let cases = search(&owner, "Cracked KETTLE", "").await;
    assert_eq!(ids(&cases), vec![elodie.clone()]);
    assert_eq!(cases[0]["search"]["field"], "message");
    assert_eq!(marked(&cases[0]), vec!["kettle", "cracked"]);
    assert_eq!(
        snippet_text(&cases[0]),
        "The kettle arrived cracked <script>alert(1)</script>"
    );
    let cases = search(&owner, "elo", "").await;
    assert_eq!(marked(&cases[0]), vec!["Élodie"]);
    let cases = search(&owner, "415-555-0100", "").await;
    assert_eq!(marked(&cases[0]), vec!["+14155550100"]);
    app.stop().await;
}

on_both!(better_matches_rank_first_and_page, ranking);
async fn ranking(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Gutters", "Olivia Owner").await;
    let filler =
        "We had the gutters cleaned last spring and the crew was friendly and on time. ".repeat(6);
    let passing = asks(
        &app,
        &owner,
        "Pat",
        None,
        &format!("{filler} Maybe a refund would be fair. {filler}"),
    )
    .await;
    let strong = asks(
        &app,
        &owner,
        "Robin",
        Some("Refund request"),
        "Please refund my order.",
    )
    .await;
    asks(&app, &owner, "Sam", None, "Thanks, all good.").await;
    assert_eq!(
        found(&owner, "refund", "").await,
        vec![strong.clone(), passing.clone()]
    );
    // `sort=recent`: the same matches, newest first.
    assert_eq!(
        found(&owner, "refund", "&sort=recent").await,
        vec![strong.clone(), passing.clone()]
    );
    let a = asks(&app, &owner, "Pat", None, "About that refund again").await;
    assert_eq!(a, passing, "Pat's open case takes the new message");
    assert_eq!(found(&owner, "refund", "&sort=recent").await[0], passing);

    // Ranked pages: every match once.
    let mut all = Vec::new();
    for i in 0..5 {
        all.push(
            writes(
                &app,
                &owner,
                json!({ "name": format!("Gus {i}"), "email": format!("gus{i}@example.com") }),
                None,
                &format!("The downspout number {i} leaks"),
            )
            .await,
        );
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = owner
            .json(&format!("/api/cases?q=downspout&limit=2{cursor}"))
            .await;
        seen.extend(ids(page["cases"].as_array().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    seen.sort();
    all.sort();
    assert_eq!(seen, all, "{db:?}");
    // A newest-first cursor does not page a ranked search.
    let list = owner.json("/api/cases?limit=1").await;
    let c = list["next_cursor"].as_str().unwrap();
    refused(
        &owner,
        &format!("/api/cases?q=downspout&cursor={c}"),
        "cursor",
    )
    .await;
    app.stop().await;
}

on_both!(filters_combine_with_the_text, filters);
async fn filters(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Invoices", "Olivia Owner").await;
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    let mut cases = Vec::new();
    for (i, text) in [
        "invoice one",
        "invoice two",
        "invoice three",
        "receipt four",
    ]
    .iter()
    .enumerate()
    {
        cases.push(
            writes(
                &app,
                &owner,
                json!({ "name": format!("Customer {i}"), "email": format!("c{i}@example.com") }),
                None,
                text,
            )
            .await,
        );
    }
    assert_eq!(
        owner.assign(&cases[0], Some(&agent.id)).await.status(),
        StatusCode::OK
    );
    let r = owner
        .put(
            &format!("/api/cases/{}/status", cases[1]),
            json!({ "status": "on_hold" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = owner
        .put(
            &format!("/api/cases/{}/status", cases[2]),
            json!({ "status": "won" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(found(&owner, "invoice", "").await),
        sorted(vec![cases[0].clone(), cases[1].clone()])
    );
    assert_eq!(
        found(&owner, "invoice", "&status=on_hold").await,
        vec![cases[1].clone()]
    );
    assert_eq!(
        found(&owner, "invoice", &format!("&assignee_id={}", agent.id)).await,
        vec![cases[0].clone()]
    );
    let closed = owner
        .json("/api/cases?view=all&filter=closed&q=invoice")
        .await;
    assert_eq!(
        ids(closed["cases"].as_array().unwrap()),
        vec![cases[2].clone()]
    );
    assert_eq!(
        found(&owner, "receipt", "&status=on_hold").await,
        Vec::<String>::new()
    );
    let later = enc(&(chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    let earlier = enc(&(chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339());
    assert_eq!(
        found(&owner, "invoice", &format!("&since={later}"))
            .await
            .len(),
        0
    );
    assert_eq!(
        found(&owner, "invoice", &format!("&until={earlier}"))
            .await
            .len(),
        0
    );
    assert_eq!(
        found(
            &owner,
            "invoice",
            &format!("&since={earlier}&until={later}")
        )
        .await
        .len(),
        2
    );
    assert_eq!(
        found(
            &owner,
            "invoice",
            &format!("&channel_id={}", uuid::Uuid::now_v7())
        )
        .await
        .len(),
        0
    );
    // The same filters narrow the plain list too.
    let list = owner
        .json("/api/cases?view=all&filter=open&status=on_hold")
        .await;
    assert_eq!(
        ids(list["cases"].as_array().unwrap()),
        vec![cases[1].clone()]
    );
    refused(&owner, "/api/cases?status=sleeping", "status").await;
    app.stop().await;
}

on_both!(search_sees_what_the_list_shows, visibility);
async fn visibility(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Roofs", "Olivia Owner").await;
    let agent = app.invite(&owner, "Alex Agent", "agent").await;
    let viewer = app.invite(&owner, "Vera Viewer", "viewer").await;
    let other = app.signup("Other Roofs", "Oscar Owner").await;
    let mine = asks(&app, &owner, "Ann", None, "the gutter leaks").await;
    let pool = asks(&app, &owner, "Ben", None, "a gutter fell").await;
    asks(&app, &owner, "Cid", None, "a shingle flew").await;
    let theirs = asks(&app, &other, "Ann", Some("gutter"), "the gutter leaks").await;
    assert_eq!(
        owner.assign(&mine, Some(&agent.id)).await.status(),
        StatusCode::OK
    );

    for (who, user) in [("agent", &agent), ("viewer", &viewer), ("owner", &owner)] {
        for view in ["mine", "unassigned", "all"] {
            let list = user.list(view, "open").await;
            let page = user
                .json(&format!("/api/cases?view={view}&filter=open&q=gutter"))
                .await;
            let hits = ids(page["cases"].as_array().unwrap());
            let want: Vec<String> = list
                .into_iter()
                .filter(|c| *c == mine || *c == pool)
                .collect();
            let mut hits_sorted = hits.clone();
            hits_sorted.sort();
            let mut want_sorted = want.clone();
            want_sorted.sort();
            assert_eq!(hits_sorted, want_sorted, "{db:?} {who} {view}");
            assert!(!hits.contains(&theirs), "{who}: another workspace's case");
        }
    }
    assert_eq!(found(&agent, "gutter", "&sort=recent").await.len(), 2);
    assert_eq!(found(&other, "gutter", "").await, vec![theirs.clone()]);
    assert_eq!(found(&other, "ann@example.com", "").await, vec![theirs]);
    app.stop().await;
}

on_both!(index_follows_every_write, freshness);
async fn freshness(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Fresh", "Olivia Owner").await;
    let case = asks(&app, &owner, "Dora", None, "hello").await;
    // Found in the answer right after each write: no background indexing to wait for.
    post_message(&owner, &case, "reply", "The replacement ships Tuesday").await;
    assert_eq!(found(&owner, "tuesday", "").await, vec![case.clone()]);
    let note = post_message(&owner, &case, "note", "Warehouse says aisle seventeen").await;
    assert_eq!(found(&owner, "seventeen", "").await, vec![case.clone()]);
    let again = writes(
        &app,
        &owner,
        json!({ "name": "Dora", "email": "dora@example.com", "phone": "+44 20 7946 0958" }),
        None,
        "Any news on the wombat?",
    )
    .await;
    assert_eq!(again, case);
    assert_eq!(found(&owner, "wombat", "").await, vec![case.clone()]);
    // The phone the customer gave later is on the case's document too.
    assert_eq!(found(&owner, "20 7946 0958", "").await, vec![case.clone()]);

    // A message erased or deleted takes its words out of the index in the same transaction.
    execute(&app.db_url, "DELETE FROM messages WHERE id = $1", &note).await;
    assert_eq!(found(&owner, "seventeen", "").await, Vec::<String>::new());
    let detail = owner.json(&format!("/api/cases/{case}")).await;
    let reply = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["body"].as_str().unwrap().contains("Tuesday"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    execute(
        &app.db_url,
        "UPDATE messages SET body = '[erased]' WHERE id = $1",
        &reply,
    )
    .await;
    assert_eq!(found(&owner, "tuesday", "").await, Vec::<String>::new());
    assert_eq!(found(&owner, "erased", "").await, vec![case.clone()]);
    app.stop().await;
}

/// `count` notes on `case` written straight into the database (the index triggers fill the
/// index as for any write); note `g` (1-based) says `filler`, and `every` when `g` is even, and
/// `trend` too when it is even and among the last thousand.
async fn bulk_notes(db_url: &str, case: &str, count: u32) {
    let body = format!(
        "'filler' || CASE WHEN g % 2 = 0 THEN ' every' ELSE '' END || CASE WHEN g % 2 = 0 AND g > {} THEN ' trend' ELSE '' END",
        count - 1000
    );
    let sql = match db_url.starts_with("sqlite") {
        true => format!(
            "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {count}) \
             INSERT INTO messages (id, workspace_id, case_id, kind, channel, body, created_at) \
             SELECT randomblob(16), c.workspace_id, c.id, 'note', 'email', {body}, c.created_at + g FROM cases c, s WHERE c.id = $1"
        ),
        false => format!(
            "INSERT INTO messages (id, workspace_id, case_id, kind, channel, body, created_at) \
             SELECT gen_random_uuid(), c.workspace_id, c.id, 'note', 'email', {body}, c.created_at + g \
             FROM cases c, generate_series(1, {count}) g WHERE c.id = $1"
        ),
    };
    execute(db_url, &sql, case).await;
}

/// `count` open cases written straight into the database, newer than every case so far, with
/// `case`'s customer and a subject of plain words.
async fn bulk_cases(db_url: &str, case: &str, count: u32) {
    let (series, id) = match db_url.starts_with("sqlite") {
        true => (
            format!("(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {count}) SELECT g FROM s) AS s"),
            "randomblob(16)",
        ),
        false => (format!("generate_series(1, {count}) AS s(g)"), "gen_random_uuid()"),
    };
    let sql = format!(
        "INSERT INTO cases (id, workspace_id, number, status, subject, customer_id, preview, \
         created_at, last_message_at) \
         SELECT {id}, c.workspace_id, 100000 + s.g, 'needs_reply', 'plain words', c.customer_id, \
         '', c.created_at + 1000 + s.g, c.last_message_at + 1000 + s.g FROM cases c, {series} \
         WHERE c.id = $1"
    );
    execute(db_url, &sql, case).await;
}

on_both!(finds_a_broad_word_beyond_the_walk, beyond_the_walk);
async fn beyond_the_walk(db: Db) {
    // Postgres walks a broad search's cases newest first, at most 2,000 (design.md §15); a
    // match further back is found through the candidates, as on SQLite.
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Zoo", "Olivia Owner").await;
    let old = asks(&app, &owner, "Ada", None, "A zebra escaped").await;
    let closed = asks(&app, &owner, "Bo", None, "Closed long ago").await;
    bulk_cases(&app.db_url, &closed, 2_100).await;
    // The newest thousand documents are notes holding the word, on a closed case: broad.
    let notes = match app.db_url.starts_with("sqlite") {
        true => {
            "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 1000) \
                 INSERT INTO messages (id, workspace_id, case_id, kind, channel, body, created_at) \
                 SELECT randomblob(16), c.workspace_id, c.id, 'note', 'email', 'zebra seen', \
                 c.created_at + g FROM cases c, s WHERE c.id = $1"
        }
        false => {
            "INSERT INTO messages (id, workspace_id, case_id, kind, channel, body, created_at) \
                  SELECT gen_random_uuid(), c.workspace_id, c.id, 'note', 'email', 'zebra seen', \
                  c.created_at + g FROM cases c, generate_series(1, 1000) g WHERE c.id = $1"
        }
    };
    execute(&app.db_url, notes, &closed).await;
    execute(
        &app.db_url,
        "UPDATE cases SET status = 'won' WHERE id = $1",
        &closed,
    )
    .await;
    assert_eq!(found(&owner, "zebra", "").await, vec![old.clone()]);
    assert_eq!(found(&owner, "zebra", "&sort=recent").await, vec![old]);
    app.stop().await;
}

on_both!(finds_old_and_new_matches_in_a_big_workspace, big_workspace);
async fn big_workspace(db: Db) {
    // Enough documents that Postgres measures the words on the newest thousand and then walks
    // on or reads the index (design.md §15); SQLite reads its index newest first either way.
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Archive", "Olivia Owner").await;
    let old = asks(&app, &owner, "Ada", None, "An ancient trend, every time").await;
    let bulk = asks(&app, &owner, "Bo", None, "Notes follow").await;
    bulk_notes(&app.db_url, &bulk, 8_000).await;
    let new = asks(&app, &owner, "Cy", None, "It happens every day").await;
    let set = |mut v: Vec<String>| {
        v.sort();
        v
    };
    // Only in the oldest message: none among the newest, so the index finds it.
    assert_eq!(found(&owner, "ancient", "").await, vec![old.clone()]);
    // In half of the newest thousand and once long before: the walk through the newest finds
    // too few, and the index finds the old one below where the walk stopped.
    assert_eq!(
        set(found(&owner, "trend", "").await),
        set(vec![old.clone(), bulk.clone()])
    );
    // In half of all documents, and in more than BROAD of the newest thousand, so the search
    // is broad: not ranked, newest activity first, each case showing its latest match. SQLite
    // takes the newest 2,000 matches as its candidates, and the oldest case is not among them;
    // Postgres walks the cases newest first and finds it last (design.md §15).
    let broad = match db {
        Db::Sqlite => vec![new.clone(), bulk.clone()],
        Db::Postgres => vec![new.clone(), bulk.clone(), old.clone()],
    };
    let every = search(&owner, "every", "").await;
    assert_eq!(ids(&every), broad);
    assert_eq!(snippet_text(&every[1]), "filler every trend", "{db:?}");
    assert_eq!(found(&owner, "every", "&sort=recent").await, broad);
    // Under a filter no case with the word passes, the walk finds nothing and the candidates
    // answer: still nothing, and no error.
    assert_eq!(
        found(&owner, "every", "&status=won").await,
        Vec::<String>::new()
    );
    app.stop().await;
}

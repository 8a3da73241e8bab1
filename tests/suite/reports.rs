//! Reports through the API: a case lived through with the API (reassigned twice, answered,
//! closed, reopened, answered and closed again), its history moved to known times, gives exactly
//! the figures the counting rules in docs/reports.md say; who may read reports; the CSV.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{error_of, sql_exec, Db, TestApp, User};

/// An id as the database spells it in SQL.
fn id_sql(db: Db, id: &str) -> String {
    match db {
        Db::Sqlite => format!("X'{}'", id.replace('-', "")),
        Db::Postgres => format!("'{id}'"),
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
fn ms(at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at)
        .unwrap()
        .timestamp_millis()
}

/// Moves a message or timeline entry to `at`.
async fn retime(app: &TestApp, table: &str, id: &str, at: &str) {
    let sql = format!(
        "UPDATE {table} SET created_at = {} WHERE id = {}",
        ms(at),
        id_sql(app.db, id)
    );
    assert_eq!(sql_exec(app.db, &app.db_url, &sql).await, 1, "{table} {id}");
}

async fn ok(r: reqwest::Response) {
    let status = r.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        r.text().await.unwrap_or_default()
    );
}

async fn reply(user: &User, case_id: &str, body: &str) {
    ok(user
        .post(
            &format!("/api/cases/{case_id}/messages"),
            json!({ "kind": "reply", "body": body }),
        )
        .await)
    .await;
}

async fn close(user: &User, case_id: &str) {
    ok(user
        .put(
            &format!("/api/cases/{case_id}/status"),
            json!({ "status": "won" }),
        )
        .await)
    .await;
}

fn figures<'a>(report: &'a Value, teammate: &User) -> &'a Value {
    report["teammates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["teammate_id"] == teammate.id.as_str())
        .unwrap_or_else(|| panic!("no row for {}: {report}", teammate.id))
}

fn times(v: &Value) -> (i64, Option<i64>, Option<i64>) {
    (
        v["count"].as_i64().unwrap(),
        v["median_seconds"].as_i64(),
        v["p90_seconds"].as_i64(),
    )
}

async fn a_case_reassigned_and_reopened_gives_the_figures_the_rules_say(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Sunny Side", "Olivia Owner").await;
    let manager = app.invite(&owner, "Mia Manager", "manager").await;
    let ana = app.invite(&owner, "Ana Agent", "agent").await;
    let ben = app.invite(&owner, "Ben Agent", "agent").await;
    let cal = app.invite(&owner, "Cal Agent", "agent").await;

    let customer = "ruth@example.com";
    let case_id = app
        .customer_writes(&owner.ingest_token, customer, "Is the blue one in stock?")
        .await["case_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(owner.assign(&case_id, Some(&ana.id)).await).await;
    ok(owner.assign(&case_id, Some(&ben.id)).await).await;
    reply(&ben, &case_id, "It is.").await;
    app.customer_writes(&owner.ingest_token, customer, "Great, and in size 9?")
        .await;
    reply(&ben, &case_id, "Yes, size 9 too.").await;
    ok(owner.assign(&case_id, Some(&cal.id)).await).await;
    close(&ben, &case_id).await;
    // The customer writes again: the case reopens for Cal, who answers and closes it.
    app.customer_writes(&owner.ingest_token, customer, "It arrived broken.")
        .await;
    reply(&cal, &case_id, "Sorry! A new one is on its way.").await;
    close(&cal, &case_id).await;

    // The same history at known times (week of Monday 2026-11-02, UTC).
    let detail = owner.json(&format!("/api/cases/{case_id}")).await;
    let messages: Vec<String> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(messages.len(), 6, "{detail}");
    let message_times = [
        "2026-11-02T09:00:00Z",
        "2026-11-02T10:00:00Z",
        "2026-11-02T11:00:00Z",
        "2026-11-02T11:20:00Z",
        "2026-11-05T08:00:00Z",
        "2026-11-05T10:00:00Z",
    ];
    for (id, at) in messages.iter().zip(message_times) {
        retime(&app, "messages", id, at).await;
    }
    let timeline = detail["timeline"].as_array().unwrap();
    let assigned: Vec<&str> = timeline
        .iter()
        .filter(|e| e["kind"] == "assigned")
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(assigned.len(), 3, "{detail}");
    for (id, at) in assigned.into_iter().zip([
        "2026-11-02T09:10:00Z",
        "2026-11-02T09:30:00Z",
        "2026-11-03T09:00:00Z",
    ]) {
        retime(&app, "timeline", id, at).await;
    }
    let closes: Vec<&str> = timeline
        .iter()
        .filter(|e| e["kind"] == "status" && e["detail"]["to"] == "won")
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(closes.len(), 2, "{detail}");
    for (id, at) in closes
        .into_iter()
        .zip(["2026-11-03T12:00:00Z", "2026-11-06T08:00:00Z"])
    {
        retime(&app, "timeline", id, at).await;
    }
    // The reopening's own entries (status back to needs_reply) move with the customer's message.
    for e in timeline.iter().filter(|e| {
        e["kind"] == "reopened"
            || (e["kind"] == "status" && e["detail"]["to"] != "won")
            || e["kind"] == "created"
    }) {
        retime(
            &app,
            "timeline",
            e["id"].as_str().unwrap(),
            "2026-11-02T09:00:00Z",
        )
        .await;
    }

    let report = manager
        .json("/api/reports?from=2026-11-02&to=2026-11-08&tz=UTC")
        .await;
    assert_eq!(report["from"], "2026-11-02");
    assert_eq!(report["time_zone"], "UTC");
    // Ben answered the first conversation an hour after it started (one first response, not two).
    let b = figures(&report, &ben);
    assert_eq!(times(&b["first_response"]), (1, Some(3600), Some(3600)));
    assert_eq!(b["replies"], 2);
    assert_eq!(
        times(&b["resolution"]),
        (0, None, None),
        "Cal owned the case when Ben closed it"
    );
    // Cal: the reopened conversation answered in two hours; both resolutions (27 h and 24 h).
    let c = figures(&report, &cal);
    assert_eq!(times(&c["first_response"]), (1, Some(7200), Some(7200)));
    assert_eq!(
        times(&c["resolution"]),
        (2, Some(24 * 3600), Some(27 * 3600))
    );
    assert_eq!(c["cases_handled"], 1);
    // Ana owned it for twenty minutes and did nothing: she is listed (she can own cases), with zeros.
    let a = figures(&report, &ana);
    assert_eq!(
        (a["replies"].as_i64(), a["cases_handled"].as_i64()),
        (Some(0), Some(0))
    );
    let team = &report["team"];
    assert_eq!(times(&team["first_response"]), (2, Some(3600), Some(7200)));
    assert_eq!(
        (team["replies"].as_i64(), team["cases_handled"].as_i64()),
        (Some(3), Some(1))
    );
    assert_eq!(report["weeks"].as_array().unwrap().len(), 1);
    assert_eq!(report["weeks"][0]["week"], "2026-11-02");
    // Customers wrote on Monday at 9 and 11, and on Thursday at 8.
    let hours = &report["busiest_hours"];
    assert_eq!(
        (
            hours[0][9].as_i64(),
            hours[0][11].as_i64(),
            hours[3][8].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(
        hours
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d.as_array().unwrap())
            .map(|n| n.as_i64().unwrap())
            .sum::<i64>(),
        3
    );
    // Cal holds no open case now (closed), and the week before has nothing.
    assert_eq!(c["open_now"], 0);
    let before = manager
        .json("/api/reports?from=2026-10-26&to=2026-11-01&tz=UTC")
        .await;
    assert_eq!(before["team"]["replies"], 0);

    // The CSV: a team row, then a row per teammate and week, names as the team knows them.
    let r = manager
        .get("/api/reports.csv?from=2026-11-02&to=2026-11-08&tz=UTC")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("baton-report-2026-11-02-2026-11-08.csv"));
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("week,teammate,replies,cases_handled"),
        "{csv}"
    );
    assert_eq!(lines[1], "2026-11-02,Team,3,1,2,3600,7200,2,86400,97200");
    assert!(
        lines.contains(&"2026-11-02,Ben Agent,2,1,1,3600,3600,0,,"),
        "{csv}"
    );
    assert!(
        lines.contains(&"2026-11-02,Cal Agent,1,1,1,7200,7200,2,86400,97200"),
        "{csv}"
    );
}
on_both!(
    case_history_gives_exact_figures,
    a_case_reassigned_and_reopened_gives_the_figures_the_rules_say
);

async fn reports_are_for_managers_and_up_and_bad_ranges_are_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Sunny Side", "Olivia Owner").await;
    let agent = app.invite(&owner, "Ana Agent", "agent").await;
    let viewer = app.invite(&owner, "Vic Viewer", "viewer").await;
    for who in [&agent, &viewer] {
        assert_eq!(
            who.get("/api/reports").await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            who.get("/api/reports.csv").await.status(),
            StatusCode::FORBIDDEN
        );
    }
    let (status, code, field) = error_of(owner.get("/api/reports?tz=Mars/Olympus").await).await;
    assert_eq!(
        (status, code.as_str(), field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("tz"))
    );
    let (status, _, field) = error_of(
        owner
            .get("/api/reports?from=2026-11-09&to=2026-11-02")
            .await,
    )
    .await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("to"))
    );
    let (status, _, field) = error_of(
        owner
            .get("/api/reports?from=2024-01-01&to=2026-11-02")
            .await,
    )
    .await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("from"))
    );
    assert_eq!(
        owner
            .get("/api/reports?from=yesterday")
            .await
            .status()
            .as_u16()
            / 100,
        4
    );
    // With no dates: the last four weeks up to today, every teammate who can own cases listed.
    let report = owner.json("/api/reports").await;
    assert!(report["weeks"].as_array().unwrap().len() >= 4, "{report}");
    let listed: Vec<&str> = report["teammates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&"Ana Agent")
            && listed.contains(&"Olivia Owner")
            && !listed.contains(&"Vic Viewer"),
        "{listed:?}"
    );
}
on_both!(
    reports_are_for_managers,
    reports_are_for_managers_and_up_and_bad_ranges_are_refused
);

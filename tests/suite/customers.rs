//! Customer history through the API, on both databases: finding a customer, their page (every
//! address, the team's notes, their cases), merging two customers (their cases follow, either
//! address finds the one customer, a `customer.merged` event), who may do what, bad input, and
//! another workspace's customers.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{error_of, Db, TestApp, User, Ws};

const WAIT: Duration = Duration::from_secs(20);

async fn customer_of(user: &User, case_id: &str) -> String {
    let detail = user.json(&format!("/api/cases/{case_id}")).await;
    detail["case"]["customer"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a customer: {detail}"))
        .to_owned()
}

fn case_id(outcome: &Value) -> String {
    outcome["case_id"].as_str().unwrap().to_owned()
}

fn names(found: &Value) -> Vec<String> {
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn one_customer_from_two_addresses(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Sunny Side", "Olivia Owner").await;
    let agent = app.invite(&owner, "Ana Agent", "agent").await;
    let viewer = app.invite(&owner, "Vic Viewer", "viewer").await;
    let token = owner.api_token().await;

    let home = case_id(
        &app.customer_writes(
            &owner.ingest_token,
            "ruth@home.example",
            "Is the blue one in stock?",
        )
        .await,
    );
    let work = case_id(
        &app.customer_writes(
            &owner.ingest_token,
            "ruth@work.example",
            "Invoice for order 77?",
        )
        .await,
    );
    let other = case_id(
        &app.customer_writes(&owner.ingest_token, "sam@else.example", "Hello")
            .await,
    );
    let (ruth, ruth_at_work) = (
        customer_of(&owner, &home).await,
        customer_of(&owner, &work).await,
    );
    assert_ne!(ruth, ruth_at_work, "two addresses, two customers so far");

    // Found by part of an address, in any case; another customer is not.
    let found = agent.json("/api/customers?q=RUTH@").await;
    assert_eq!(
        names(&found),
        ["ruth@home.example", "ruth@work.example"],
        "{found}"
    );
    assert_eq!(
        names(&agent.json("/api/customers?q=work.exa").await),
        ["ruth@work.example"]
    );
    let long = "x".repeat(201);
    let (status, code, field) =
        error_of(agent.get(&format!("/api/customers?q={long}")).await).await;
    assert_eq!(
        (status.as_u16(), code.as_str(), field.as_deref()),
        (422, "invalid", Some("q"))
    );

    // Notes: agents write them, viewers read them.
    let page = agent
        .patch(
            &format!("/api/customers/{ruth}"),
            json!({ "notes": "Prefers email. VIP since 2024." }),
        )
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let r = agent
        .patch(
            &format!("/api/customers/{ruth_at_work}"),
            json!({ "notes": "Orders for her office." }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = viewer
        .patch(&format!("/api/customers/{ruth}"), json!({ "notes": "x" }))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (status, _, field) = error_of(
        agent
            .patch(
                &format!("/api/customers/{ruth}"),
                json!({ "notes": "x".repeat(10_001) }),
            )
            .await,
    )
    .await;
    assert_eq!((status.as_u16(), field.as_deref()), (422, Some("notes")));
    let (status, _, _) = error_of(
        agent
            .patch(&format!("/api/customers/{ruth}"), json!({ "notes": 7 }))
            .await,
    )
    .await;
    assert!(status.is_client_error());
    let page = viewer.json(&format!("/api/customers/{ruth}")).await;
    assert_eq!(page["notes"], "Prefers email. VIP since 2024.", "{page}");
    assert_eq!(page["cases"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["cases"][0]["id"], home.as_str());

    // Bad merges change nothing.
    for (into, why) in [
        (ruth.clone(), "the same customer"),
        (uuid::Uuid::new_v4().to_string(), "no such customer"),
    ] {
        let (status, _, field) = error_of(
            agent
                .post(
                    &format!("/api/customers/{ruth}/merge"),
                    json!({ "into_id": into }),
                )
                .await,
        )
        .await;
        assert_eq!(
            (status.as_u16(), field.as_deref()),
            (422, Some("into_id")),
            "{why}"
        );
    }
    let r = viewer
        .post(
            &format!("/api/customers/{ruth_at_work}/merge"),
            json!({ "into_id": ruth }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(customer_of(&owner, &work).await, ruth_at_work);

    // The merge: her work address's case follows her, the notes join, everyone hears of it.
    let mut ws = Ws::connect(&app.url, &token, None).await.expect("socket");
    ws.expect("hello", WAIT).await;
    let r = agent
        .post(
            &format!("/api/customers/{ruth_at_work}/merge"),
            json!({ "into_id": ruth }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["customer"]["id"], ruth.as_str());
    assert_eq!(page["customer"]["email"], "ruth@home.example");
    assert_eq!(
        page["notes"], "Prefers email. VIP since 2024.\n\nOrders for her office.",
        "{page}"
    );
    let addresses: Vec<&str> = page["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["value"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["ruth@home.example", "ruth@work.example"]);
    let cases: Vec<&str> = page["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(cases, [work.as_str(), home.as_str()], "newest first");
    let event = ws.expect("event", WAIT).await;
    assert_eq!(event["event"]["kind"], "customer.merged", "{event}");
    assert_eq!(event["event"]["customer_id"], ruth_at_work.as_str());
    assert_eq!(event["event"]["into_id"], ruth.as_str());
    assert_eq!(event["event"]["case_ids"], json!([work]));

    assert_eq!(customer_of(&owner, &work).await, ruth);
    let detail = owner.json(&format!("/api/cases/{work}")).await;
    assert!(
        detail["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["kind"] == "customer_merged"),
        "{detail}"
    );
    // The old id answers the customer she became; the search lists her once.
    let by_old_id = owner.json(&format!("/api/customers/{ruth_at_work}")).await;
    assert_eq!(by_old_id["customer"]["id"], ruth.as_str());
    assert_eq!(
        names(&owner.json("/api/customers?q=ruth").await),
        ["ruth@home.example"]
    );
    // Mail from either address finds her.
    let again = case_id(
        &app.customer_writes(&owner.ingest_token, "ruth@work.example", "Also: a receipt?")
            .await,
    );
    assert_eq!(customer_of(&owner, &again).await, ruth);
    assert_eq!(
        customer_of(&owner, &other).await,
        customer_of(&owner, &other).await
    );
    let audit = owner.json("/api/audit?action=customer.merged").await;
    assert!(audit.to_string().contains(&ruth_at_work), "{audit}");

    // Another workspace sees none of it and cannot merge into it.
    let stranger = app.signup("Elsewhere", "Eli Else").await;
    assert_eq!(
        stranger
            .get(&format!("/api/customers/{ruth}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        names(&stranger.json("/api/customers?q=ruth").await),
        Vec::<String>::new()
    );
    let sam = customer_of(&owner, &other).await;
    let theirs = case_id(
        &app.customer_writes(&stranger.ingest_token, "zoe@there.example", "Hi")
            .await,
    );
    let zoe = customer_of(&stranger, &theirs).await;
    let (status, _, field) = error_of(
        owner
            .post(
                &format!("/api/customers/{sam}/merge"),
                json!({ "into_id": zoe }),
            )
            .await,
    )
    .await;
    assert_eq!((status.as_u16(), field.as_deref()), (422, Some("into_id")));
    assert_eq!(
        stranger
            .post(
                &format!("/api/customers/{sam}/merge"),
                json!({ "into_id": zoe })
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Erasing her by either id erases her under both addresses; she cannot be merged any more.
    let r = owner
        .post(&format!("/api/customers/{ruth_at_work}/erase"), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = owner.json(&format!("/api/customers/{ruth}")).await;
    assert_eq!(page["erased"], true, "{page}");
    assert_eq!(page["addresses"], json!([]), "{page}");
    assert_eq!(page["notes"], "", "{page}");
    let (status, _, field) = error_of(
        owner
            .post(
                &format!("/api/customers/{sam}/merge"),
                json!({ "into_id": ruth }),
            )
            .await,
    )
    .await;
    assert_eq!((status.as_u16(), field.as_deref()), (422, Some("into_id")));
    assert!(owner
        .json("/api/customers?q=ruth")
        .await
        .as_array()
        .unwrap()
        .is_empty());
}
on_both!(merge_and_history, one_customer_from_two_addresses);

//! The API against its own OpenAPI document: every operation but the public few refuses a
//! request without credentials, and schemathesis (fuzzing from the document, with and without
//! credentials) finds no server error, no undocumented status, no body or header outside the
//! schema, no request wrongly accepted and no credentials ignored. Needs `schemathesis`
//! (`pip install schemathesis`).

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{require, Db, TestApp};

/// The operations anyone may call (single sign-on starts and returns, and an invite link read
/// and accepted, before there is a session). Everything else needs a session or an API token; the ingest webhook needs the
/// workspace's ingest token.
const PUBLIC: [&str; 9] = [
    "GET /healthz",
    "GET /api/invites/{token}",
    "GET /metrics",
    "GET /readyz",
    "POST /api/invites/{token}/accept",
    "POST /api/session",
    "POST /api/signup",
    "POST /api/sso/start",
    "GET /sso/callback",
];

/// `(method, path)` of every operation in the document, and whether it is public.
fn operations(spec: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let public = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .all(|r| r.as_object().is_some_and(|r| r.is_empty()))
            });
            out.push((method.to_uppercase(), path.clone(), public));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_but_the_public_ones_refuses_a_caller_without_credentials() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.signup("Locked", "Olivia Owner").await;
    let case = app
        .customer_writes(&owner.ingest_token, "c@example.com", "hello")
        .await;
    let case_id = case["case_id"].as_str().unwrap();
    let spec: Value = reqwest::get(format!("{}/api/openapi.json", app.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ops = operations(&spec);
    assert!(ops.len() >= 30, "the document lists the API: {ops:?}");

    let public: BTreeSet<String> = ops
        .iter()
        .filter(|(_, _, public)| *public)
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        public,
        PUBLIC.iter().map(|s| s.to_string()).collect(),
        "the public operations are exactly the known few"
    );

    let anonymous = reqwest::Client::new();
    for (method, path, is_public) in ops.iter().filter(|(_, _, p)| !p) {
        let url = format!(
            "{}{}",
            app.url,
            path.replace("{id}", case_id).replace("{token}", "x")
        );
        for bearer in [None, Some("btk_not-a-real-token")] {
            let mut request = anonymous
                .request(Method::from_bytes(method.as_bytes()).unwrap(), &url)
                .json(&json!({}));
            if let Some(b) = bearer {
                request = request.bearer_auth(b);
            }
            let r = request.send().await.unwrap();
            assert_eq!(
                r.status().as_u16(),
                401,
                "{method} {path} (public: {is_public}) with credentials {bearer:?}"
            );
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
        }
    }
    // The owner's own data did not move: the case is still there, untouched.
    let after = owner.json(&format!("/api/cases/{case_id}")).await;
    assert_eq!(after["case"]["version"], 1, "{after}");
    app.stop().await;
}

/// Runs `st run` against `spec` with `args`; panics on any failure it reports.
async fn schemathesis(spec: &str, config: Option<&std::path::Path>, args: &[&str]) -> String {
    let mut command = std::process::Command::new("st");
    if let Some(config) = config {
        command.arg("--config-file").arg(config);
    }
    command
        .args(["run", spec, "--max-examples", "25", "--workers", "2"])
        .args(["--seed", "20261122", "--checks", "all"])
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output().expect("run schemathesis"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    // Failures are what the server did; "errors" are schemathesis' own crashes (Hypothesis has
    // been seen to trip over its own internals), which say nothing about the API.
    assert!(
        !stdout.contains("= FAILURES =") && !stdout.contains("Server error"),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        eprintln!("schemathesis reported errors of its own (not failures):\n{stdout}");
    }
    let summary = stdout.lines().skip_while(|l| !l.contains("SUMMARY"));
    eprintln!("{}", summary.collect::<Vec<_>>().join("\n"));
    assert!(
        stdout.contains("generated"),
        "schemathesis ran no test case:\n{stdout}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzing_the_api_from_its_openapi_document_finds_nothing_outside_it() {
    let available = std::process::Command::new("st")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !require("schemathesis (the `st` command)", available) {
        return;
    }
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.signup("Fuzzed", "Olivia Owner").await;
    let agent = app.invite(&owner, "Andy Agent", "agent").await;
    let case = app
        .customer_writes(&owner.ingest_token, "c@example.com", "a case to poke at")
        .await;
    let invite: Value = owner
        .post(
            "/api/invites",
            json!({ "email": "ivy@example.com", "name": "Ivy", "role": "agent" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = owner.api_token().await;
    let spec = format!("{}/api/openapi.json", app.url);

    // Without credentials: only the public operations do anything (`ignored_auth` checks that
    // every other one refuses missing and made-up credentials).
    schemathesis(
        &spec,
        None,
        &["--exclude-checks", "positive_data_acceptance"],
    )
    .await;

    // With the owner's token, and real ids so that requests reach past the 404s. Signing out
    // would end the token halfway through, so that one operation is left out here (it is
    // covered in accounts.rs). Schema-valid input the server refuses on meaning (an email
    // without a domain, a password of 3 characters) is a 422 by design, so
    // `positive_data_acceptance` is not asked for.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[operations]]
include-path-regex = "^/api/cases/"
parameters = {{ "path.id" = "{case}" }}

[[operations]]
include-path-regex = "^/api/teammates/"
parameters = {{ "path.id" = "{agent}" }}

[[operations]]
include-path-regex = "^/api/invites/"
parameters = {{ "path.token" = "{invite}" }}
"#,
            case = case["case_id"].as_str().unwrap(),
            agent = agent.id,
            invite = invite["token"].as_str().unwrap(),
        ),
    )
    .unwrap();
    let header = format!("Authorization: Bearer {token}");
    schemathesis(
        &spec,
        Some(&config),
        &[
            "--exclude-checks",
            "positive_data_acceptance,ignored_auth",
            "--exclude-operation-id",
            "logout",
            // Like sign-out, revoking ends credentials the run needs: the fuzzer finds the ids
            // in GET /api/me/sessions and would revoke its own token and the owner's session.
            "--exclude-operation-id",
            "revoke_session",
            "-H",
            &header,
        ],
    )
    .await;

    // Whatever the fuzzer did, the server still serves, and the data still reads back.
    let me = owner.get("/api/me").await;
    assert_eq!(me.status().as_u16(), 200);
    let cases = owner.json("/api/cases?view=all&filter=open").await;
    assert!(cases["cases"].is_array(), "{cases}");
    app.stop().await;
}

//! The API under schemathesis (fuzzing from the OpenAPI document): no input makes it answer
//! with a server error. Needs `schemathesis` (`pip install schemathesis`).

use crate::common::{require, Db, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzing_the_api_from_its_openapi_document_finds_no_server_error() {
    let available = std::process::Command::new("st")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !require("schemathesis (the `st` command)", available) {
        return;
    }
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.signup("Fuzzed", "Olivia Owner").await;
    app.customer_writes(&owner.ingest_token, "c@example.com", "a case to poke at")
        .await;
    let token = owner.api_token().await;
    let spec = format!("{}/api/openapi.json", app.url);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("st")
            .args([
                "run",
                &spec,
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "15",
                "--workers",
                "2",
                "--seed",
                "20261122",
            ])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .output()
            .expect("run schemathesis")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Failures are what the server did; "errors" are schemathesis' own crashes (Hypothesis has
    // been seen to trip over its own internals), which say nothing about the API.
    assert!(
        !stdout.contains("= FAILURES =") && !stdout.contains("Server error"),
        "schemathesis found server errors:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        eprintln!("schemathesis reported errors of its own (not failures):\n{stdout}");
    }
    assert!(
        stdout.contains("generated"),
        "schemathesis ran no test case:\n{stdout}"
    );
    app.stop().await;
}

//! The browser inbox in real Chromium: runs `tests/e2e/run.mjs` (playwright-core) against a
//! fresh server. Needs node, `tests/e2e/node_modules` (`npm ci`) and Chromium (`CHROMIUM_PATH`,
//! default `/usr/bin/chromium`).

use std::path::Path;

use crate::common::{require, Db, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_works_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let ready = node
        && Path::new(&chromium).exists()
        && root.join("tests/e2e/node_modules/playwright-core").exists();
    if !require("node, Chromium and tests/e2e/node_modules (npm ci)", ready) {
        return;
    }
    let app = TestApp::spawn(Db::Sqlite).await;
    let url = app.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg("tests/e2e/run.mjs")
            .current_dir(root)
            .env("BATON_URL", url)
            .env("CHROMIUM_PATH", chromium)
            // Live updates must arrive without a reload; how fast is measured and printed (about
            // 150-250 ms here), not asserted: a wall-clock deadline on a shared machine is noise.
            .env("BATON_E2E_LIVE_MS", "5000")
            .output()
            .expect("run node")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "browser tests failed:\n{stdout}\n{stderr}"
    );
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .unwrap_or("");
    assert!(
        summary.ends_with(" 0 failed"),
        "unexpected summary: {summary:?}"
    );
    app.stop().await;
}

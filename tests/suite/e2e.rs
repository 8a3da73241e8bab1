//! The browser inbox in real Chromium: runs `tests/e2e/run.mjs` (playwright-core) against a
//! fresh server. Needs node, npm and Chromium (`CHROMIUM_PATH`, default `/usr/bin/chromium`);
//! installs its npm packages itself (`npm ci` in `tests/e2e`) when they are missing, so a fresh
//! clone's `cargo test` runs it.

use std::io::Write;
use std::path::Path;

use crate::common::{require, Db, TestApp};
use crate::oidc_provider::provider;

fn runs(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `npm ci` in `dir`, saying so on the terminal (it takes a while and writes `node_modules/`).
fn npm_ci(dir: &Path) -> Result<(), String> {
    let _ = writeln!(
        std::io::stderr(),
        "the browser test is installing its npm packages: npm ci in {}",
        dir.display()
    );
    let out = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
    Err(tail.into_iter().rev().collect::<Vec<_>>().join(" / "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_works_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !require(
        &format!("Chromium ({chromium})"),
        Path::new(&chromium).exists(),
    ) || !require("node and npm", runs("node") && runs("npm"))
    {
        return;
    }
    let e2e = root.join("tests/e2e");
    // Every package in package.json, so a checkout that gained one installs again.
    let ready = ["playwright-core", "axe-core"]
        .iter()
        .all(|package| e2e.join("node_modules").join(package).exists());
    if !ready {
        let installed = npm_ci(&e2e);
        if !require(
            &format!(
                "the browser test's npm packages (npm ci failed: {})",
                installed.as_ref().err().map_or("", String::as_str)
            ),
            installed.is_ok(),
        ) {
            return;
        }
    }
    let app = TestApp::spawn(Db::Sqlite).await;
    let url = app.url.clone();
    // The single sign-on step signs in through a real OpenID provider; without one (outside
    // CI) the script leaves that step out and says so.
    let idp = provider(&app).await;
    let issuer = idp.as_ref().map(|p| p.issuer.clone()).unwrap_or_default();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg("tests/e2e/run.mjs")
            .current_dir(root)
            .env("BATON_URL", url)
            .env("OIDC_ISSUER", issuer)
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
    drop(idp);
    app.stop().await;
}

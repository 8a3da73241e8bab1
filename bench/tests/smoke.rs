//! The load generator itself: a few seconds of `baton-bench fanout` against a server it starts on
//! SQLite must report deliveries, no missed and no duplicate events. No timing is asserted: this
//! machine's speed is not the tool's correctness.
//!
//! The server is the workspace's own `baton`, next to `baton-bench` in the target directory:
//! `cargo test --workspace` builds it before any test runs (the server's own tests need it).
//! When it is not there (`cargo test -p baton-bench`), cargo builds it into the same target
//! directory and profile. Where that cannot be done the test says so and skips, except under
//! `CI=true`, where it fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[test]
fn bench_fanout_smoke_reports_every_event_once() {
    let Some(server) = server_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fanout.json");
    let svg = dir.path().join("fanout.svg");
    let status = Command::new(env!("CARGO_BIN_EXE_baton-bench"))
        .args(["fanout", "--spawn", "--db", "sqlite", "--server-bin"])
        .arg(&server)
        .args(["--teammates", "3", "--sockets", "6", "--workers", "2"])
        .args(["--rate", "10,20", "--duration", "1.5", "--drain", "1"])
        .arg("--json")
        .arg(&out)
        .arg("--svg")
        .arg(&svg)
        .status()
        .expect("run baton-bench");
    assert!(status.success(), "baton-bench failed: {status}");
    let result: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(result["scenario"], "fanout");
    assert_eq!(result["sockets"], 6);
    let steps = result["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    for step in steps {
        assert_eq!(step["missed"], 0, "{step}");
        assert_eq!(step["duplicates"], 0, "{step}");
        assert_eq!(step["action_errors"], 0, "{step}");
        assert!(step["deliveries"].as_u64().unwrap() > 0, "{step}");
        assert_eq!(step["events_unmatched"], 0, "{step}");
        assert!(step["latency_ms"]["count"].as_u64().unwrap() > 0, "{step}");
    }
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg"));
}

/// The `baton` server next to this test's `baton-bench`, built with `cargo build --bin baton`
/// (same target directory and profile) if it is not there; `None` when it cannot be, outside CI.
fn server_binary() -> Option<PathBuf> {
    let profile_dir = Path::new(env!("CARGO_BIN_EXE_baton-bench"))
        .parent()
        .unwrap();
    let binary = profile_dir.join(format!("baton{}", std::env::consts::EXE_SUFFIX));
    if binary.is_file() {
        return Some(binary);
    }
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
    let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => "dev",
        other => other,
    };
    let mut build = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "--package", "baton", "--bin", "baton"])
        .args(["--profile", profile, "--target-dir"])
        .arg(target_dir);
    // Built for a `--target` triple: the profile directory is one level further down.
    if profile_dir.parent() != Some(target_dir) {
        let triple = profile_dir.parent().unwrap().file_name().unwrap();
        build.arg("--target").arg(triple);
    }
    // What cargo tells this test about its own build is not for the nested one: build scripts
    // that watch `CARGO_MANIFEST_DIR` would otherwise run again and rebuild their crates.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if matches!(key.as_str(), "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE")
            || ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_BIN_"]
                .iter()
                .any(|prefix| key.starts_with(prefix))
        {
            build.env_remove(key);
        }
    }
    match build.status() {
        Ok(status) if status.success() => {
            assert!(
                binary.is_file(),
                "cargo built baton, but not at {}",
                binary.display()
            );
            Some(binary)
        }
        Ok(status) => panic!("cargo build --bin baton: {status}"),
        Err(e) => {
            let what = format!("cargo (to build the baton server: {e})");
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("{what} is required under CI=true but could not be run");
            }
            // Past the test harness's capture, so that a skip is seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {what} (set CI=true to make this a failure)"
            );
            None
        }
    }
}

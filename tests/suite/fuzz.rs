//! Coverage-guided fuzzing of the two parsers that read what strangers send: WebSocket client
//! frames and the inbound webhook's body (the targets in `fuzz/`, cargo-fuzz on libFuzzer). Each
//! test fuzzes one target for a short while from its committed seeds and fails on any crash,
//! broken property, leak or timeout; `docs/reliability.md` has the long run. Needs the nightly
//! toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
//!
//! The fuzz build goes to `$CARGO_TARGET_DIR/fuzz` (or `target/fuzz`), so that CI keeps it
//! between runs: only the first run pays for a cold nightly build of the server's dependencies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::require;

/// Seconds of fuzzing per target: enough to get well past the seeds into mutations, short
/// enough for the suite.
const SECONDS: u32 = 25;

/// A run that executed fewer inputs than this did not really fuzz (it stopped early, or spent
/// its time on something else); a run on a loaded machine still does many times more.
const MIN_RUNS: u64 = 1_000;

#[test]
fn client_frames_survive_fuzzing() {
    fuzz("client_frame");
}

#[test]
fn inbound_payloads_survive_fuzzing() {
    fuzz("inbound_payload");
}

fn fuzz(target: &str) {
    if !require("cargo-fuzz and the nightly toolchain", tools_installed()) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // A copy, because libFuzzer adds every input that finds new coverage to its corpus.
    let corpus = tempfile::tempdir().expect("temp dir");
    let seeds = root.join("fuzz/corpus").join(target);
    for entry in std::fs::read_dir(&seeds).expect("the target's seed corpus") {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), corpus.path().join(entry.file_name())).unwrap();
    }

    let build = cargo_fuzz(root, &["build", target])
        .output()
        .expect("run cargo fuzz build");
    assert!(
        build.status.success(),
        "cargo fuzz build {target} failed:\n{}",
        tail(&build)
    );

    let run = cargo_fuzz(root, &["run", target])
        .arg(corpus.path())
        .arg("--")
        .arg(format!("-max_total_time={SECONDS}"))
        .arg(format!("-dict={}", root.join("fuzz/json.dict").display()))
        .output()
        .expect("run cargo fuzz run");
    let log = String::from_utf8_lossy(&run.stderr);
    if !run.status.success() {
        let artifact = log
            .lines()
            .find_map(|l| {
                l.split_once("Test unit written to ")
                    .map(|(_, path)| path.trim())
            })
            .unwrap_or("(none written)");
        panic!(
            "fuzzing {target} failed ({}); reproducer: {artifact}\n{}",
            run.status,
            tail(&run)
        );
    }
    let runs = log
        .lines()
        .find_map(|l| {
            l.strip_prefix("Done ")?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or_else(|| panic!("no `Done N runs` line from libFuzzer:\n{}", tail(&run)));
    let summary = log
        .lines()
        .rev()
        .find(|l| l.contains(" cov: "))
        .unwrap_or("");
    eprintln!("{target}: {runs} runs in {SECONDS} s; last status: {summary}");
    assert!(
        runs > MIN_RUNS,
        "{target}: only {runs} runs in {SECONDS} s\n{}",
        tail(&run)
    );
}

/// `cargo +nightly fuzz SUBCOMMAND …`, from the repository root, building where CI caches.
fn cargo_fuzz(root: &Path, args: &[&str]) -> Command {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("fuzz");
    let mut command = Command::new("cargo");
    // What `cargo test` tells this test about the suite's own build is not for the nested
    // build: some build scripts rerun when `CARGO_MANIFEST_DIR` changes, so passing it on
    // would rebuild the fuzz targets' dependencies every time the suite and a hand-run
    // `cargo fuzz` take turns.
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(set_by_cargo_test) {
            command.env_remove(key);
        }
    }
    command
        .current_dir(root)
        .arg("+nightly")
        .arg("fuzz")
        .args(args)
        .arg("--target-dir")
        .arg(target_dir);
    command
}

/// The variables `cargo test` sets for a test binary, on top of the caller's environment.
fn set_by_cargo_test(key: &str) -> bool {
    matches!(
        key,
        "CARGO" | "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR"
    ) || ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_BIN_"]
        .iter()
        .any(|prefix| key.starts_with(prefix))
}

fn tools_installed() -> bool {
    Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The end of a command's output: where cargo's error or libFuzzer's crash report is.
fn tail(output: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(200)..].join("\n")
}

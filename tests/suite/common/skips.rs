//! Tests that passed without testing everything. libtest captures what tests print (their
//! output shows only on failure), so a skip would otherwise pass unseen: each binary writes the
//! skips of the whole `cargo test` run so far to the real stderr when it exits, after its own
//! `test result` line. The binaries of one run share a file in cargo's temporary directory, so
//! the last summary (the suite's) also names the browser test's skips.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, Once};

/// `(what, test)` pairs of this process, when it does not run under cargo.
static OWN: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

/// One file per `cargo test` run: named after the cargo process and its start time.
fn shared_file() -> Option<PathBuf> {
    let parent = std::os::unix::process::parent_id();
    let comm = std::fs::read_to_string(format!("/proc/{parent}/comm")).ok()?;
    if comm.trim() != "cargo" {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{parent}/stat")).ok()?;
    let started = stat
        .rsplit(')')
        .next()?
        .split_whitespace()
        .nth(19)?
        .to_string();
    Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("skipped-{parent}-{started}.tsv")))
}

pub fn record(what: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed test)")
        .to_string();
    match shared_file() {
        Some(path) => {
            // One short append per line: lines from parallel tests never interleave.
            let line = format!("{}\t{test}\n", what.replace(['\t', '\n'], " "));
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(line.as_bytes()));
        }
        None => OWN.lock().unwrap().push((what.to_string(), test)),
    }
}

/// Makes this binary print the run's skips when it exits, its own and those of the test
/// binaries before it (the browser test's, for the suite). Called by `require` and by the
/// helpers every test starts with, so a binary whose tests skipped nothing still says what
/// the earlier ones skipped.
pub fn report_at_exit() {
    AT_EXIT.call_once(|| {
        forget_old_runs();
        // SAFETY: registers a plain function with no captured state, once.
        unsafe { atexit(report) };
    });
}

/// Files of runs that ended a day ago or more.
fn forget_old_runs() {
    let day = std::time::Duration::from_secs(24 * 3600);
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > day));
        let ours = entry.file_name().to_string_lossy().starts_with("skipped-");
        if ours && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn recorded() -> Vec<(String, String)> {
    match shared_file() {
        Some(path) => std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(w, t)| (w.to_string(), t.to_string()))
            .collect(),
        None => OWN.lock().map(|o| o.clone()).unwrap_or_default(),
    }
}

/// The summary, as a person reads it at the end of the output.
pub fn summary(recorded: &[(String, String)]) -> String {
    let mut by_what: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (what, test) in recorded {
        let tests = by_what.entry(what).or_default();
        if !tests.contains(&test.as_str()) {
            tests.push(test);
        }
    }
    let mut all: Vec<&str> = by_what.values().flatten().copied().collect();
    all.sort_unstable();
    all.dedup();
    let mut out = format!(
        "\nNOT EVERYTHING WAS TESTED: {} test(s) passed without running the parts that need a dependency missing here.\n",
        all.len()
    );
    for (what, tests) in &by_what {
        let shown: Vec<&str> = tests.iter().take(3).copied().collect();
        let more = match tests.len() - shown.len() {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        out.push_str(&format!(
            "  {what}: {} test(s): {}{more}\n    to enable: {}\n",
            tests.len(),
            shown.join(", "),
            super::how_to_enable(what)
        ));
    }
    out.push_str(
        "To install and start all of them (Debian, as root): bash .ci/run; it then runs the suite \
         with CI=true, where a missing dependency fails instead of skipping.\n",
    );
    out
}

extern "C" fn report() {
    let recorded = recorded();
    if !recorded.is_empty() {
        let _ = std::io::stderr().write_all(summary(&recorded).as_bytes());
    }
}

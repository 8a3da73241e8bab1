//! The independent peers in `tests/peers/` (Python scripts built on each protocol's reference
//! package): a probe for the modules they need, and a peer process that prints `ready` once it
//! listens and is killed when dropped.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The folder of the peer scripts.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// Whether `python3` can `import {modules}` (a comma-separated list).
pub fn python_has(modules: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .status()
        .is_ok_and(|s| s.success())
}

/// A running peer script.
pub struct Peer {
    child: std::process::Child,
}

impl Peer {
    /// Starts `tests/peers/{script}` with `args` and waits for its `ready` line.
    pub fn start(script: &str, args: &[String]) -> Peer {
        let mut child = std::process::Command::new("python3")
            .arg(dir().join(script))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "{script} did not start");
        Peer { child }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The JSON lines a peer logged to `path` so far (none when it wrote nothing yet).
pub fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

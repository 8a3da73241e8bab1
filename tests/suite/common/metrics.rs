//! What a running server shows of itself: its memory and its `/metrics`.

use std::time::Duration;

/// A process's resident memory in bytes, from `/proc/<pid>/status`.
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// One unlabelled value from a server's `/metrics`.
pub async fn metric(url: &str, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits until the server counts `want` open sockets.
pub async fn sockets_open_becomes(url: &str, want: f64) -> f64 {
    let mut seen = f64::NAN;
    for _ in 0..300 {
        seen = metric(url, "baton_sockets_open").await.unwrap_or(f64::NAN);
        if seen == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

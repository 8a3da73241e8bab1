//! `export`: a workspace seeded with many cases, then its export downloaded as fast as one
//! client reads it, while the server's memory is sampled: idle against peak.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};

use crate::accounts::create_workspace;
use crate::cli::ExportArgs;
use crate::host::{machine, proc_sample};
use crate::http::{http_client, inbound};
use crate::servers::servers;

/// Seeds `--cases` cases, then downloads the export and checks its manifest counts them all.
pub async fn export(a: ExportArgs) -> Result<Value> {
    let c = &a.common;
    let http = http_client()?;
    let srv = servers(c, 1, &http).await?;
    let server = &srv.list[0];
    let pid = server.pid.ok_or_else(|| {
        anyhow!("the export scenario reads the server's RSS: give --pid or --spawn")
    })?;
    let ws = create_workspace(&http, &server.url, "export", 0, 1).await?;
    let owner = ws.mates[0].token.clone();

    let seed_start = std::time::Instant::now();
    let mut seeded = 0usize;
    let mut results = stream::iter(0..a.cases)
        .map(|i| {
            let (http, url, ingest) = (&http, &server.url, &ws.ingest);
            async move { inbound(http, url, ingest, &format!("customer-{i}@bench.invalid")).await }
        })
        .buffer_unordered(a.seed_concurrency.max(1));
    while let Some(r) = results.next().await {
        r?;
        seeded += 1;
        if seeded.is_multiple_of(10_000) {
            eprintln!("seeded {seeded} cases");
        }
    }
    drop(results);
    let seed_secs = seed_start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = proc_sample(pid).ok_or_else(|| anyhow!("no /proc entry for pid {pid}"))?;

    // Sample RSS while one client downloads the archive as fast as it can read it.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = tokio::spawn({
        let done = done.clone();
        async move {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if let Some(s) = proc_sample(pid) {
                    peak = peak.max(s.rss_kib);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        }
    });
    let started = std::time::Instant::now();
    let mut r = http
        .get(format!("{}/api/workspace/export", server.url))
        .bearer_auth(&owner)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("GET /api/workspace/export: {}", r.status());
    }
    let mut bytes = 0u64;
    let mut saved = tempfile::tempfile()?;
    while let Some(chunk) = r.chunk().await? {
        bytes += chunk.len() as u64;
        std::io::Write::write_all(&mut saved, &chunk)?;
    }
    let export_secs = started.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = sampler.await?;
    let counts = manifest_counts(saved)?;
    if counts["cases"].as_u64() != Some(a.cases as u64) {
        bail!(
            "the archive holds {} cases, not {}",
            counts["cases"],
            a.cases
        );
    }
    eprintln!(
        "{} cases: idle RSS {} MiB, peak during export {} MiB, archive {} MiB in {export_secs:.1} s",
        a.cases,
        idle.rss_kib / 1024,
        peak / 1024,
        bytes / (1024 * 1024)
    );
    Ok(json!({
        "scenario": "export",
        "database": srv.db_desc,
        "machine": machine(),
        "cases": a.cases,
        "seed_seconds": seed_secs,
        "idle_rss_kib": idle.rss_kib,
        "peak_rss_kib": peak,
        "archive_bytes": bytes,
        "export_seconds": export_secs,
        "archive_counts": counts,
    }))
}

/// The `counts` of an export archive's `manifest.json`.
fn manifest_counts(mut archive: std::fs::File) -> Result<Value> {
    use std::io::{Read, Seek};
    archive.rewind()?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries()? {
        let mut entry = entry?;
        if entry.path()?.to_string_lossy() == "manifest.json" {
            let mut text = String::new();
            entry.read_to_string(&mut text)?;
            return Ok(serde_json::from_str::<Value>(&text)?["counts"].clone());
        }
    }
    bail!("the archive has no manifest.json")
}

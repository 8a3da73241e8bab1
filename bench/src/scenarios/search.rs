//! `search`: full-text search latency over a bulk-seeded history (`seed`), with queries of
//! several kinds (common, middling and rare words, prefixes, customer names, emails, phone
//! numbers as written, a word with a status filter) through the HTTP API.

mod seed;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Result};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use self::seed::{bench_customer, seed_search, vocabulary};
use crate::accounts::create_workspaces;
use crate::cli::SearchArgs;
use crate::histogram::Hist;
use crate::host::{machine, mono_ns, sum_cpu};
use crate::http::http_client;
use crate::servers::{sample_servers, servers};

/// Latency per kind of query, then queries with results, then failed ones.
type SearchTally = (BTreeMap<&'static str, Hist>, u64, u64);

pub async fn search(a: SearchArgs) -> Result<Value> {
    let c = &a.common;
    if !c.spawn {
        bail!("search seeds its own database: run it with --spawn");
    }
    let http = http_client()?;
    let srv = servers(c, 1, &http).await?;
    let url = srv.list[0].url.clone();
    let wss = create_workspaces(&http, &url, a.workspaces, 1).await?;
    let words = vocabulary();
    let db_url = srv.db_url.clone().ok_or_else(|| anyhow!("no database"))?;
    let seeded = seed_search(&a, &db_url, &wss, &words).await?;
    let cases = a.messages.div_ceil(a.per_case.max(1));

    // Varied queries, each kind in turn: how a team searches.
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let n = words.len();
    let mut queries = vec![];
    for i in 0..a.queries {
        let w = |rng: &mut rand::rngs::StdRng, lo: f64, hi: f64| {
            words[(rng.gen_range(lo..hi) * n as f64) as usize].clone()
        };
        let person = rng.gen_range(0..cases);
        let (name, email, phone) = bench_customer(person);
        let (kind, q, extra) = match i % 9 {
            0 => ("common word", w(&mut rng, 0.0, 0.02), ""),
            1 => ("middling word", w(&mut rng, 0.2, 0.5), ""),
            2 => ("rare word", w(&mut rng, 0.8, 1.0), ""),
            3 => (
                "two words",
                format!("{} {}", w(&mut rng, 0.0, 0.3), w(&mut rng, 0.1, 0.6)),
                "",
            ),
            4 => {
                let word = w(&mut rng, 0.1, 0.6);
                ("prefix", word.chars().take(3).collect(), "")
            }
            5 => ("customer name", name, ""),
            6 => ("email", email, ""),
            7 => {
                let d = &phone[2..];
                (
                    "phone as written",
                    format!("+1 ({}) {}-{}", &d[..3], &d[3..6], &d[6..]),
                    "",
                )
            }
            _ => (
                "word + status, newest first",
                w(&mut rng, 0.0, 0.3),
                "&status=needs_reply&sort=recent",
            ),
        };
        let ws = &wss[person % wss.len()];
        queries.push((kind, q, extra, ws.mates[0].token.clone()));
    }
    let queries = Arc::new(queries);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let results: Arc<Mutex<SearchTally>> = Arc::default();
    let s0 = sample_servers(&srv);
    let start = mono_ns();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..a.concurrency.max(1) {
        let (http, url, queries, next, results) = (
            http.clone(),
            url.clone(),
            queries.clone(),
            next.clone(),
            results.clone(),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((kind, q, extra, token)) = queries.get(i) else {
                    break;
                };
                let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
                let sent = mono_ns();
                let r = http
                    .get(format!(
                        "{url}/api/cases?view=all&filter=open&limit=25&q={q}{extra}"
                    ))
                    .bearer_auth(token)
                    .send()
                    .await;
                let found = match r {
                    Ok(r) if r.status().is_success() => r
                        .json::<Value>()
                        .await
                        .ok()
                        .map(|v| v["cases"].as_array().map_or(0, Vec::len)),
                    _ => None,
                };
                let us = (mono_ns() - sent) / 1000;
                let mut g = results.lock().unwrap();
                g.0.entry(kind).or_default().add(us);
                g.0.entry("all").or_default().add(us);
                match found {
                    Some(n) if n > 0 => g.1 += 1,
                    Some(_) => {}
                    None => g.2 += 1,
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let secs = (mono_ns() - start) as f64 / 1e9;
    let s1 = sample_servers(&srv);
    let g = results.lock().unwrap();
    let by_kind: serde_json::Map<String, Value> =
        g.0.iter()
            .map(|(k, h)| (k.to_string(), h.summary()))
            .collect();
    let all = &g.0["all"];
    eprintln!(
        "{} queries over {seeded} messages ({}): p50 {} ms, p99 {} ms, {} with results, {} errors",
        all.count,
        srv.db_desc,
        all.summary()["p50"],
        all.summary()["p99"],
        g.1,
        g.2
    );
    for (k, h) in &g.0 {
        eprintln!(
            "  {k:<28} p50 {:>7} ms  p99 {:>7} ms",
            h.summary()["p50"],
            h.summary()["p99"]
        );
    }
    Ok(json!({
        "scenario": "search",
        "machine": machine(),
        "database": srv.db_desc,
        "messages": seeded,
        "cases": cases,
        "workspaces": a.workspaces,
        "concurrency": a.concurrency,
        "queries_per_s": ((all.count as f64 / secs) * 10.0).round() / 10.0,
        "with_results": g.1,
        "errors": g.2,
        "http_ms": all.summary(),
        "by_kind": by_kind,
        "server_cpu_pct": sum_cpu(&s0, &s1),
    }))
}

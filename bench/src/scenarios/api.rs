//! `api`: HTTP throughput with a fixed number of requests in flight, first inbound messages from
//! new customers, then assignments of the cases they opened; on SQLite, per `synchronous` mode,
//! beside what an fsync costs on the disk the database is on.

use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::accounts::create_workspaces;
use crate::cli::ApiArgs;
use crate::histogram::Hist;
use crate::host::{cpu_between, cpu_sample, fs_of, fsync_probe, machine, mono_ns, sum_cpu};
use crate::http::{http_client, ok_json};
use crate::servers::{sample_servers, servers_with};

/// Closed loop: `concurrency` requests in flight for `duration` seconds.
pub async fn api(a: ApiArgs) -> Result<Value> {
    let c = &a.common;
    let http = http_client()?;
    let sqlite = c.spawn && c.db != "postgres";
    if !sqlite && a.sqlite_synchronous.len() > 1 {
        bail!("--sqlite-synchronous compares SQLite servers this tool spawns");
    }
    // One server per setting, all started first; each step then runs on each in turn, so that
    // whatever else the machine does weighs on all of them alike.
    let mut targets = vec![];
    for mode in &a.sqlite_synchronous {
        let srv = servers_with(c, 1, &http, &[("BATON_SQLITE_SYNCHRONOUS", mode)]).await?;
        let url = srv.list[0].url.clone();
        let wss = Arc::new(create_workspaces(&http, &url, a.workspaces, 2).await?);
        targets.push((mode.clone(), srv, url, wss));
    }
    let fsync_before = sqlite
        .then(|| fsync_probe(&std::env::temp_dir()))
        .transpose()?;
    if let Some(f) = &fsync_before {
        eprintln!(
            "write + fdatasync of 4 KiB in {}: p50 {} ms, p99 {} ms",
            std::env::temp_dir().display(),
            f["p50"],
            f["p99"]
        );
    }
    let mut steps = vec![];
    for (&conc, (mode, srv, url, wss)) in a
        .concurrency
        .iter()
        .flat_map(|conc| targets.iter().map(move |t| (conc, t)))
    {
        let mut step = json!({"concurrency": conc});
        if sqlite {
            step["sqlite_synchronous"] = json!(mode);
        }
        // Inbound messages from new customers (each creates a case), then assignments of them.
        // Each case with its workspace and which of the two teammates it goes to next: every
        // assignment request moves its case to the other one, so each is a change to commit.
        let case_ids: Arc<Mutex<Vec<(usize, String, usize)>>> = Arc::default();
        for kind in ["inbound", "assign"] {
            let s0 = sample_servers(srv);
            let c0 = cpu_sample("postgres");
            let start = mono_ns();
            let end = start + (a.duration * 1e9) as u64;
            let hist = Arc::new(Mutex::new((Hist::default(), 0u64, 0u64)));
            let mut tasks = tokio::task::JoinSet::new();
            for t in 0..conc {
                let (http, url, wss, hist, case_ids) = (
                    http.clone(),
                    url.clone(),
                    wss.clone(),
                    hist.clone(),
                    case_ids.clone(),
                );
                tasks.spawn(async move {
                    let mut i = 0usize;
                    while mono_ns() < end {
                        let sent = mono_ns();
                        let ok = if kind == "inbound" {
                            let w = (t + i) % wss.len();
                            let r = http
                                .post(format!("{url}/api/inbound"))
                                .bearer_auth(&wss[w].ingest)
                                .json(&json!({"channel":"web","from":{"name":"Bench","email":format!("api-{t}-{i}-{}@customer.invalid", sent)},"body":"Is Tuesday fine?"}))
                                .send()
                                .await;
                            match r {
                                Ok(r) => match ok_json(r, "inbound").await {
                                    Ok(v) => {
                                        if let Some(id) = v["case_id"].as_str() {
                                            case_ids.lock().unwrap().push((w, id.to_string(), 0));
                                        }
                                        true
                                    }
                                    Err(_) => false,
                                },
                                Err(_) => false,
                            }
                        } else {
                            let item = {
                                let mut ids = case_ids.lock().unwrap();
                                if ids.is_empty() {
                                    None
                                } else {
                                    // Spread over all cases; two requests on one case are
                                    // rare and harmless (last writer wins).
                                    let n = ids.len();
                                    let k = (t + i * conc) % n;
                                    let (w, id, next) = &mut ids[k];
                                    let to = *next;
                                    *next = 1 - to;
                                    Some((*w, id.clone(), to))
                                }
                            };
                            let Some((w, id, to)) = item else { break };
                            let to = &wss[w].mates[to].id;
                            let r = http
                                .put(format!("{url}/api/cases/{id}/assignee"))
                                .bearer_auth(&wss[w].mates[0].token)
                                .json(&json!({ "assignee_id": to }))
                                .send()
                                .await;
                            matches!(r, Ok(r) if r.status().is_success())
                        };
                        let done = mono_ns();
                        let mut h = hist.lock().unwrap();
                        h.0.add((done - sent) / 1000);
                        if ok {
                            h.1 += 1
                        } else {
                            h.2 += 1
                        }
                        i += 1;
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
            let secs = (mono_ns() - start) as f64 / 1e9;
            let s1 = sample_servers(srv);
            let cpu = cpu_between(c0, cpu_sample("postgres"));
            let h = hist.lock().unwrap();
            step[kind] = json!({
                "ok": h.1,
                "errors": h.2,
                "per_s": ((h.1 as f64 / secs) * 10.0).round() / 10.0,
                "http_ms": h.0.summary(),
                "server_cpu_pct": sum_cpu(&s0, &s1),
                // Postgres's processes, whoever they serve (nothing else should use it), and
                // the whole machine: server, database and this load generator.
                "database_cpu_pct": (!sqlite).then(|| cpu["database_cpu_pct"].clone()),
                "machine_cpu_pct": cpu["machine_cpu_pct"],
            });
        }
        eprintln!(
            "concurrency {:>4}{}: inbound {}/s ({} errors), assignments {}/s ({} errors), p99 {} / {} ms",
            conc,
            if sqlite { format!(", synchronous {mode:<6}") } else { String::new() },
            step["inbound"]["per_s"],
            step["inbound"]["errors"],
            step["assign"]["per_s"],
            step["assign"]["errors"],
            step["inbound"]["http_ms"]["p99"],
            step["assign"]["http_ms"]["p99"]
        );
        steps.push(step);
    }
    Ok(json!({
        "scenario": "api",
        "machine": machine(),
        "database": targets[0].1.db_desc,
        "database_fs": sqlite.then(|| fs_of(&std::env::temp_dir())),
        "fsync_ms": sqlite.then(|| json!({
            "before": fsync_before,
            "after": fsync_probe(&std::env::temp_dir()).ok(),
        })),
        "workspaces": a.workspaces,
        "duration_per_step_s": a.duration,
        "steps": steps,
    }))
}

//! `idle`: sockets are added step by step and never closed; after each step, the servers'
//! memory growth per socket, then a few events sent to all of them. At the end every socket
//! closes, and the servers' memory is measured once more against where it started. Memory is
//! read once it has settled (`settled_servers`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Value};

use crate::accounts::create_workspaces;
use crate::cli::IdleArgs;
use crate::drive::{drive, measure_step, DriveState};
use crate::host::{machine, ProcSample};
use crate::http::http_client;
use crate::servers::{servers, settled_servers};
use crate::sockets::ws_url;
use crate::worker::{all_workers, connect_all, spawn_workers, Conn, ToWorker};

/// How long memory may take to settle before it is read anyway.
const SETTLE_LIMIT: f64 = 20.0;

pub async fn idle(a: IdleArgs) -> Result<Value> {
    let c = &a.common;
    let http = http_client()?;
    let srv = servers(c, 1, &http).await?;
    let total = *a.sockets.iter().max().unwrap_or(&0);
    let wss = Arc::new(create_workspaces(&http, &srv.list[0].url, 1, a.teammates).await?);
    let mut workers = spawn_workers(c, total)?;
    let base = settled_servers(&srv, SETTLE_LIMIT).await;
    let st = Arc::new(Mutex::new(DriveState::new(wss.len())));
    let mut steps = vec![];
    let mut have = 0usize;
    let groups = srv.list.len() as u32;
    for &target in &a.sockets {
        let conns: Vec<Conn> = (have..target)
            .map(|i| {
                let s = &srv.list[i % srv.list.len()];
                let m = &wss[0].mates[i % wss[0].mates.len()];
                let (url, socketio_token) = ws_url(s, &m.token);
                Conn {
                    addr: s.addr,
                    url,
                    socketio_token,
                    ws: 0,
                    group: (i % srv.list.len()) as u32,
                }
            })
            .collect();
        let n = conns.len();
        let (ok, failed, secs, errors) =
            connect_all(&mut workers, conns, c.max_per_worker, c.connect_concurrency).await?;
        have += ok;
        eprintln!(
            "idle: +{ok} sockets ({failed} failed) in {secs:.1} s, {have} open {:?}",
            errors.first()
        );
        tokio::time::sleep(Duration::from_secs_f64(a.hold)).await;
        let now = settled_servers(&srv, SETTLE_LIMIT).await;
        let cmds = workers.iter().map(|_| ToWorker::Status).collect();
        let statuses = all_workers(&mut workers, cmds).await?;
        let open: u64 = statuses
            .iter()
            .map(|s| s["open"].as_u64().unwrap_or(0))
            .sum();
        let rss = memory(&base, &now);
        let growth_kib: Option<f64> = base
            .iter()
            .zip(&now)
            .map(|(b, n)| match (b, n) {
                (Some(b), Some(n)) => Some(n.rss_kib as f64 - b.rss_kib as f64),
                _ => None,
            })
            .sum();
        // One event after another, each to every socket.
        let driven = drive(
            &http,
            &srv.list[0].url,
            &wss,
            &st,
            2.0,
            a.probes as f64 / 2.0,
            4,
        )
        .await;
        let (actions, dsecs) = (driven.actions, driven.seconds);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let m = measure_step(&mut workers, &srv.list[0], &wss, &st, groups, dsecs).await?;
        let per_socket = growth_kib.map(|g| ((g / have.max(1) as f64) * 100.0).round() / 100.0);
        let step = json!({
            "sockets_target": target,
            "sockets_open": open,
            "connect_failed": failed,
            "connect_errors": errors,
            "connects_per_s": (n as f64 / secs).round(),
            "server": rss,
            "rss_growth_kib_per_socket": per_socket,
            "probe_actions": actions,
            "probe": m,
        });
        eprintln!("{}", step_line(&step));
        steps.push(step);
    }
    let after_close = close_all(&mut workers, &srv, &base, a.hold).await?;
    Ok(json!({
        "scenario": "idle",
        "machine": machine(),
        "database": srv.db_desc,
        "instances": srv.list.len(),
        "workers": workers.len(),
        "teammates": a.teammates,
        "steps": steps,
        "after_close": after_close,
    }))
}

/// Closes every socket, waits for the servers to let go of them, and measures their memory.
async fn close_all(
    workers: &mut [crate::worker::Worker],
    srv: &crate::servers::Servers,
    base: &[Option<ProcSample>],
    hold: f64,
) -> Result<Value> {
    let cmds = workers.iter().map(|_| ToWorker::CloseAll).collect();
    let replies = all_workers(workers, cmds).await?;
    let left: u64 = replies
        .iter()
        .map(|r| r["open"].as_u64().unwrap_or(0))
        .sum();
    tokio::time::sleep(Duration::from_secs_f64(hold)).await;
    let now = settled_servers(srv, SETTLE_LIMIT).await;
    let server = memory(base, &now);
    let after = json!({ "sockets_left_open": left, "server": server });
    eprintln!(
        "idle: all sockets closed ({left} left open): {}",
        after["server"]
    );
    Ok(after)
}

/// Each server's memory now and its growth since `base`, in MiB.
fn memory(base: &[Option<ProcSample>], now: &[Option<ProcSample>]) -> Vec<Value> {
    base.iter()
        .zip(now)
        .map(|(b, n)| match (b, n) {
            (Some(b), Some(n)) => json!({
                "rss_mib": mib(n.rss_kib as f64),
                "growth_mib": mib(n.rss_kib as f64 - b.rss_kib as f64),
            }),
            _ => Value::Null,
        })
        .collect()
}

fn mib(kib: f64) -> f64 {
    (kib / 1024.0 * 10.0).round() / 10.0
}

fn step_line(s: &Value) -> String {
    format!(
        "sockets {:>6} open {:>6}  connect {:>6}/s  RSS growth/socket {:>6} KiB  probe: last recipient p50 {} ms max {} ms, missed {} dup {}",
        s["sockets_target"],
        s["sockets_open"],
        s["connects_per_s"],
        s["rss_growth_kib_per_socket"],
        s["probe"]["last_recipient_ms"]["p50"],
        s["probe"]["last_recipient_ms"]["max"],
        s["probe"]["missed"],
        s["probe"]["duplicates"],
    )
}

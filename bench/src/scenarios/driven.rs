//! `fanout`, `teams` and `cluster`: every socket open, then actions at each `--rate` in turn,
//! and the latency from each action to every socket of its workspace. They differ in the
//! defaults: one big workspace (`fanout`), many small ones (`teams`), or one big workspace over
//! several instances sharing Postgres and Redis (`cluster`). They also run against the peers
//! (`--server socketio|bare`), so that one run compares them with Baton: `cluster` against
//! Socket.IO instances sharing one SQLite file and Redis; the bare writer runs one instance.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::accounts::{create_workspaces, peer_workspaces};
use crate::cli::{DriveArgs, ServerKind};
use crate::drive::{drive, measure_step, DriveState};
use crate::host::{cpu_seconds, load_average, machine, sum_cpu};
use crate::http::http_client;
use crate::servers::{sample_servers, servers, servers_with_accounts};
use crate::sockets::{stuck_crowd, ws_url};
use crate::worker::{connect_all, sample_workers, spawn_workers, Conn};

pub async fn driven(a: DriveArgs, scenario: &str) -> Result<Value> {
    let c = &a.common;
    if c.server != ServerKind::Baton && a.stuck > 0 {
        bail!("--server {:?}: --stuck needs Baton", c.server);
    }
    let http = http_client()?;
    let default_instances = if scenario == "cluster" { 2 } else { 1 };
    let (nws, nmates) = match scenario {
        "teams" => (a.workspaces.unwrap_or(200), a.teammates.unwrap_or(5)),
        _ => (a.workspaces.unwrap_or(1), a.teammates.unwrap_or(100)),
    };
    let mut srv = if c.bulk_accounts {
        servers_with_accounts(c, default_instances, &http, nws, nmates).await?
    } else {
        servers(c, default_instances, &http).await?
    };
    let per_ws_sockets = a.sockets.unwrap_or(nmates);
    let wss = Arc::new(match c.server {
        ServerKind::Baton => match srv.accounts.take() {
            Some(accounts) => accounts,
            None => create_workspaces(&http, &srv.list[0].url, nws, nmates).await?,
        },
        _ => peer_workspaces(&http, &srv.list[0].url, nws, nmates).await?,
    });
    let total = nws * per_ws_sockets;
    let mut workers = spawn_workers(c, total)?;
    let mut conns = vec![];
    for (wi, w) in wss.iter().enumerate() {
        for k in 0..per_ws_sockets {
            let g = k % srv.list.len();
            let s = &srv.list[g];
            let (url, socketio_token) = ws_url(s, &w.mates[k % w.mates.len()].token);
            conns.push(Conn {
                addr: s.addr,
                url,
                socketio_token,
                ws: wi as u32,
                group: g as u32,
            });
        }
    }
    let (ok, failed, secs, errors) =
        connect_all(&mut workers, conns, c.max_per_worker, c.connect_concurrency).await?;
    eprintln!(
        "{scenario}: {ok} sockets open ({failed} failed) in {secs:.1} s {:?}",
        errors.first()
    );
    if failed > 0 {
        bail!("{failed} sockets failed to open: {errors:?}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let st = Arc::new(Mutex::new(DriveState::new(wss.len())));
    let groups = srv.list.len() as u32;
    let mut steps = vec![];
    for &rate in &a.rate {
        let (stop_crowd, crowd) = tokio::sync::oneshot::channel();
        let crowd = (a.stuck > 0).then(|| {
            let server = (srv.list[0].url.clone(), srv.list[0].addr);
            let token = wss[0].mates[0].token.clone();
            tokio::spawn(stuck_crowd(http.clone(), server, token, a.stuck, crowd))
        });
        if crowd.is_some() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let load = load_average();
        let s0 = sample_servers(&srv);
        let w0 = sample_workers(&workers);
        let driven = drive(
            &http,
            &srv.list[0].url,
            &wss,
            &st,
            rate,
            a.duration,
            a.concurrency,
        )
        .await;
        let (actions, dsecs) = (driven.actions, driven.seconds);
        let s1 = sample_servers(&srv);
        let w1 = sample_workers(&workers);
        tokio::time::sleep(Duration::from_secs_f64(a.drain)).await;
        // The server's CPU from the step's start to the end of its drain: the work of every
        // delivery counted, late ones included.
        let cpu_s = cpu_seconds(&s0, &sample_servers(&srv));
        let mut m = measure_step(&mut workers, &srv.list[0], &wss, &st, groups, dsecs).await?;
        let deliveries = m["deliveries"].as_u64().unwrap_or(0) as f64;
        m["server_cpu_s"] = json!(cpu_s);
        m["deliveries_per_cpu_s"] =
            json!(cpu_s.filter(|s| *s > 0.0).map(|s| (deliveries / s).round()));
        m["actions_per_cpu_s"] =
            json!(cpu_s
                .filter(|s| *s > 0.0)
                .map(|s| (m["actions"].as_f64().unwrap_or(0.0) / s * 10.0).round() / 10.0));
        m["load_average_1m"] = json!(load);
        m["rate_target"] = json!(rate);
        m["late_actions"] = json!(driven.late);
        m["actions_per_s"] = json!(((actions as f64 / dsecs) * 10.0).round() / 10.0);
        m["seconds"] = json!((dsecs * 100.0).round() / 100.0);
        m["server_cpu_pct"] = json!(sum_cpu(&s0, &s1));
        m["loadgen_workers_cpu_pct"] = json!(sum_cpu(&w0, &w1));
        m["server_rss_mib"] = json!(s1
            .iter()
            .map(|x| x.map(|x| (x.rss_kib as f64 / 1024.0).round()))
            .collect::<Vec<_>>());
        m["server_fds"] = json!(s1.iter().map(|x| x.map(|x| x.fds)).collect::<Vec<_>>());
        let _ = stop_crowd.send(());
        if let Some(crowd) = crowd {
            m["stuck_sockets"] = json!(a.stuck);
            m["stuck_sockets_opened"] = json!(crowd.await??);
        }
        eprintln!("{}", step_line(&m));
        if a.stuck > 0 {
            eprintln!(
                "  with {} clients that never read ({} connected in all)",
                a.stuck, m["stuck_sockets_opened"]
            );
        }
        steps.push(m);
    }
    Ok(json!({
        "scenario": scenario,
        "server": format!("{:?}", c.server).to_lowercase(),
        "machine": machine(),
        "database": srv.db_desc,
        "instances": srv.list.len(),
        "workers": workers.len(),
        "workspaces": nws,
        "teammates_per_workspace": nmates,
        "sockets_per_workspace": per_ws_sockets,
        "sockets": ok,
        "connects_per_s": (ok as f64 / secs).round(),
        "duration_per_step_s": a.duration,
        "steps": steps,
    }))
}

/// The step in one line, and with several instances one more line per instance: instance 0 is
/// the one the actions go to, the others get their events through Redis.
fn step_line(m: &Value) -> String {
    let mut line = format!(
        "rate {:>6}/s  actions {:>7}/s  deliveries {:>8}/s ({} per server CPU-s)  latency p50 {:>7} p90 {:>7} p99 {:>7} p99.9 {:>7} max {:>7} ms  last-recipient p99 {:>7} ms  missed {} dup {}  server CPU {}% RSS {} MiB fds {}  load {}",
        m["rate_target"], m["actions_per_s"], m["deliveries_per_s"], m["deliveries_per_cpu_s"],
        m["latency_ms"]["p50"], m["latency_ms"]["p90"], m["latency_ms"]["p99"],
        m["latency_ms"]["p99_9"], m["latency_ms"]["max"], m["last_recipient_ms"]["p99"],
        m["missed"], m["duplicates"], m["server_cpu_pct"], m["server_rss_mib"], m["server_fds"],
        m["load_average_1m"],
    );
    let by_instance = m["latency_by_instance_ms"]
        .as_array()
        .filter(|b| b.len() > 1);
    for (i, h) in by_instance.into_iter().flatten().enumerate() {
        line += &format!(
            "\n  instance {i}: deliveries {}  latency p50 {} p99 {} ms",
            h["count"], h["p50"], h["p99"]
        );
    }
    line
}

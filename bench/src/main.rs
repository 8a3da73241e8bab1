//! `baton-bench`: Baton's load generator.
//!
//! It creates workspaces and teammates through the HTTP API, opens authenticated WebSockets from
//! worker processes (each bound to its own loopback source address, 127.0.0.2, 127.0.0.3, …, so
//! that neither the per-process open-file limit nor the ephemeral port range caps the socket
//! count), drives actions over HTTP at a set rate, and measures for every event the time from the
//! action's request to its arrival at every socket of the workspace. All processes run on the same
//! machine and stamp times with CLOCK_MONOTONIC, so times taken in different processes compare.
//!
//! Scenarios: `idle`, `fanout`, `teams`, `cluster`, `api`, `export`, `search` (see `--help`);
//! `chart` redraws an SVG from JSON results; `worker` is the internal client process. Everything
//! stops by itself and only talks to loopback addresses.

mod accounts;
mod chart;
mod cli;
mod drive;
mod histogram;
mod host;
mod http;
mod scenarios;
mod servers;
mod socketio;
mod sockets;
mod worker;

use std::path::Path;

use anyhow::{anyhow, Result};
use clap::Parser;
use serde_json::Value;

use crate::chart::chart_for;
use crate::cli::{Cli, Cmd, Common};
use crate::host::raise_nofile;
use crate::scenarios::{api, driven, export, idle, search};
use crate::worker::worker_main;

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Cmd::Worker = cli.cmd {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(worker_main());
    }
    // Only the driven scenarios have peers to run against.
    let baton_only = match &cli.cmd {
        Cmd::Idle(a) => Some(a.common.server),
        Cmd::Api(a) => Some(a.common.server),
        Cmd::Export(a) => Some(a.common.server),
        Cmd::Search(a) => Some(a.common.server),
        _ => None,
    };
    if let Some(server) = baton_only.filter(|s| *s != cli::ServerKind::Baton) {
        return Err(anyhow!(
            "--server {server:?}: only fanout, teams and cluster run on the peers"
        ));
    }
    raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (common, result) = match cli.cmd {
            Cmd::Idle(a) => (a.common.clone(), idle(a).await?),
            Cmd::Fanout(a) => (a.common.clone(), driven(a, "fanout").await?),
            Cmd::Teams(a) => (a.common.clone(), driven(a, "teams").await?),
            Cmd::Cluster(a) => (a.common.clone(), driven(a, "cluster").await?),
            Cmd::Api(a) => (a.common.clone(), api(a).await?),
            Cmd::Export(a) => (a.common.clone(), export(a).await?),
            Cmd::Search(a) => (a.common.clone(), search(a).await?),
            Cmd::Chart(a) => {
                let mut rs = vec![];
                for f in &a.files {
                    rs.push(serde_json::from_str::<Value>(&std::fs::read_to_string(f)?)?);
                }
                let svg = chart_for(&rs).ok_or_else(|| anyhow!("nothing to chart"))?;
                std::fs::write(&a.out, svg)?;
                return Ok(());
            }
            Cmd::Worker => unreachable!(),
        };
        let chart = chart_for(std::slice::from_ref(&result));
        finish(&common, &result, chart)
    })
}

/// The results as JSON to `--json` (or stdout), and the chart to `--svg` when asked for.
fn finish(c: &Common, result: &Value, chart: Option<String>) -> Result<()> {
    let text = serde_json::to_string_pretty(result)?;
    if let Some(p) = &c.json {
        write_creating_dir(p, &text)?;
    }
    match (&c.svg, chart) {
        (Some(p), Some(svg)) => write_creating_dir(p, &svg)?,
        (Some(p), None) => eprintln!("no chart for this scenario: {} not written", p.display()),
        (None, _) => {}
    }
    if c.json.is_none() {
        println!("{text}");
    }
    Ok(())
}

fn write_creating_dir(path: &Path, contents: &str) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).ok();
    }
    std::fs::write(path, contents)?;
    Ok(())
}

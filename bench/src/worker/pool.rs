//! The coordinator's side of the worker processes: spawning them, asking all of them at once,
//! and spreading sockets over them.

use std::net::Ipv4Addr;
use std::process::Stdio;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{Conn, ToWorker};
use crate::cli::Common;
use crate::host::{mono_ns, proc_sample, ProcSample};

/// The coordinator's handle on a worker process.
pub struct Worker {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    local_ip: Ipv4Addr,
    sockets: usize,
}

impl Worker {
    fn spawn(index: usize) -> Result<Worker> {
        let exe = std::env::current_exe()?;
        let mut child = tokio::process::Command::new(exe)
            .arg("worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("spawn worker")?;
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Ok(Worker {
            child,
            stdin,
            stdout,
            local_ip: Ipv4Addr::new(127, 0, 0, 2 + index as u8),
            sockets: 0,
        })
    }

    async fn send(&mut self, cmd: &ToWorker) -> Result<()> {
        let mut s = serde_json::to_string(cmd)?;
        s.push('\n');
        self.stdin.write_all(s.as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn recv(&mut self) -> Result<Value> {
        let line = self
            .stdout
            .next_line()
            .await?
            .ok_or_else(|| anyhow!("worker exited"))?;
        Ok(serde_json::from_str(&line)?)
    }

    fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// Send the same kind of request to every worker at once and collect the answers.
pub async fn all_workers(workers: &mut [Worker], cmds: Vec<ToWorker>) -> Result<Vec<Value>> {
    for (w, c) in workers.iter_mut().zip(cmds.iter()) {
        w.send(c).await?;
    }
    let mut out = vec![];
    for w in workers.iter_mut() {
        out.push(w.recv().await?);
    }
    Ok(out)
}

/// Open `conns` across the workers (each takes at most `max` in total); returns (ok, failed, secs,
/// the first few errors of each worker).
pub async fn connect_all(
    workers: &mut [Worker],
    conns: Vec<Conn>,
    max: usize,
    concurrency: usize,
) -> Result<(usize, usize, f64, Vec<String>)> {
    let mut per: Vec<Vec<Conn>> = vec![vec![]; workers.len()];
    let mut i = 0;
    for c in conns {
        let mut tries = 0;
        while workers[i % workers.len()].sockets + per[i % workers.len()].len() >= max {
            i += 1;
            tries += 1;
            if tries > workers.len() {
                bail!("not enough workers for that many sockets (raise --workers)");
            }
        }
        per[i % workers.len()].push(c);
        i += 1;
    }
    let started = mono_ns();
    let cmds: Vec<ToWorker> = workers
        .iter()
        .zip(per.iter())
        .map(|(w, p)| ToWorker::Connect {
            conns: p.clone(),
            local_ip: w.local_ip,
            concurrency,
        })
        .collect();
    let replies = all_workers(workers, cmds).await?;
    let secs = (mono_ns() - started) as f64 / 1e9;
    let (mut ok, mut failed, mut errors) = (0, 0, vec![]);
    for (w, r) in workers.iter_mut().zip(replies) {
        let o = r["ok"].as_u64().unwrap_or(0) as usize;
        w.sockets += o;
        ok += o;
        failed += r["failed"].as_u64().unwrap_or(0) as usize;
        if let Some(e) = r["errors"].as_array() {
            errors.extend(e.iter().filter_map(|x| x.as_str().map(String::from)));
        }
    }
    Ok((ok, failed, secs, errors))
}

/// The worker processes for `sockets` sockets: `--workers`, or enough for `--max-per-worker`.
pub fn spawn_workers(c: &Common, sockets: usize) -> Result<Vec<Worker>> {
    let n = c
        .workers
        .unwrap_or_else(|| sockets.div_ceil(c.max_per_worker).max(2))
        .clamp(1, 200);
    (0..n).map(Worker::spawn).collect()
}

/// CPU and memory of each worker process, for the load generator's own share of the machine.
pub fn sample_workers(w: &[Worker]) -> Vec<Option<ProcSample>> {
    w.iter().map(|x| x.pid().and_then(proc_sample)).collect()
}

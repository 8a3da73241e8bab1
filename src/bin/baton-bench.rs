//! `baton-bench`: Baton's load generator.
//!
//! It creates workspaces and teammates through the HTTP API, opens authenticated WebSockets from
//! worker processes (each bound to its own loopback source address, 127.0.0.2, 127.0.0.3, …, so
//! that neither the per-process open-file limit nor the ephemeral port range caps the socket
//! count), drives actions over HTTP at a set rate, and measures for every event the time from the
//! action's request to its arrival at every socket of the workspace. All processes run on the same
//! machine and stamp times with CLOCK_MONOTONIC, so times taken in different processes compare.
//!
//! Scenarios: `idle`, `fanout`, `teams`, `cluster`, `api`, `export`, `search` (see `--help`); `chart`
//! redraws an SVG
//! from JSON results; `worker` is the internal client process. Everything stops by itself and
//! only talks to loopback addresses.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use futures_util::{stream, StreamExt};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "bench-password-0123456789";

// ---------------------------------------------------------------------------------------------
// Clock, limits and /proc

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process of the machine.
fn mono_ns() -> u64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: a valid pointer to a timespec; CLOCK_MONOTONIC (1) always exists on Linux.
    unsafe { clock_gettime(1, &mut ts) };
    ts.sec as u64 * 1_000_000_000 + ts.nsec as u64
}

/// Raise the soft open-files limit to the hard one (children inherit it).
fn raise_nofile() -> u64 {
    #[repr(C)]
    struct Rlimit {
        cur: u64,
        max: u64,
    }
    extern "C" {
        fn getrlimit(resource: i32, rlim: *mut Rlimit) -> i32;
        fn setrlimit(resource: i32, rlim: *const Rlimit) -> i32;
    }
    const RLIMIT_NOFILE: i32 = 7;
    let mut l = Rlimit { cur: 0, max: 0 };
    // SAFETY: valid pointers to an rlimit struct laid out as the kernel's.
    unsafe {
        if getrlimit(RLIMIT_NOFILE, &mut l) == 0 && l.cur < l.max {
            l.cur = l.max;
            setrlimit(RLIMIT_NOFILE, &l);
        }
    }
    l.cur
}

#[derive(Debug, Clone, Copy, Default)]
struct ProcSample {
    ticks: u64,
    rss_kib: u64,
    /// Open file descriptors (sockets, database files, …).
    fds: u64,
    at_ns: u64,
}

fn proc_sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    Some(ProcSample {
        ticks,
        rss_kib,
        fds,
        at_ns: mono_ns(),
    })
}

/// CPU use between two samples in percent of one core (the kernel counts 100 ticks a second).
fn cpu_pct(a: ProcSample, b: ProcSample) -> f64 {
    let secs = (b.at_ns.saturating_sub(a.at_ns)) as f64 / 1e9;
    if secs <= 0.0 {
        return 0.0;
    }
    (b.ticks.saturating_sub(a.ticks)) as f64 / 100.0 / secs * 100.0
}

// ---------------------------------------------------------------------------------------------
// Histogram: exact below 256 µs, then 128 buckets per power of two (< 1% error).

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Hist {
    buckets: BTreeMap<u32, u64>,
    count: u64,
    max_us: u64,
}

fn bucket_of(us: u64) -> u32 {
    if us < 256 {
        us as u32
    } else {
        let e = 63 - us.leading_zeros();
        let sub = ((us >> (e - 7)) & 127) as u32;
        256 + (e - 8) * 128 + sub
    }
}

fn bucket_value(b: u32) -> u64 {
    if b < 256 {
        b as u64
    } else {
        let e = (b - 256) / 128 + 8;
        let sub = ((b - 256) % 128) as u64;
        (128 + sub) << (e - 7)
    }
}

impl Hist {
    fn add(&mut self, us: u64) {
        *self.buckets.entry(bucket_of(us)).or_default() += 1;
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }
    fn merge(&mut self, o: &Hist) {
        for (b, n) in &o.buckets {
            *self.buckets.entry(*b).or_default() += n;
        }
        self.count += o.count;
        self.max_us = self.max_us.max(o.max_us);
    }
    fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let want = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, n) in &self.buckets {
            seen += n;
            if seen >= want {
                return (bucket_value(*b).min(self.max_us)) as f64 / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }
    fn summary(&self) -> Value {
        let r = |x: f64| (x * 1000.0).round() / 1000.0;
        json!({
            "count": self.count,
            "p50": r(self.quantile_ms(0.5)),
            "p90": r(self.quantile_ms(0.9)),
            "p99": r(self.quantile_ms(0.99)),
            "p99_9": r(self.quantile_ms(0.999)),
            "max": r(self.max_us as f64 / 1000.0),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Command line

#[derive(Parser)]
#[command(
    name = "baton-bench",
    about = "Load generator for Baton: sockets, fan-out latency, throughput (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Hold many idle authenticated sockets; server RSS per socket; one event to all of them.
    Idle(IdleArgs),
    /// One big workspace, everybody online, assignments and messages at a rate.
    Fanout(DriveArgs),
    /// Many small workspaces with realistic traffic.
    Teams(DriveArgs),
    /// Like fanout, on several instances sharing Postgres and Redis; sockets split across them.
    Cluster(DriveArgs),
    /// Assignments and inbound messages per second through HTTP.
    Api(ApiArgs),
    /// Seed a workspace with many cases, then download its export: server RSS idle vs peak.
    Export(ExportArgs),
    /// Full-text search latency over a bulk-seeded history (needs --spawn).
    Search(SearchArgs),
    /// Draw an SVG chart from JSON results written by this tool.
    Chart(ChartArgs),
    /// Internal: a client process driven by the coordinator over stdin/stdout.
    #[command(hide = true)]
    Worker,
}

#[derive(Args, Clone)]
struct Common {
    /// Server base URL(s) (loopback only); repeat for several instances. Ignored with --spawn.
    #[arg(long = "url")]
    urls: Vec<String>,
    /// Pid(s) of the server(s) given by --url, to read RSS and CPU from /proc.
    #[arg(long = "pid")]
    pids: Vec<u32>,
    /// Start the server(s) here (fresh database), stop them at the end.
    #[arg(long)]
    spawn: bool,
    /// With --spawn: the database, `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// With --spawn: how many instances (more than one needs postgres and Redis).
    #[arg(long)]
    instances: Option<usize>,
    /// With --spawn: Postgres server (a fresh database is created on it and dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// With --spawn and several instances: Redis.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// With --spawn: the `baton` binary (default: next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Client worker processes (default: enough for --max-per-worker, at least 2).
    #[arg(long)]
    workers: Option<usize>,
    /// Sockets per worker process at most (each has a 20,000 open-files limit).
    #[arg(long, default_value_t = 15000)]
    max_per_worker: usize,
    /// Sockets being opened at once per worker.
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
    /// Write the results here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a chart here as SVG.
    #[arg(long)]
    svg: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct IdleArgs {
    #[command(flatten)]
    common: Common,
    /// Socket counts to reach, one step each (sockets are added, never closed between steps).
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    sockets: Vec<usize>,
    /// Teammates the sockets are spread over (sockets per teammate are not limited).
    #[arg(long, default_value_t = 10)]
    teammates: usize,
    /// Seconds to hold each step before measuring.
    #[arg(long, default_value_t = 5.0)]
    hold: f64,
    /// Events sent to all sockets at the end of each step (one every 500 ms).
    #[arg(long, default_value_t = 4)]
    probes: usize,
}

#[derive(Args, Clone)]
struct DriveArgs {
    #[command(flatten)]
    common: Common,
    /// Workspaces (fanout and cluster: 1).
    #[arg(long)]
    workspaces: Option<usize>,
    /// Teammates per workspace (invited agents plus the owner).
    #[arg(long)]
    teammates: Option<usize>,
    /// Sockets per workspace, spread over its teammates (default: one per teammate).
    #[arg(long)]
    sockets: Option<usize>,
    /// Actions per second (HTTP), one step per value.
    #[arg(long, value_delimiter = ',', default_value = "50")]
    rate: Vec<f64>,
    /// Seconds per step.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// HTTP requests in flight at most.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds to wait after each step for the last deliveries.
    #[arg(long, default_value_t = 2.0)]
    drain: f64,
    /// Before each step, this many more sockets (of the first workspace) that complete the
    /// handshake and never read again: the server must cut them off without slowing the rest.
    #[arg(long, default_value_t = 0)]
    stuck: usize,
}

#[derive(Args, Clone)]
struct ApiArgs {
    #[command(flatten)]
    common: Common,
    /// Requests in flight, one step per value.
    #[arg(long, value_delimiter = ',', default_value = "16")]
    concurrency: Vec<usize>,
    /// Seconds per action type per step.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Workspaces the requests are spread over.
    #[arg(long, default_value_t = 4)]
    workspaces: usize,
    /// With --spawn on SQLite: the servers' `--sqlite-synchronous`. Several values start one
    /// server each and run every step on each in turn, so they compare within one run.
    #[arg(long, value_delimiter = ',', default_value = "full", value_parser = ["full", "normal"])]
    sqlite_synchronous: Vec<String>,
}

#[derive(Args, Clone)]
struct ExportArgs {
    #[command(flatten)]
    common: Common,
    /// Cases to seed (one customer message each) before the export.
    #[arg(long, default_value_t = 100_000)]
    cases: usize,
    /// Inbound requests in flight while seeding.
    #[arg(long, default_value_t = 32)]
    seed_concurrency: usize,
}

#[derive(Args, Clone)]
struct SearchArgs {
    #[command(flatten)]
    common: Common,
    /// Messages to seed, written straight into the database in big transactions.
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    /// Messages per case.
    #[arg(long, default_value_t = 5)]
    per_case: usize,
    /// Workspaces the history is spread over (queries go to all of them).
    #[arg(long, default_value_t = 4)]
    workspaces: usize,
    /// Queries to time.
    #[arg(long, default_value_t = 2000)]
    queries: usize,
    /// Queries in flight.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
}

#[derive(Args, Clone)]
struct ChartArgs {
    /// JSON result files.
    files: Vec<PathBuf>,
    #[arg(long)]
    out: PathBuf,
}

// ---------------------------------------------------------------------------------------------
// Worker protocol (JSON lines over the worker's stdin and stdout)

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Conn {
    addr: SocketAddr,
    url: String,
    ws: u32,
    group: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
enum ToWorker {
    Connect {
        conns: Vec<Conn>,
        local_ip: Ipv4Addr,
        concurrency: usize,
    },
    Status,
    Catalog,
    Finish {
        finals: Vec<(u32, u64)>,
        sends: Vec<(u32, u64, u64)>,
        groups: u32,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CatEvent {
    ws: u32,
    seq: u64,
    case: String,
    kind: String,
    n: u64,
    min: u64,
    max: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Finished {
    deliveries: u64,
    matched: u64,
    missed: u64,
    duplicates: u64,
    closed: u64,
    hists: Vec<Hist>,
}

#[derive(Debug, Default)]
struct Sock {
    ws: u32,
    group: u32,
    base: u64,
    last: u64,
    recv: u64,
    dups: u64,
    closed: bool,
}

#[derive(Debug, Default)]
struct EvInfo {
    case: String,
    kind: String,
    n: u64,
    min: u64,
    max: u64,
}

#[derive(Default)]
struct WorkerState {
    socks: Vec<Sock>,
    /// (socket, seq, arrival) for the current step.
    arrivals: Vec<(u32, u64, u64)>,
    catalog: HashMap<(u32, u64), EvInfo>,
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    ty: &'a str,
    seq: Option<u64>,
    #[serde(borrow)]
    event: Option<FrameEvent<'a>>,
}

#[derive(Deserialize)]
struct FrameEvent<'a> {
    #[serde(borrow)]
    kind: &'a str,
    #[serde(borrow, default)]
    case_id: Option<&'a str>,
}

fn ws_config() -> WebSocketConfig {
    // Small buffers: the defaults (128 KiB each) would cost gigabytes at tens of thousands of sockets.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
}

type WsStream = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Open one authenticated socket from `local` and wait for its `hello`; returns the hello seq.
async fn open_socket(
    addr: SocketAddr,
    url: &str,
    local: Option<Ipv4Addr>,
) -> Result<(WsStream, u64)> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    if let Some(ip) = local {
        sock.bind(SocketAddr::new(IpAddr::V4(ip), 0))
            .with_context(|| format!("bind {ip}"))?;
    }
    let stream = sock.connect(addr).await.context("connect")?;
    stream.set_nodelay(true)?;
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config()))
        .await
        .context("websocket handshake")?;
    let hello = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(m) = ws.next().await {
            if let Message::Text(t) = m? {
                let f: Frame = serde_json::from_str(t.as_str())?;
                if f.ty == "hello" {
                    return Ok::<u64, anyhow::Error>(f.seq.unwrap_or(0));
                }
            }
        }
        bail!("closed before hello")
    })
    .await
    .context("waiting for hello")??;
    Ok((ws, hello))
}

async fn read_socket(mut ws: WsStream, idx: u32, state: Arc<Mutex<WorkerState>>) {
    while let Some(m) = ws.next().await {
        let t = match m {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let now = mono_ns();
        let Ok(f) = serde_json::from_str::<Frame>(t.as_str()) else {
            continue;
        };
        if f.ty != "event" {
            continue;
        }
        let Some(seq) = f.seq else { continue };
        let mut st = state.lock().unwrap();
        let s = &mut st.socks[idx as usize];
        if seq <= s.last {
            s.dups += 1;
            continue;
        }
        s.last = seq;
        s.recv += 1;
        let ws_idx = s.ws;
        st.arrivals.push((idx, seq, now));
        let e = st.catalog.entry((ws_idx, seq)).or_insert_with(|| EvInfo {
            case: f
                .event
                .as_ref()
                .and_then(|e| e.case_id)
                .unwrap_or("")
                .to_string(),
            kind: f.event.as_ref().map(|e| e.kind).unwrap_or("").to_string(),
            n: 0,
            min: u64::MAX,
            max: 0,
        });
        e.n += 1;
        e.min = e.min.min(now);
        e.max = e.max.max(now);
    }
    state.lock().unwrap().socks[idx as usize].closed = true;
}

async fn worker_main() -> Result<()> {
    raise_nofile();
    let state = Arc::new(Mutex::new(WorkerState::default()));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    while let Some(line) = lines.next_line().await? {
        let cmd: ToWorker = serde_json::from_str(&line)?;
        let reply = match cmd {
            ToWorker::Connect {
                conns,
                local_ip,
                concurrency,
            } => {
                let started = mono_ns();
                let results: Vec<Result<()>> = stream::iter(conns)
                    .map(|c| {
                        let state = state.clone();
                        async move {
                            let (ws, hello) = open_socket(c.addr, &c.url, Some(local_ip)).await?;
                            let idx = {
                                let mut st = state.lock().unwrap();
                                st.socks.push(Sock {
                                    ws: c.ws,
                                    group: c.group,
                                    base: hello,
                                    last: hello,
                                    ..Default::default()
                                });
                                (st.socks.len() - 1) as u32
                            };
                            tokio::spawn(read_socket(ws, idx, state));
                            Ok::<(), anyhow::Error>(())
                        }
                    })
                    .buffer_unordered(concurrency.max(1))
                    .collect()
                    .await;
                let ok = results.iter().filter(|r| r.is_ok()).count();
                let errors: Vec<String> = results
                    .iter()
                    .filter_map(|r| r.as_ref().err().map(|e| format!("{e:#}")))
                    .take(5)
                    .collect();
                json!({"ok": ok, "failed": results.len() - ok, "errors": errors,
                       "secs": (mono_ns() - started) as f64 / 1e9})
            }
            ToWorker::Status => {
                let st = state.lock().unwrap();
                let closed = st.socks.iter().filter(|s| s.closed).count();
                json!({"open": st.socks.len() - closed, "closed": closed})
            }
            ToWorker::Catalog => {
                let st = state.lock().unwrap();
                let events: Vec<CatEvent> = st
                    .catalog
                    .iter()
                    .map(|((ws, seq), e)| CatEvent {
                        ws: *ws,
                        seq: *seq,
                        case: e.case.clone(),
                        kind: e.kind.clone(),
                        n: e.n,
                        min: e.min,
                        max: e.max,
                    })
                    .collect();
                json!({ "events": events })
            }
            ToWorker::Finish {
                finals,
                sends,
                groups,
            } => {
                let finals: HashMap<u32, u64> = finals.into_iter().collect();
                let sends: HashMap<(u32, u64), u64> =
                    sends.into_iter().map(|(w, s, t)| ((w, s), t)).collect();
                let mut st = state.lock().unwrap();
                let mut f = Finished {
                    hists: vec![Hist::default(); groups.max(1) as usize],
                    ..Default::default()
                };
                let arrivals = std::mem::take(&mut st.arrivals);
                for (idx, seq, t) in &arrivals {
                    let s = &st.socks[*idx as usize];
                    f.deliveries += 1;
                    if let Some(sent) = sends.get(&(s.ws, *seq)) {
                        f.matched += 1;
                        let g = (s.group as usize).min(f.hists.len() - 1);
                        f.hists[g].add(t.saturating_sub(*sent) / 1000);
                    }
                }
                for s in st.socks.iter_mut() {
                    let fin = finals.get(&s.ws).copied().unwrap_or(s.last).max(s.base);
                    f.missed += (fin - s.base).saturating_sub(s.recv);
                    f.duplicates += s.dups;
                    f.closed += s.closed as u64;
                    s.base = fin;
                    s.last = s.last.max(fin);
                    s.recv = 0;
                    s.dups = 0;
                }
                st.catalog.clear();
                serde_json::to_value(&f)?
            }
        };
        let mut s = serde_json::to_string(&reply)?;
        s.push('\n');
        out.write_all(s.as_bytes()).await?;
        out.flush().await?;
    }
    Ok(())
}

/// The coordinator's handle on a worker process.
struct Worker {
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
async fn all_workers(workers: &mut [Worker], cmds: Vec<ToWorker>) -> Result<Vec<Value>> {
    for (w, c) in workers.iter_mut().zip(cmds.iter()) {
        w.send(c).await?;
    }
    let mut out = vec![];
    for w in workers.iter_mut() {
        out.push(w.recv().await?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Servers

struct Server {
    url: String,
    addr: SocketAddr,
    pid: Option<u32>,
    child: Option<std::process::Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            for _ in 0..100 {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Servers {
    list: Vec<Server>,
    /// The database of spawned servers.
    db_url: Option<String>,
    db_desc: String,
    drop_db: Option<(String, String)>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.list.clear();
        if let Some((admin, name)) = self.drop_db.take() {
            let _ = std::process::Command::new("psql")
                .arg(format!("{admin}/postgres"))
                .arg("-q")
                .arg("-c")
                .arg(format!("DROP DATABASE IF EXISTS {name}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn loopback_addr(url: &str) -> Result<SocketAddr> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("only http:// URLs: {url}"))?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    let hostport = hostport.replace("localhost", "127.0.0.1");
    let addr: SocketAddr = hostport
        .parse()
        .with_context(|| format!("{url}: need an IP address and a port"))?;
    if !addr.ip().is_loopback() {
        bail!("{url}: baton-bench only targets loopback addresses");
    }
    Ok(addr)
}

async fn wait_ready(http: &reqwest::Client, url: &str) -> Result<()> {
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} did not become ready")
}

async fn servers(c: &Common, default_instances: usize, http: &reqwest::Client) -> Result<Servers> {
    servers_with(c, default_instances, http, &[]).await
}

/// `servers`, with extra environment for the servers it spawns.
async fn servers_with(
    c: &Common,
    default_instances: usize,
    http: &reqwest::Client,
    env: &[(&str, &str)],
) -> Result<Servers> {
    if !c.spawn {
        if c.urls.is_empty() {
            bail!("give --url (and --pid) or --spawn");
        }
        let mut list = vec![];
        for (i, u) in c.urls.iter().enumerate() {
            let u = u.trim_end_matches('/').to_string();
            let addr = loopback_addr(&u)?;
            wait_ready(http, &u).await?;
            list.push(Server {
                url: u,
                addr,
                pid: c.pids.get(i).copied(),
                child: None,
            });
        }
        return Ok(Servers {
            list,
            db_url: None,
            db_desc: "external".into(),
            drop_db: None,
        });
    }
    let n = c.instances.unwrap_or(default_instances).max(1);
    let postgres = c.db == "postgres" || n > 1;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let run = &run_id[..10];
    let dir = std::env::temp_dir().join(format!("baton-bench-{run}"));
    std::fs::create_dir_all(&dir)?;
    let (db_url, drop_db, db_desc) = if postgres {
        let name = format!("baton_bench_{run}");
        let admin = c.postgres.trim_end_matches('/').to_string();
        let st = std::process::Command::new("psql")
            .arg(format!("{admin}/postgres"))
            .arg("-q")
            .arg("-c")
            .arg(format!("CREATE DATABASE {name}"))
            .status()
            .context("psql (needed to create the Postgres database)")?;
        if !st.success() {
            bail!("could not create database {name}");
        }
        (
            format!("{admin}/{name}"),
            Some((admin, name)),
            "postgres".to_string(),
        )
    } else {
        (
            format!("sqlite://{}/baton.db", dir.display()),
            None,
            "sqlite".to_string(),
        )
    };
    let bin = match &c.server_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("baton"),
    };
    let mut out = Servers {
        list: vec![],
        db_url: Some(db_url.clone()),
        db_desc,
        drop_db,
    };
    for i in 0..n {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let data = dir.join(format!("i{i}"));
        std::fs::create_dir_all(&data)?;
        let mut cmd = std::process::Command::new(&bin);
        cmd.env("BATON_LISTEN", addr.to_string())
            .env("BATON_DATABASE_URL", &db_url)
            .env("BATON_DATA_DIR", &data)
            .env("BATON_INSTANCE_NAME", format!("bench-{i}"))
            .env("BATON_LOG", "warn")
            .env_remove("BATON_REDIS_URL")
            .current_dir(&data)
            .stdout(Stdio::null());
        if n > 1 {
            cmd.env("BATON_REDIS_URL", &c.redis);
        }
        cmd.envs(env.iter().copied());
        let child = cmd
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        let url = format!("http://{addr}");
        out.list.push(Server {
            url: url.clone(),
            addr,
            pid: Some(child.id()),
            child: Some(child),
        });
        // The first instance applies the migrations; start the others after it is ready.
        wait_ready(http, &url).await?;
    }
    Ok(out)
}

fn sample_servers(s: &Servers) -> Vec<Option<ProcSample>> {
    s.list.iter().map(|x| x.pid.and_then(proc_sample)).collect()
}

fn sample_workers(w: &[Worker]) -> Vec<Option<ProcSample>> {
    w.iter().map(|x| x.pid().and_then(proc_sample)).collect()
}

fn sum_cpu(a: &[Option<ProcSample>], b: &[Option<ProcSample>]) -> Option<f64> {
    let mut total = 0.0;
    let mut any = false;
    for (x, y) in a.iter().zip(b) {
        if let (Some(x), Some(y)) = (x, y) {
            total += cpu_pct(*x, *y);
            any = true;
        }
    }
    any.then_some((total * 10.0).round() / 10.0)
}

// ---------------------------------------------------------------------------------------------
// Accounts

#[derive(Debug, Clone)]
struct Mate {
    id: String,
    token: String,
}

#[derive(Debug)]
struct Workspace {
    id: String,
    ingest: String,
    mates: Vec<Mate>,
}

fn cookie_of(r: &reqwest::Response) -> String {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

async fn ok_json(r: reqwest::Response, what: &str) -> Result<Value> {
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{what}: {status}: {body}");
    }
    Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn mint_token(http: &reqwest::Client, url: &str, cookie: &str) -> Result<String> {
    let r = http
        .post(format!("{url}/api/tokens"))
        .header("Cookie", cookie)
        .header("Origin", url)
        .json(&json!({}))
        .send()
        .await?;
    let v = ok_json(r, "POST /api/tokens").await?;
    Ok(v["token"].as_str().unwrap_or_default().to_string())
}

async fn create_workspace(
    http: &reqwest::Client,
    url: &str,
    tag: &str,
    index: usize,
    teammates: usize,
) -> Result<Workspace> {
    let r = http
        .post(format!("{url}/api/signup"))
        .header("Origin", url)
        .json(&json!({
            "workspace_name": format!("Bench {index}"),
            "name": format!("Owner {index}"),
            "email": format!("owner-{tag}-{index}@bench.invalid"),
            "password": PASSWORD,
        }))
        .send()
        .await?;
    let cookie = cookie_of(&r);
    let v = ok_json(r, "POST /api/signup").await?;
    let owner = Mate {
        id: v["teammate"]["id"].as_str().unwrap_or_default().to_string(),
        token: mint_token(http, url, &cookie).await?,
    };
    let ws = Workspace {
        id: v["workspace"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        ingest: v["workspace"]["ingest_token"]
            .as_str()
            .ok_or_else(|| anyhow!("signup answered no ingest_token"))?
            .to_string(),
        mates: vec![owner.clone()],
    };
    let _ = &ws.id;
    let mut mates = vec![owner.clone()];
    let invited: Vec<Result<Mate>> = stream::iter(1..teammates.max(1))
        .map(|j| {
            let owner = owner.clone();
            async move {
                let r = http
                    .post(format!("{url}/api/invites"))
                    .bearer_auth(&owner.token)
                    .json(&json!({
                        "email": format!("agent-{tag}-{index}-{j}@bench.invalid"),
                        "name": format!("Agent {index}.{j}"),
                        "role": "agent",
                    }))
                    .send()
                    .await?;
                let inv = ok_json(r, "POST /api/invites").await?;
                let t = inv["token"].as_str().unwrap_or_default();
                let r = http
                    .post(format!("{url}/api/invites/{t}/accept"))
                    .header("Origin", url)
                    .json(&json!({ "password": PASSWORD }))
                    .send()
                    .await?;
                let cookie = cookie_of(&r);
                let v = ok_json(r, "accept invite").await?;
                Ok::<Mate, anyhow::Error>(Mate {
                    id: v["teammate"]["id"].as_str().unwrap_or_default().to_string(),
                    token: mint_token(http, url, &cookie).await?,
                })
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for m in invited {
        mates.push(m?);
    }
    Ok(Workspace { mates, ..ws })
}

async fn create_workspaces(
    http: &reqwest::Client,
    url: &str,
    count: usize,
    teammates: usize,
) -> Result<Vec<Workspace>> {
    let tag_id = uuid::Uuid::new_v4().simple().to_string();
    let tag = &tag_id[..8];
    let started = mono_ns();
    let per = if count == 1 { 1 } else { 4 };
    let mut out: Vec<(usize, Workspace)> = stream::iter(0..count)
        .map(|i| async move {
            create_workspace(http, url, tag, i, teammates)
                .await
                .map(|w| (i, w))
        })
        .buffer_unordered(per)
        .collect::<Vec<Result<_>>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    out.sort_by_key(|(i, _)| *i);
    eprintln!(
        "setup: {count} workspace(s) x {teammates} teammate(s) in {:.1} s",
        (mono_ns() - started) as f64 / 1e9
    );
    Ok(out.into_iter().map(|(_, w)| w).collect())
}

// ---------------------------------------------------------------------------------------------
// Sockets over workers

/// Open `conns` across the workers (each takes at most `max` in total); returns (ok, failed, secs).
async fn connect_all(
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

fn ws_url(server: &Server, token: &str) -> String {
    format!("ws://{}/ws?token={token}", server.addr)
}

/// The newest seq of each workspace, read from the `hello` of a fresh socket.
async fn final_seqs(server: &Server, wss: &[Workspace]) -> Result<Vec<(u32, u64)>> {
    stream::iter(wss.iter().enumerate())
        .map(|(i, w)| async move {
            let url = ws_url(server, &w.mates[0].token);
            let (mut ws, seq) = open_socket(server.addr, &url, None).await?;
            let _ = ws.close(None).await;
            Ok::<(u32, u64), anyhow::Error>((i as u32, seq))
        })
        .buffer_unordered(32)
        .collect::<Vec<Result<_>>>()
        .await
        .into_iter()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Driving actions

#[derive(Debug, Default, Clone)]
struct CaseSt {
    id: String,
    email: String,
    busy: bool,
    broken: bool,
    msgs: u32,
    assigns: u32,
}

#[derive(Default)]
struct DriveState {
    cases: Vec<Vec<CaseSt>>,
    /// (case_id, kind, occurrence) → send time.
    sends: HashMap<(String, &'static str, u32), u64>,
    http: Hist,
    actions: u64,
    errors: u64,
    error_sample: Vec<String>,
    customers: u64,
    /// Events seen so far per (case_id, kind), across steps.
    seen: HashMap<(String, String), u32>,
}

enum Action {
    New {
        ws: usize,
        email: String,
    },
    FollowUp {
        ws: usize,
        case: usize,
        occ: u32,
    },
    Assign {
        ws: usize,
        case: usize,
        occ: u32,
        to: Option<String>,
    },
}

fn pick_action(st: &mut DriveState, wss: &[Workspace], rng: &mut impl Rng) -> Action {
    let ws = rng.gen_range(0..wss.len());
    let cases = &mut st.cases[ws];
    if !cases.is_empty() && rng.gen_bool(0.8) {
        for _ in 0..8 {
            let ci = rng.gen_range(0..cases.len());
            let c = &mut cases[ci];
            if c.busy || c.broken {
                continue;
            }
            c.busy = true;
            if rng.gen_bool(0.5) {
                let occ = c.msgs;
                c.msgs += 1;
                return Action::FollowUp { ws, case: ci, occ };
            }
            let occ = c.assigns;
            c.assigns += 1;
            // Cycle through every teammate and "unassigned": each step changes the assignee.
            let mates = &wss[ws].mates;
            let slot = occ as usize % (mates.len() + 1);
            let to = mates.get(slot).map(|m| m.id.clone());
            return Action::Assign {
                ws,
                case: ci,
                occ,
                to,
            };
        }
    }
    st.customers += 1;
    Action::New {
        ws,
        email: format!("c{}-{}@customer.invalid", st.customers, rng.gen::<u32>()),
    }
}

async fn inbound(http: &reqwest::Client, url: &str, ingest: &str, email: &str) -> Result<Value> {
    let r = http
        .post(format!("{url}/api/inbound"))
        .bearer_auth(ingest)
        .json(&json!({
            "channel": "web",
            "from": {"name": "Bench Customer", "email": email},
            "body": "Hello, is the quote for the deep clean still valid next week?",
        }))
        .send()
        .await?;
    ok_json(r, "POST /api/inbound").await
}

async fn run_action(
    http: &reqwest::Client,
    url: &str,
    wss: &[Workspace],
    st: &Mutex<DriveState>,
    action: Action,
) {
    let sent = mono_ns();
    let (ws, case_idx, result): (usize, Option<usize>, Result<Value>) = match &action {
        Action::New { ws, email } => (*ws, None, inbound(http, url, &wss[*ws].ingest, email).await),
        Action::FollowUp { ws, case, .. } => {
            let email = st.lock().unwrap().cases[*ws][*case].email.clone();
            (
                *ws,
                Some(*case),
                inbound(http, url, &wss[*ws].ingest, &email).await,
            )
        }
        Action::Assign { ws, case, to, .. } => {
            let id = st.lock().unwrap().cases[*ws][*case].id.clone();
            let actor = &wss[*ws].mates[0].token;
            let r = http
                .put(format!("{url}/api/cases/{id}/assignee"))
                .bearer_auth(actor)
                .json(&json!({ "assignee_id": to }))
                .send()
                .await;
            let res = match r {
                Ok(r) => ok_json(r, "PUT assignee").await,
                Err(e) => Err(e.into()),
            };
            (*ws, Some(*case), res)
        }
    };
    let done = mono_ns();
    let mut s = st.lock().unwrap();
    s.actions += 1;
    s.http.add((done - sent) / 1000);
    match result {
        Err(e) => {
            s.errors += 1;
            if s.error_sample.len() < 5 {
                s.error_sample.push(format!("{e:#}"));
            }
            if let Some(ci) = case_idx {
                // Whether the event exists is unknown: stop using this case.
                s.cases[ws][ci].broken = true;
                s.cases[ws][ci].busy = false;
            }
        }
        Ok(v) => match action {
            Action::New { email, .. } => {
                let id = v["case_id"].as_str().unwrap_or_default().to_string();
                if v["created"].as_bool() == Some(true) {
                    s.sends.insert((id.clone(), "case.created", 0), sent);
                    s.sends.insert((id.clone(), "message.created", 0), sent);
                    s.cases[ws].push(CaseSt {
                        id,
                        email,
                        msgs: 1,
                        ..Default::default()
                    });
                }
            }
            Action::FollowUp { case, occ, .. } => {
                let id = s.cases[ws][case].id.clone();
                s.sends.insert((id, "message.created", occ), sent);
                s.cases[ws][case].busy = false;
            }
            Action::Assign { case, occ, .. } => {
                let id = s.cases[ws][case].id.clone();
                s.sends.insert((id, "case.assigned", occ), sent);
                s.cases[ws][case].busy = false;
            }
        },
    }
}

/// Open-loop: action `i` is due at `start + i / rate`; at most `concurrency` in flight.
async fn drive(
    http: &reqwest::Client,
    url: &str,
    wss: &Arc<Vec<Workspace>>,
    st: &Arc<Mutex<DriveState>>,
    rate: f64,
    duration: f64,
    concurrency: usize,
) -> (u64, f64) {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let start = tokio::time::Instant::now();
    let end = start + Duration::from_secs_f64(duration);
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut tasks = tokio::task::JoinSet::new();
    let mut i: u64 = 0;
    let mut late = 0u64;
    loop {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due >= end {
            break;
        }
        tokio::time::sleep_until(due).await;
        let permit = sem.clone().acquire_owned().await.unwrap();
        if tokio::time::Instant::now() > due + Duration::from_millis(50) {
            late += 1;
        }
        let action = pick_action(&mut st.lock().unwrap(), wss, &mut rng);
        let (http, url, wss, st) = (http.clone(), url.to_string(), wss.clone(), st.clone());
        tasks.spawn(async move {
            run_action(&http, &url, &wss, &st, action).await;
            drop(permit);
        });
        i += 1;
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let secs = start.elapsed().as_secs_f64();
    let _ = late;
    (i, secs)
}

/// After a step: match arrivals to actions, count misses and duplicates, build histograms.
#[allow(clippy::too_many_arguments)]
async fn measure_step(
    workers: &mut [Worker],
    server: &Server,
    wss: &[Workspace],
    st: &Mutex<DriveState>,
    groups: u32,
    secs: f64,
) -> Result<Value> {
    let finals = final_seqs(server, wss).await?;
    let cmds = workers.iter().map(|_| ToWorker::Catalog).collect();
    let replies = all_workers(workers, cmds).await?;
    let mut merged: BTreeMap<(u32, u64), CatEvent> = BTreeMap::new();
    for r in replies {
        let evs: Vec<CatEvent> = serde_json::from_value(r["events"].clone())?;
        for e in evs {
            match merged.get_mut(&(e.ws, e.seq)) {
                Some(m) => {
                    m.n += e.n;
                    m.min = m.min.min(e.min);
                    m.max = m.max.max(e.max);
                }
                None => {
                    merged.insert((e.ws, e.seq), e);
                }
            }
        }
    }
    // The k-th event of a kind on a case answers the k-th action of that kind on it: actions on
    // one case are never in flight together, so their commit order is their send order.
    let mut sends = vec![];
    let mut last = Hist::default();
    let mut first = Hist::default();
    let mut unmatched = 0u64;
    {
        let mut guard = st.lock().unwrap();
        let s = &mut *guard;
        for ((ws, seq), e) in &merged {
            let k = s.seen.entry((e.case.clone(), e.kind.clone())).or_default();
            let n = *k;
            *k += 1;
            let key_kind: &'static str = match e.kind.as_str() {
                "case.created" => "case.created",
                "message.created" => "message.created",
                "case.assigned" => "case.assigned",
                _ => "",
            };
            match s.sends.get(&(e.case.clone(), key_kind, n)) {
                Some(t) => {
                    sends.push((*ws, *seq, *t));
                    last.add(e.max.saturating_sub(*t) / 1000);
                    first.add(e.min.saturating_sub(*t) / 1000);
                }
                None => unmatched += 1,
            }
        }
    }
    let cmds = workers
        .iter()
        .map(|_| ToWorker::Finish {
            finals: finals.clone(),
            sends: sends.clone(),
            groups,
        })
        .collect();
    let replies = all_workers(workers, cmds).await?;
    let mut f = Finished {
        hists: vec![Hist::default(); groups as usize],
        ..Default::default()
    };
    for r in replies {
        let x: Finished = serde_json::from_value(r)?;
        f.deliveries += x.deliveries;
        f.matched += x.matched;
        f.missed += x.missed;
        f.duplicates += x.duplicates;
        f.closed += x.closed;
        for (a, b) in f.hists.iter_mut().zip(x.hists.iter()) {
            a.merge(b);
        }
    }
    let mut all = Hist::default();
    for h in &f.hists {
        all.merge(h);
    }
    let mut s = st.lock().unwrap();
    let out = json!({
        "events": merged.len(),
        "events_unmatched": unmatched,
        "deliveries": f.deliveries,
        "deliveries_per_s": (f.deliveries as f64 / secs).round(),
        "missed": f.missed,
        "duplicates": f.duplicates,
        "sockets_closed": f.closed,
        "latency_ms": all.summary(),
        "last_recipient_ms": last.summary(),
        "first_recipient_ms": first.summary(),
        "latency_by_instance_ms": f.hists.iter().map(|h| h.summary()).collect::<Vec<_>>(),
        "http_ms": s.http.summary(),
        "actions": s.actions,
        "action_errors": s.errors,
        "action_error_sample": s.error_sample.clone(),
    });
    s.sends.clear();
    s.http = Hist::default();
    s.actions = 0;
    s.errors = 0;
    s.error_sample.clear();
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Scenarios

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": model,
        "memory_gib": (mem_kib as f64 / 1048576.0 * 10.0).round() / 10.0,
        "kernel": kernel.trim(),
    })
}

/// The filesystem and device a path is on (from /proc/self/mounts): fsync costs what they make
/// it cost, and nothing at all on tmpfs.
fn fs_of(path: &std::path::Path) -> Value {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && path.starts_with(f[1])).then(|| (f[1].len(), f[0], f[1], f[2]))
        })
        .max_by_key(|m| m.0)
        .map_or(Value::Null, |(_, dev, at, fs)| {
            json!({ "path": path.display().to_string(), "mount": at, "device": dev, "type": fs })
        })
}

/// Latency of a 4 KiB write plus `fdatasync` in `dir`, 200 times, into a file already written
/// and synced (as SQLite reuses its WAL): what one commit with `synchronous = FULL` waits for at
/// least, on this disk at this moment.
fn fsync_probe(dir: &std::path::Path) -> Result<Value> {
    use std::io::{Seek, SeekFrom, Write};
    const BLOCKS: u64 = 200;
    let path = dir.join(format!(
        "baton-bench-fsync-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let mut file = std::fs::File::create(&path)?;
    let block = [7u8; 4096];
    for _ in 0..BLOCKS {
        file.write_all(&block)?;
    }
    file.sync_all()?;
    let mut hist = Hist::default();
    for i in 0..BLOCKS {
        let t = mono_ns();
        file.seek(SeekFrom::Start(i * 4096))?;
        file.write_all(&block)?;
        file.sync_data()?;
        hist.add((mono_ns() - t) / 1000);
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(hist.summary())
}

fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?)
}

fn spawn_workers(c: &Common, sockets: usize) -> Result<Vec<Worker>> {
    let n = c
        .workers
        .unwrap_or_else(|| sockets.div_ceil(c.max_per_worker).max(2))
        .clamp(1, 200);
    (0..n).map(Worker::spawn).collect()
}

fn finish(c: &Common, result: &Value, chart: Option<String>) -> Result<()> {
    let text = serde_json::to_string_pretty(result)?;
    if let Some(p) = &c.json {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).ok();
        }
        std::fs::write(p, &text)?;
    }
    if let (Some(p), Some(svg)) = (&c.svg, chart) {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).ok();
        }
        std::fs::write(p, svg)?;
    }
    if c.json.is_none() {
        println!("{text}");
    }
    Ok(())
}

async fn idle(a: IdleArgs) -> Result<Value> {
    let c = &a.common;
    let http = http_client()?;
    let srv = servers(c, 1, &http).await?;
    let total = *a.sockets.iter().max().unwrap_or(&0);
    let wss = Arc::new(create_workspaces(&http, &srv.list[0].url, 1, a.teammates).await?);
    let mut workers = spawn_workers(c, total)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = sample_servers(&srv);
    let st = Arc::new(Mutex::new(DriveState {
        cases: vec![vec![]; wss.len()],
        ..Default::default()
    }));
    let mut steps = vec![];
    let mut have = 0usize;
    let groups = srv.list.len() as u32;
    for &target in &a.sockets {
        let conns: Vec<Conn> = (have..target)
            .map(|i| {
                let s = &srv.list[i % srv.list.len()];
                let m = &wss[0].mates[i % wss[0].mates.len()];
                Conn {
                    addr: s.addr,
                    url: ws_url(s, &m.token),
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
        let now = sample_servers(&srv);
        let cmds = workers.iter().map(|_| ToWorker::Status).collect();
        let statuses = all_workers(&mut workers, cmds).await?;
        let open: u64 = statuses
            .iter()
            .map(|s| s["open"].as_u64().unwrap_or(0))
            .sum();
        let rss: Vec<Value> = base
            .iter()
            .zip(&now)
            .map(|(b, n)| match (b, n) {
                (Some(b), Some(n)) => json!({"rss_mib": (n.rss_kib as f64 / 1024.0 * 10.0).round() / 10.0,
                    "growth_mib": ((n.rss_kib as f64 - b.rss_kib as f64) / 1024.0 * 10.0).round() / 10.0}),
                _ => Value::Null,
            })
            .collect();
        let growth_kib: Option<f64> = base
            .iter()
            .zip(&now)
            .map(|(b, n)| match (b, n) {
                (Some(b), Some(n)) => Some(n.rss_kib as f64 - b.rss_kib as f64),
                _ => None,
            })
            .sum();
        // One event after another, each to every socket.
        let (actions, dsecs) = drive(
            &http,
            &srv.list[0].url,
            &wss,
            &st,
            2.0,
            a.probes as f64 / 2.0,
            4,
        )
        .await;
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
        eprintln!("{}", step_line_idle(&step));
        steps.push(step);
    }
    Ok(json!({
        "scenario": "idle",
        "machine": machine(),
        "database": srv.db_desc,
        "instances": srv.list.len(),
        "workers": workers.len(),
        "teammates": a.teammates,
        "steps": steps,
    }))
}

fn step_line_idle(s: &Value) -> String {
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

async fn driven(a: DriveArgs, scenario: &str) -> Result<Value> {
    let c = &a.common;
    let http = http_client()?;
    let default_instances = if scenario == "cluster" { 2 } else { 1 };
    let srv = servers(c, default_instances, &http).await?;
    let (nws, nmates) = match scenario {
        "teams" => (a.workspaces.unwrap_or(200), a.teammates.unwrap_or(5)),
        _ => (a.workspaces.unwrap_or(1), a.teammates.unwrap_or(100)),
    };
    let per_ws_sockets = a.sockets.unwrap_or(nmates);
    let wss = Arc::new(create_workspaces(&http, &srv.list[0].url, nws, nmates).await?);
    let total = nws * per_ws_sockets;
    let mut workers = spawn_workers(c, total)?;
    let mut conns = vec![];
    for (wi, w) in wss.iter().enumerate() {
        for k in 0..per_ws_sockets {
            let g = k % srv.list.len();
            let s = &srv.list[g];
            conns.push(Conn {
                addr: s.addr,
                url: ws_url(s, &w.mates[k % w.mates.len()].token),
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
    let st = Arc::new(Mutex::new(DriveState {
        cases: vec![vec![]; wss.len()],
        ..Default::default()
    }));
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
        let s0 = sample_servers(&srv);
        let w0 = sample_workers(&workers);
        let (actions, dsecs) = drive(
            &http,
            &srv.list[0].url,
            &wss,
            &st,
            rate,
            a.duration,
            a.concurrency,
        )
        .await;
        let s1 = sample_servers(&srv);
        let w1 = sample_workers(&workers);
        tokio::time::sleep(Duration::from_secs_f64(a.drain)).await;
        let mut m = measure_step(&mut workers, &srv.list[0], &wss, &st, groups, dsecs).await?;
        m["rate_target"] = json!(rate);
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

/// The server's `baton_sockets_open`.
async fn sockets_open(http: &reqwest::Client, url: &str) -> Result<i64> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix("baton_sockets_open ")?.parse().ok())
        .context("no baton_sockets_open in /metrics")
}

/// A socket that completes the handshake and then never reads, with a small kernel buffer so
/// that the server's writes to it block early.
async fn open_stuck(addr: SocketAddr, token: &str) -> Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(2048)?;
    let mut tcp = socket.connect(addr).await?;
    let upgrade = format!(
        "GET /ws?token={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(upgrade.as_bytes()).await?;
    Ok(tcp)
}

/// Keeps `n` sockets that never read connected to `server` until `stop` fires: whenever the
/// server cuts some off (their queues overflowed), as many new ones connect, so that the crowd
/// is at full strength for the whole step. Returns how many were opened in all.
async fn stuck_crowd(
    http: reqwest::Client,
    server: (String, SocketAddr),
    token: String,
    n: usize,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<usize> {
    let (url, addr) = server;
    let base = sockets_open(&http, &url).await?;
    let mut crowd = std::collections::VecDeque::new();
    let mut opened = 0;
    loop {
        let held = (sockets_open(&http, &url).await? - base).max(0) as usize;
        // The server lets the oldest go first: forget as many as it no longer holds.
        while crowd.len() > held {
            crowd.pop_front();
        }
        while crowd.len() < n {
            crowd.push_back(open_stuck(addr, &token).await?);
            opened += 1;
        }
        tokio::select! {
            _ = &mut stop => return Ok(opened),
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

fn step_line(m: &Value) -> String {
    format!(
        "rate {:>6}/s  actions {:>7}/s  deliveries {:>8}/s  latency p50 {:>7} p90 {:>7} p99 {:>7} p99.9 {:>7} max {:>7} ms  last-recipient p99 {:>7} ms  missed {} dup {}  server CPU {}% RSS {} MiB fds {}",
        m["rate_target"], m["actions_per_s"], m["deliveries_per_s"],
        m["latency_ms"]["p50"], m["latency_ms"]["p90"], m["latency_ms"]["p99"],
        m["latency_ms"]["p99_9"], m["latency_ms"]["max"], m["last_recipient_ms"]["p99"],
        m["missed"], m["duplicates"], m["server_cpu_pct"], m["server_rss_mib"], m["server_fds"],
    )
}

/// Closed loop: `concurrency` requests in flight for `duration` seconds.
async fn api(a: ApiArgs) -> Result<Value> {
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
        let case_ids: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
        for kind in ["inbound", "assign"] {
            let s0 = sample_servers(srv);
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
                                            case_ids.lock().unwrap().push((w, id.to_string()));
                                        }
                                        true
                                    }
                                    Err(_) => false,
                                },
                                Err(_) => false,
                            }
                        } else {
                            let item = {
                                let ids = case_ids.lock().unwrap();
                                if ids.is_empty() {
                                    None
                                } else {
                                    // Spread over all cases; two requests on one case are
                                    // rare and harmless (last writer wins).
                                    let n = ids.len();
                                    let k = (t + i * conc) % n;
                                    Some(ids[k].clone())
                                }
                            };
                            let Some((w, id)) = item else { break };
                            let to = &wss[w].mates[i % 2].id;
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
            let h = hist.lock().unwrap();
            step[kind] = json!({
                "ok": h.1,
                "errors": h.2,
                "per_s": ((h.1 as f64 / secs) * 10.0).round() / 10.0,
                "http_ms": h.0.summary(),
                "server_cpu_pct": sum_cpu(&s0, &s1),
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

// ---------------------------------------------------------------------------------------------
// Charts (plain SVG)

struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

fn line_chart(title: &str, xlabel: &str, ylabel: &str, series: &[Series]) -> String {
    let (w, h, l, r, t, b) = (760.0, 420.0, 70.0, 170.0, 40.0, 50.0);
    let xmax = nice_max(
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .fold(0.0, f64::max),
    );
    let ymax = nice_max(
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let px = |x: f64| l + x / xmax * (w - l - r);
    let py = |y: f64| h - b - y / ymax * (h - t - b);
    let colors = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    ];
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
        (w - r + l) / 2.0,
        esc(title)
    );
    for i in 0..=5 {
        let fx = xmax * i as f64 / 5.0;
        let fy = ymax * i as f64 / 5.0;
        s += &format!(
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#eee\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            t, h - b, h - b + 16.0, fmt_num(fx), x = px(fx)
        );
        s += &format!(
            "<line x1=\"{l}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
            w - r, l - 6.0, py(fy) + 4.0, fmt_num(fy), y = py(fy)
        );
    }
    s += &format!(
        "<line x1=\"{l}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/><line x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{}\" stroke=\"#333\"/>\n",
        h - b, w - r, h - b, h - b
    );
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text><text transform=\"translate(16,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
        (w - r + l) / 2.0, h - 12.0, esc(xlabel), (h - b + t) / 2.0, esc(ylabel)
    );
    for (i, se) in series.iter().enumerate() {
        let c = colors[i % colors.len()];
        let pts: Vec<String> = se
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        s += &format!(
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>\n",
            pts.join(" ")
        );
        for (x, y) in &se.points {
            s += &format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{c}\"/>\n",
                px(*x),
                py(*y)
            );
        }
        let ly = t + 10.0 + i as f64 * 18.0;
        s += &format!(
            "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
            w - r + 12.0, ly - 10.0, w - r + 30.0, ly, esc(&se.name)
        );
    }
    s += "</svg>\n";
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn fmt_num(v: f64) -> String {
    if v >= 1000.0 && (v / 1000.0).fract() == 0.0 {
        format!("{}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v}")
    } else {
        format!("{v:.2}")
    }
}

fn chart_for(results: &[Value]) -> Option<String> {
    let first = results.first()?;
    let scenario = first["scenario"].as_str()?;
    let steps = |r: &Value| r["steps"].as_array().cloned().unwrap_or_default();
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    match scenario {
        "export" => None,
        "idle" => {
            let mut series = vec![];
            for r in results {
                let inst = r["instances"].as_u64().unwrap_or(1);
                series.push(Series {
                    name: format!("RSS growth ({inst} inst.)"),
                    points: steps(r)
                        .iter()
                        .map(|s| {
                            let g: f64 = s["server"]
                                .as_array()
                                .map(|a| a.iter().map(|x| f(&x["growth_mib"])).sum())
                                .unwrap_or(0.0);
                            (f(&s["sockets_open"]), g)
                        })
                        .collect(),
                });
            }
            Some(line_chart(
                "Idle sockets: server RSS growth",
                "open sockets",
                "MiB",
                &series,
            ))
        }
        "api" => {
            let mut series = vec![];
            for r in results {
                let db = r["database"].as_str().unwrap_or("?").to_string();
                let mut modes: Vec<Option<&str>> = vec![];
                for s in r["steps"].as_array().into_iter().flatten() {
                    let m = s["sqlite_synchronous"].as_str();
                    if !modes.contains(&m) {
                        modes.push(m);
                    }
                }
                for mode in modes {
                    let label = mode.map_or(db.clone(), |m| format!("{db}, {m}"));
                    for k in ["inbound", "assign"] {
                        series.push(Series {
                            name: format!("{k} ({label})"),
                            points: steps(r)
                                .iter()
                                .filter(|s| s["sqlite_synchronous"].as_str() == mode)
                                .map(|s| (f(&s["concurrency"]), f(&s[k]["per_s"])))
                                .collect(),
                        });
                    }
                }
            }
            Some(line_chart(
                "HTTP throughput",
                "requests in flight",
                "requests/s",
                &series,
            ))
        }
        _ => {
            let mut series = vec![];
            let multi = results.len() > 1;
            for (i, r) in results.iter().enumerate() {
                let tag = if multi {
                    format!(" #{}", i + 1)
                } else {
                    String::new()
                };
                for (label, path, q) in [
                    ("p50", "latency_ms", "p50"),
                    ("p99", "latency_ms", "p99"),
                    ("p99.9", "latency_ms", "p99_9"),
                    ("last recip. p99", "last_recipient_ms", "p99"),
                ] {
                    series.push(Series {
                        name: format!("{label}{tag}"),
                        points: steps(r)
                            .iter()
                            .map(|s| (f(&s["deliveries_per_s"]), f(&s[path][q])))
                            .collect(),
                    });
                }
            }
            Some(line_chart(
                &format!("{scenario}: latency from action to socket vs load"),
                "deliveries per second",
                "ms",
                &series,
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Export: memory while streaming a big workspace

async fn export(a: ExportArgs) -> Result<Value> {
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

// ---------------------------------------------------------------------------------------------
// Search: a bulk-seeded history, then many varied queries through the HTTP API

/// Made-up words from syllables: a vocabulary whose frequencies the seeding skews, so that
/// queries can ask for common, middling and rare words.
fn vocabulary() -> Vec<String> {
    const SYL: [&str; 24] = [
        "ka", "lo", "mi", "ren", "to", "sa", "vel", "di", "no", "ga", "pe", "ru", "zan", "fi",
        "bo", "tel", "ma", "qui", "sor", "le", "du", "ni", "ho", "bra",
    ];
    let mut words = Vec::new();
    for a in SYL {
        for b in SYL {
            for c in ["", "n", "s", "ta", "ro"] {
                words.push(format!("{a}{b}{c}"));
            }
        }
    }
    words
}

/// A word index skewed towards the start of the vocabulary (a few words are very common).
fn skewed(rng: &mut impl Rng, n: usize) -> usize {
    let u: f64 = rng.gen();
    ((u.powf(3.0)) * n as f64) as usize % n
}

const FIRST: [&str; 16] = [
    "Élodie", "Marcus", "Amara", "Jonas", "Priya", "Tomás", "Ingrid", "Kofi", "Mei", "Rafael",
    "Sofia", "Oskar", "Lena", "Yusuf", "Clara", "Dmitri",
];
const LAST: [&str; 16] = [
    "Durand", "Lee", "Okafor", "Berg", "Nair", "García", "Holm", "Mensah", "Wang", "Costa",
    "Rossi", "Novak", "Weber", "Demir", "Martin", "Ivanov",
];

/// The customer of seeded case `i`: name, email, phone (digits only after `+`).
fn bench_customer(i: usize) -> (String, String, String) {
    let (f, l) = (FIRST[i % 16], LAST[(i / 16) % 16]);
    let email = format!("{}.{}.{i}@example.com", f.to_lowercase(), l.to_lowercase());
    (
        format!("{f} {l}"),
        email,
        format!("+1415{:07}", i % 10_000_000),
    )
}

fn uuid_literal(postgres: bool, id: uuid::Uuid) -> String {
    match postgres {
        true => format!("'{id}'"),
        false => format!("X'{}'", id.simple()),
    }
}

enum Db {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Db {
    async fn run(&mut self, sql: &str) -> Result<()> {
        match self {
            Db::Sqlite(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
            Db::Postgres(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
        }
        .map_err(Into::into)
    }
}

/// Writes `a.messages` messages (customers, cases, messages; `per_case` messages each) into the
/// workspaces with multi-row INSERTs, 20,000 messages per transaction. The search index is
/// written by the same triggers as for every other write.
async fn seed_search(
    a: &SearchArgs,
    db_url: &str,
    workspaces: &[Workspace],
    words: &[String],
) -> Result<usize> {
    use sqlx::Connection;
    let postgres = db_url.starts_with("postgres");
    let mut db = match postgres {
        true => Db::Postgres(sqlx::PgConnection::connect(db_url).await?),
        false => Db::Sqlite(sqlx::SqliteConnection::connect(db_url).await?),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let cases = a.messages.div_ceil(a.per_case.max(1));
    let per_tx = (20_000 / a.per_case.max(1)).max(1);
    let statuses = [
        "needs_reply",
        "awaiting_customer",
        "on_hold",
        "won",
        "archived",
    ];
    let started = mono_ns();
    let now = chrono::Utc::now().timestamp_millis();
    let mut numbers = vec![0usize; workspaces.len()];
    let mut written = 0;
    for first in (0..cases).step_by(per_tx) {
        let (mut customers, mut case_rows, mut messages) = (vec![], vec![], vec![]);
        for i in first..(first + per_tx).min(cases) {
            let w = i % workspaces.len();
            numbers[w] += 1;
            let ws = uuid_literal(postgres, workspaces[w].id.parse()?);
            let (customer_id, case_id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
            let (name, email, phone) = bench_customer(i);
            let at = now - ((cases - i) as i64) * 60_000;
            let cu = uuid_literal(postgres, customer_id);
            customers.push(format!(
                "({cu}, {ws}, '{name}', '{email}', '{phone}', {at})"
            ));
            let subject = (0..3)
                .map(|_| words[skewed(&mut rng, words.len())].as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let status = statuses[i % statuses.len()];
            let c = uuid_literal(postgres, case_id);
            let no = if postgres { "FALSE" } else { "0" };
            case_rows.push(format!(
                "({c}, {ws}, {}, '{status}', NULL, 1, NULL, '{subject}', {cu}, {no}, '{subject}', {at}, {at}, {})",
                numbers[w], a.per_case
            ));
            for k in 0..a.per_case {
                let len = rng.gen_range(8..40);
                let body = (0..len)
                    .map(|_| words[skewed(&mut rng, words.len())].as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let kind = ["inbound", "reply", "note"][k % 3];
                let m = uuid_literal(postgres, uuid::Uuid::now_v7());
                messages.push(format!(
                    "({m}, {ws}, {c}, '{kind}', 'email', '{body}', {})",
                    at + k as i64
                ));
            }
        }
        let mut sql = String::from("BEGIN;\n");
        sql += &format!(
            "INSERT INTO customers (id, workspace_id, name, email, phone, created_at) VALUES {};\n",
            customers.join(", ")
        );
        sql += &format!("INSERT INTO cases (id, workspace_id, number, status, assignee_id, version, category, subject, customer_id, returning_customer, preview, created_at, last_message_at, inbound_count) VALUES {};\n", case_rows.join(", "));
        for chunk in messages.chunks(2_000) {
            sql += &format!("INSERT INTO messages (id, workspace_id, case_id, kind, channel, body, created_at) VALUES {};\n", chunk.join(", "));
        }
        sql += "COMMIT;";
        db.run(&sql).await?;
        written += messages.len();
        eprint!("\rseeded {written} messages");
    }
    for (w, n) in workspaces.iter().zip(&numbers) {
        let ws = uuid_literal(postgres, w.id.parse()?);
        db.run(&format!(
            "UPDATE workspaces SET last_case_number = {n} WHERE id = {ws}"
        ))
        .await?;
    }
    db.run("ANALYZE").await?;
    eprintln!(" in {:.0} s", (mono_ns() - started) as f64 / 1e9);
    Ok(written)
}

/// Latency per kind of query, then queries with results, then failed ones.
type SearchTally = (BTreeMap<&'static str, Hist>, u64, u64);

async fn search(a: SearchArgs) -> Result<Value> {
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

// ---------------------------------------------------------------------------------------------

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Cmd::Worker = cli.cmd {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(worker_main());
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

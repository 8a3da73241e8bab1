//! The command line: one subcommand per scenario, and the options they share.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "baton-bench",
    about = "Load generator for Baton: sockets, fan-out latency, throughput (loopback only)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
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

/// What serves the sockets: Baton, or one of the peers it is measured against.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ServerKind {
    /// Baton itself.
    #[default]
    Baton,
    /// The Socket.IO 4 server in `bench/socketio/` (Node.js, SQLite): the same job as Baton's
    /// in the way a Node team inbox would do it.
    Socketio,
    /// `bare-writer`: the same frames to the same sockets with no database and no logic, the
    /// machine's ceiling for a fan-out.
    Bare,
}

#[derive(Args, Clone)]
pub struct Common {
    /// The server under test (`fanout`, `teams`, and `cluster` but for bare; the others need
    /// Baton).
    #[arg(long, value_enum, default_value_t = ServerKind::Baton)]
    pub server: ServerKind,
    /// With --spawn --server socketio: the Node.js binary.
    #[arg(long, default_value = "node")]
    pub node: PathBuf,
    /// With --spawn --server socketio: the peer's script (its `node_modules` installed next to
    /// it with `npm ci`).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/socketio/server.js"))]
    pub socketio_script: PathBuf,
    /// With --spawn and Baton (`fanout`, `teams`, `cluster`): create the accounts with `baton
    /// load-test-accounts` before the servers start (API tokens, no passwords) instead of
    /// signing up and inviting through the API, where every teammate costs a password hash.
    #[arg(long)]
    pub bulk_accounts: bool,
    /// Server base URL(s) (loopback only); repeat for several instances. Ignored with --spawn.
    #[arg(long = "url")]
    pub urls: Vec<String>,
    /// Pid(s) of the server(s) given by --url, to read RSS and CPU from /proc.
    #[arg(long = "pid")]
    pub pids: Vec<u32>,
    /// Start the server(s) here (fresh database), stop them at the end.
    #[arg(long)]
    pub spawn: bool,
    /// With --spawn: the database, `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// With --spawn: how many instances (more than one needs Redis, and for Baton Postgres; the
    /// Socket.IO peer's share one SQLite file; the bare writer runs one).
    #[arg(long)]
    pub instances: Option<usize>,
    /// With --spawn: Postgres server (a fresh database is created on it and dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub postgres: String,
    /// With --spawn: leave the database (and the SQLite file's directory) in place at the end,
    /// to examine its query plans; the path or name is printed.
    #[arg(long)]
    pub keep_db: bool,
    /// With --spawn and several instances: Redis.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
    /// With --spawn: the `baton` (or, with --server bare, `bare-writer`) binary (default: next
    /// to this one).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Client worker processes (default: enough for --max-per-worker, at least 2).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Sockets per worker process at most (each has a 20,000 open-files limit).
    #[arg(long, default_value_t = 15000)]
    pub max_per_worker: usize,
    /// Sockets being opened at once per worker.
    #[arg(long, default_value_t = 128)]
    pub connect_concurrency: usize,
    /// Write the results here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a chart here as SVG.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub struct IdleArgs {
    #[command(flatten)]
    pub common: Common,
    /// Socket counts to reach, one step each (sockets are added, never closed between steps).
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    pub sockets: Vec<usize>,
    /// Teammates the sockets are spread over (sockets per teammate are not limited).
    #[arg(long, default_value_t = 10)]
    pub teammates: usize,
    /// Seconds to hold each step (and after the sockets closed) before measuring memory, which
    /// is then read once it has settled.
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
    /// Events sent to all sockets at the end of each step (one every 500 ms).
    #[arg(long, default_value_t = 4)]
    pub probes: usize,
}

#[derive(Args, Clone)]
pub struct DriveArgs {
    #[command(flatten)]
    pub common: Common,
    /// Workspaces (fanout and cluster: 1).
    #[arg(long)]
    pub workspaces: Option<usize>,
    /// Teammates per workspace (invited agents plus the owner).
    #[arg(long)]
    pub teammates: Option<usize>,
    /// Sockets per workspace, spread over its teammates (default: one per teammate).
    #[arg(long)]
    pub sockets: Option<usize>,
    /// Actions per second (HTTP), one step per value.
    #[arg(long, value_delimiter = ',', default_value = "50")]
    pub rate: Vec<f64>,
    /// Seconds per step.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// HTTP requests in flight at most.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds to wait after each step for the last deliveries.
    #[arg(long, default_value_t = 2.0)]
    pub drain: f64,
    /// Before each step, this many more sockets (of the first workspace) that complete the
    /// handshake and never read again: the server must cut them off without slowing the rest.
    #[arg(long, default_value_t = 0)]
    pub stuck: usize,
}

#[derive(Args, Clone)]
pub struct ApiArgs {
    #[command(flatten)]
    pub common: Common,
    /// Requests in flight, one step per value.
    #[arg(long, value_delimiter = ',', default_value = "16")]
    pub concurrency: Vec<usize>,
    /// Seconds per action type per step.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Workspaces the requests are spread over.
    #[arg(long, default_value_t = 4)]
    pub workspaces: usize,
    /// With --spawn on SQLite: the servers' `--sqlite-synchronous`. Several values start one
    /// server each and run every step on each in turn, so they compare within one run.
    #[arg(long, value_delimiter = ',', default_value = "full", value_parser = ["full", "normal"])]
    pub sqlite_synchronous: Vec<String>,
}

#[derive(Args, Clone)]
pub struct ExportArgs {
    #[command(flatten)]
    pub common: Common,
    /// Cases to seed (one customer message each) before the export.
    #[arg(long, default_value_t = 100_000)]
    pub cases: usize,
    /// Inbound requests in flight while seeding.
    #[arg(long, default_value_t = 32)]
    pub seed_concurrency: usize,
}

#[derive(Args, Clone)]
pub struct SearchArgs {
    #[command(flatten)]
    pub common: Common,
    /// Messages to seed, written straight into the database in big transactions.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: usize,
    /// Messages per case.
    #[arg(long, default_value_t = 5)]
    pub per_case: usize,
    /// Workspaces the history is spread over (queries go to all of them).
    #[arg(long, default_value_t = 4)]
    pub workspaces: usize,
    /// Queries to time.
    #[arg(long, default_value_t = 2000)]
    pub queries: usize,
    /// Queries in flight.
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
}

#[derive(Args, Clone)]
pub struct ChartArgs {
    /// JSON result files.
    pub files: Vec<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
}

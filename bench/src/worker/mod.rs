//! Worker processes: each holds thousands of client sockets and records when every event
//! arrives on each. The coordinator (`pool`) drives them with JSON lines over their stdin and
//! stdout; `process` is the worker's side (`baton-bench worker`). The messages are here.

mod pool;
mod process;

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::histogram::Hist;

pub use pool::{all_workers, connect_all, sample_workers, spawn_workers, Worker};
pub use process::worker_main;

/// One socket to open: where, with which token (in `url`), for which workspace, and the group
/// (server instance) its latencies are counted in. With `socketio_token` the socket speaks
/// Socket.IO and authenticates with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conn {
    pub addr: SocketAddr,
    pub url: String,
    #[serde(default)]
    pub socketio_token: Option<String>,
    pub ws: u32,
    pub group: u32,
}

/// What the coordinator asks of a worker; each request gets one JSON line back.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum ToWorker {
    Connect {
        conns: Vec<Conn>,
        local_ip: Ipv4Addr,
        concurrency: usize,
    },
    Status,
    /// Closes every socket this worker opened (each with a close frame) and waits for the ends.
    CloseAll,
    Catalog,
    Finish {
        finals: Vec<(u32, u64)>,
        sends: Vec<(u32, u64, u64)>,
        groups: u32,
    },
}

/// An event as the worker's sockets saw it: how many received it, first and last arrival.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatEvent {
    pub ws: u32,
    pub seq: u64,
    pub case: String,
    pub kind: String,
    pub n: u64,
    pub min: u64,
    pub max: u64,
}

/// A step's tally from one worker (or, summed, from all of them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Finished {
    pub deliveries: u64,
    pub matched: u64,
    pub missed: u64,
    pub duplicates: u64,
    pub closed: u64,
    pub hists: Vec<Hist>,
}

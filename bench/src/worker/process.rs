//! The worker process (`baton-bench worker`): opens the sockets it is given, reads them until
//! the end, and answers the coordinator's requests about what arrived and when.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use futures_util::{stream, SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

use super::{CatEvent, Finished, ToWorker};
use crate::histogram::Hist;
use crate::host::{mono_ns, raise_nofile};
use crate::socketio;
use crate::sockets::{incoming, open_socket, Frame, Incoming, WsStream};

/// One socket: its workspace and group, the seq it counts from, the last seq it saw.
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

/// What the sockets of this worker saw of one event.
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
    /// Tells each open socket's reader to close its socket.
    closers: Vec<tokio::sync::oneshot::Sender<()>>,
}

/// Reads one socket until it closes, stamping each event's arrival (and answering the Socket.IO
/// peer's pings).
async fn read_socket(
    mut ws: WsStream,
    idx: u32,
    socketio: bool,
    state: Arc<Mutex<WorkerState>>,
    mut close: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let m = tokio::select! {
            m = ws.next() => m,
            _ = &mut close => {
                let _ = ws.close(None).await;
                // Read on until the server's close frame (or the end), as a browser would.
                while let Some(Ok(_)) = ws.next().await {}
                break;
            }
        };
        let Some(m) = m else { break };
        let t = match m {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let now = mono_ns();
        let text = match incoming(t.as_str(), socketio) {
            Incoming::Frame(text) => text,
            Incoming::Ping => {
                if ws.send(Message::text(socketio::PONG)).await.is_err() {
                    break;
                }
                continue;
            }
            _ => continue,
        };
        let Ok(f) = serde_json::from_str::<Frame>(text) else {
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

/// The worker's main loop: one request a line on stdin, one answer a line on stdout.
pub async fn worker_main() -> Result<()> {
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
                            let sio = c.socketio_token.as_deref();
                            let (ws, hello) =
                                open_socket(c.addr, &c.url, sio, Some(local_ip)).await?;
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
                            let (closer, close) = tokio::sync::oneshot::channel();
                            state.lock().unwrap().closers.push(closer);
                            tokio::spawn(read_socket(ws, idx, sio.is_some(), state, close));
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
            ToWorker::CloseAll => {
                let closers = std::mem::take(&mut state.lock().unwrap().closers);
                let asked = closers.len();
                for closer in closers {
                    let _ = closer.send(());
                }
                let started = mono_ns();
                loop {
                    let open = {
                        let st = state.lock().unwrap();
                        st.socks.iter().filter(|s| !s.closed).count()
                    };
                    if open == 0 || mono_ns() - started > 30_000_000_000 {
                        break json!({"asked": asked, "open": open});
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
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

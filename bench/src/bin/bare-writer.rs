//! `bare-writer`: the machine's ceiling for a fan-out, the server `baton-bench --server bare`
//! measures Baton against. It speaks the subset of Baton's API the load generator uses (`POST
//! /api/inbound`, `PUT /api/cases/{id}/assignee`, `GET /readyz`, and `POST /bench/setup` for the
//! accounts) and sends every socket of the workspace the same frames Baton sends, but keeps
//! everything in memory and does nothing else: no database, no rules, no badges.
//!
//! Each event's WebSocket frame is encoded once (server frames are unmasked, so the bytes are the
//! same for every socket) and the shared bytes go to each socket's queue; a socket's writer
//! sends what is queued in one write. The WebSocket handshake is answered here too, with
//! tungstenite's accept key: no per-socket framing or buffering stands between the event and the
//! kernel. A socket that falls `QUEUE` frames behind is dropped.
//!
//! Environment: PEER_LISTEN (host:port, default 127.0.0.1:3001).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

const QUEUE: usize = 4096;

type Frame = Arc<[u8]>;

/// A workspace's sockets and the seq of its newest event.
#[derive(Default)]
struct Room {
    id: String,
    seq: u64,
    sockets: Vec<mpsc::Sender<Frame>>,
}

impl Room {
    /// The next event, encoded once for every socket.
    fn publish(&mut self, event: Value) {
        self.seq += 1;
        let text = json!({
            "type": "event",
            "seq": self.seq,
            "at": chrono::Utc::now().to_rfc3339(),
            "event": event,
        })
        .to_string();
        let frame = ws_text_frame(text.as_bytes());
        self.sockets.retain(|s| s.try_send(frame.clone()).is_ok());
    }
}

#[derive(Default)]
struct Directory {
    rooms: Vec<Arc<Mutex<Room>>>,
    /// Ingest token → room.
    ingest: HashMap<String, usize>,
    /// API token → (room, teammate id).
    tokens: HashMap<String, (usize, String)>,
    /// (room, customer email) → case id.
    customers: HashMap<(usize, String), String>,
    /// Case id → (room, number, assignee).
    cases: HashMap<String, (usize, u64, Option<String>)>,
}

type State = Arc<Mutex<Directory>>;

/// An unmasked text frame, FIN set: what a server sends.
fn ws_text_frame(payload: &[u8]) -> Frame {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(0x81);
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n <= u16::MAX as usize => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f.into()
}

fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn setup(st: &State, body: &Value) -> Value {
    let workspaces = body["workspaces"].as_u64().unwrap_or(1) as usize;
    let teammates = body["teammates"].as_u64().unwrap_or(1).max(1) as usize;
    let mut d = st.lock().unwrap();
    let mut out = vec![];
    for _ in 0..workspaces {
        let idx = d.rooms.len();
        let id = uuid::Uuid::new_v4().to_string();
        let ingest = token();
        d.rooms.push(Arc::new(Mutex::new(Room {
            id: id.clone(),
            ..Default::default()
        })));
        d.ingest.insert(ingest.clone(), idx);
        let mut mates = vec![];
        for _ in 0..teammates {
            let (mate, t) = (uuid::Uuid::new_v4().to_string(), token());
            d.tokens.insert(t.clone(), (idx, mate.clone()));
            mates.push(json!({ "id": mate, "token": t }));
        }
        out.push(json!({ "id": id, "ingest": ingest, "mates": mates }));
    }
    Value::Array(out)
}

fn inbound(st: &State, bearer: &str, body: &Value) -> Option<Value> {
    let email = body["from"]["email"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let text = body["body"].as_str().unwrap_or_default();
    let (room, case_id, number, assignee, created) = {
        let mut d = st.lock().unwrap();
        let idx = *d.ingest.get(bearer)?;
        let created = !d.customers.contains_key(&(idx, email.clone()));
        let case_id = if created {
            let id = uuid::Uuid::new_v4().to_string();
            let number = d.cases.len() as u64 + 1;
            d.cases.insert(id.clone(), (idx, number, None));
            d.customers.insert((idx, email), id.clone());
            id
        } else {
            d.customers[&(idx, email)].clone()
        };
        let (_, number, assignee) = d.cases[&case_id].clone();
        (d.rooms[idx].clone(), case_id, number, assignee, created)
    };
    let mut room = room.lock().unwrap();
    if created {
        room.publish(json!({
            "kind": "case.created", "case_id": case_id, "number": format!("C-{number}"),
            "assignee_id": null, "customer_name": body["from"]["name"], "category": null,
        }));
    }
    room.publish(json!({
        "kind": "message.created", "case_id": case_id, "number": format!("C-{number}"),
        "message_id": uuid::Uuid::new_v4().to_string(), "message_kind": "inbound",
        "preview": text.chars().take(140).collect::<String>(), "author_id": null,
        "assignee_id": assignee,
    }));
    Some(json!({ "case_id": case_id, "created": created }))
}

fn assign(st: &State, bearer: &str, case_id: &str, body: &Value) -> Option<Value> {
    let to = body["assignee_id"].as_str().map(str::to_string);
    let (room, actor, number, previous) = {
        let mut d = st.lock().unwrap();
        let (idx, actor) = d.tokens.get(bearer)?.clone();
        let case = d.cases.get_mut(case_id).filter(|c| c.0 == idx)?;
        let previous = std::mem::replace(&mut case.2, to.clone());
        let number = case.1;
        (d.rooms[idx].clone(), actor, number, previous)
    };
    room.lock().unwrap().publish(json!({
        "kind": "case.assigned", "case_id": case_id, "number": format!("C-{number}"),
        "assignee_id": to, "previous_assignee_id": previous, "actor_id": actor,
    }));
    Some(json!({ "id": case_id, "assignee_id": to }))
}

/// A request's head: method, path (with query), and the headers this server reads.
struct Head {
    method: String,
    path: String,
    content_length: usize,
    bearer: String,
    ws_key: Option<String>,
}

fn parse_head(text: &str) -> Result<Head> {
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(path)) = (first.next(), first.next()) else {
        bail!("bad request line");
    };
    let mut head = Head {
        method: method.to_string(),
        path: path.to_string(),
        content_length: 0,
        bearer: String::new(),
        ws_key: None,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => head.content_length = value.parse()?,
            "authorization" => {
                head.bearer = value.strip_prefix("Bearer ").unwrap_or(value).to_string()
            }
            "sec-websocket-key" => head.ws_key = Some(value.to_string()),
            _ => {}
        }
    }
    Ok(head)
}

async fn respond(stream: &mut TcpStream, status: &str, body: &Value) -> Result<()> {
    let body = body.to_string();
    let text = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes()).await?;
    Ok(())
}

/// One connection: HTTP requests (kept alive) until it closes or becomes a WebSocket.
async fn serve(mut stream: TcpStream, st: State) -> Result<()> {
    stream.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let head = parse_head(std::str::from_utf8(&buf[..head_end])?)?;
        if let Some(key) = head.ws_key {
            return socket(stream, &head.path, &key, st).await;
        }
        while buf.len() < head_end + head.content_length {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let body: Value = if head.content_length > 0 {
            serde_json::from_slice(&buf[head_end..head_end + head.content_length])
                .unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        buf.drain(..head_end + head.content_length);
        let path = head.path.split('?').next().unwrap_or_default();
        let answer = match (head.method.as_str(), path) {
            ("GET", "/readyz") => Some(json!({ "ready": true })),
            ("POST", "/bench/setup") => Some(setup(&st, &body)),
            ("POST", "/api/inbound") => inbound(&st, &head.bearer, &body),
            ("PUT", p) => p
                .strip_prefix("/api/cases/")
                .and_then(|p| p.strip_suffix("/assignee"))
                .and_then(|id| assign(&st, &head.bearer, id, &body)),
            _ => None,
        };
        match answer {
            Some(v) => respond(&mut stream, "200 OK", &v).await?,
            None => respond(&mut stream, "404 Not Found", &json!({})).await?,
        }
    }
}

/// `/ws?token=…`: the upgrade, the hello, then the queued frames until the client goes.
async fn socket(mut stream: TcpStream, path: &str, key: &str, st: State) -> Result<()> {
    let token = path
        .split_once("token=")
        .map(|(_, t)| t.split('&').next().unwrap_or_default())
        .unwrap_or_default();
    let Some((room, mate)) = ({
        let d = st.lock().unwrap();
        d.tokens
            .get(token)
            .map(|(idx, mate)| (d.rooms[*idx].clone(), mate.clone()))
    }) else {
        return respond(&mut stream, "401 Unauthorized", &json!({})).await;
    };
    let accept = derive_accept_key(key.as_bytes());
    let upgrade = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(upgrade.as_bytes()).await?;
    let (tx, mut rx) = mpsc::channel::<Frame>(QUEUE);
    {
        // The hello is queued under the room's lock: every later event comes after it.
        let mut r = room.lock().unwrap();
        let hello = json!({
            "type": "hello", "teammate_id": mate, "workspace_id": r.id, "seq": r.seq,
        });
        tx.try_send(ws_text_frame(hello.to_string().as_bytes()))
            .context("queue the hello")?;
        r.sockets.push(tx);
    }
    let (mut read, mut write) = stream.split();
    let mut scratch = [0u8; 512];
    let mut out = Vec::new();
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let Some(frame) = frame else { break };
                out.clear();
                out.extend_from_slice(&frame);
                while let Ok(more) = rx.try_recv() {
                    out.extend_from_slice(&more);
                }
                write.write_all(&out).await?;
            }
            n = read.read(&mut scratch) => {
                // The client's frames (a close at the end) are not read: the socket ends with it.
                if n.unwrap_or(0) == 0 {
                    break;
                }
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let listen = std::env::var("PEER_LISTEN").unwrap_or_else(|_| "127.0.0.1:3001".into());
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listen on {listen}"))?;
    let st = State::default();
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(serve(stream, st.clone()));
    }
}

'use strict';
// The Socket.IO peer of `baton-bench fanout`, `teams` and `cluster --server socketio`: what a
// Node team would write for the same job, kept as small as that job allows. Per change it does
// what Baton does for it on SQLite: look the caller's token up, write the case, message or
// assignment and the event (with its workspace sequence number) in one transaction, then emit the
// event to the workspace's room. Sockets authenticate with `auth: { token }` in their CONNECT
// packet.
//
// Several instances share one SQLite file and reach each other's sockets through the official
// Redis adapter, as a Node team would scale it out. Each write transaction takes SQLite's write
// lock when it begins (IMMEDIATE), so the instances' events get one total order of `seq`, and a
// busy instance waits for the lock instead of failing.
//
// HTTP (the subset of Baton's API the load generator uses): POST /api/inbound (Bearer ingest
// token), PUT /api/cases/:id/assignee (Bearer teammate token), GET /readyz, and POST /bench/setup
// to create workspaces and teammates with their tokens in one go. Every socket gets one
// `frame` event per workspace event, carrying the same JSON object Baton sends as a frame, and
// a `frame` of type `hello` with the workspace's newest seq when it connects.
//
// Environment: PEER_LISTEN (host:port), PEER_DB (the SQLite file), PEER_REDIS (a redis:// URL:
// set it to run more than one instance on the same PEER_DB).

const http = require('node:http');
const crypto = require('node:crypto');
const { Server } = require('socket.io');
const Database = require('better-sqlite3');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

const [host, port] = (process.env.PEER_LISTEN || '127.0.0.1:3000').split(':');
const db = new Database(process.env.PEER_DB || 'peer.db');
// Another instance may hold the write lock: wait for it rather than fail with SQLITE_BUSY.
db.pragma('busy_timeout = 5000');
// Baton's defaults on SQLite: write-ahead log, and fsync at every commit.
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec(`
  CREATE TABLE IF NOT EXISTS workspaces (
    id TEXT PRIMARY KEY, ingest_token TEXT NOT NULL UNIQUE,
    seq INTEGER NOT NULL DEFAULT 0, cases INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE IF NOT EXISTS teammates (
    id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    token TEXT NOT NULL UNIQUE);
  CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    number TEXT NOT NULL, customer_email TEXT NOT NULL, customer_name TEXT NOT NULL,
    assignee_id TEXT, created_at TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS cases_by_customer ON cases(workspace_id, customer_email);
  CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(id),
    kind TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS events (
    workspace_id TEXT NOT NULL, seq INTEGER NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (workspace_id, seq));
`);

const q = {
  wsByIngest: db.prepare('SELECT id, seq, cases FROM workspaces WHERE ingest_token = ?'),
  mateByToken: db.prepare('SELECT id, workspace_id FROM teammates WHERE token = ?'),
  wsSeq: db.prepare('SELECT seq FROM workspaces WHERE id = ?'),
  caseByCustomer: db.prepare(
    'SELECT id, number, assignee_id FROM cases WHERE workspace_id = ? AND customer_email = ?'),
  caseById: db.prepare('SELECT id, number, assignee_id FROM cases WHERE id = ? AND workspace_id = ?'),
  insertWs: db.prepare('INSERT INTO workspaces (id, ingest_token) VALUES (?, ?)'),
  insertMate: db.prepare('INSERT INTO teammates (id, workspace_id, token) VALUES (?, ?, ?)'),
  insertCase: db.prepare(`INSERT INTO cases
    (id, workspace_id, number, customer_email, customer_name, created_at)
    VALUES (?, ?, ?, ?, ?, ?)`),
  insertMessage: db.prepare(
    'INSERT INTO messages (id, case_id, kind, body, created_at) VALUES (?, ?, ?, ?, ?)'),
  assign: db.prepare('UPDATE cases SET assignee_id = ? WHERE id = ?'),
  bumpWs: db.prepare('UPDATE workspaces SET seq = ?, cases = ? WHERE id = ?'),
  bumpSeq: db.prepare('UPDATE workspaces SET seq = ? WHERE id = ?'),
  insertEvent: db.prepare('INSERT INTO events (workspace_id, seq, payload) VALUES (?, ?, ?)'),
};

const token = () => crypto.randomBytes(24).toString('base64url');

/** Appends an event to the workspace's log; returns the frame to emit after the commit. */
function logEvent(workspaceId, seq, at, event) {
  const frame = { type: 'event', seq, at, event };
  q.insertEvent.run(workspaceId, seq, JSON.stringify(event));
  return frame;
}

const inbound = db.transaction((ingest, body) => {
  const ws = q.wsByIngest.get(ingest);
  if (!ws) return null;
  const at = new Date().toISOString();
  const email = String(body.from?.email ?? '');
  const name = String(body.from?.name ?? email);
  const text = String(body.body ?? '');
  let c = q.caseByCustomer.get(ws.id, email);
  const frames = [];
  let seq = ws.seq;
  let cases = ws.cases;
  const created = !c;
  if (created) {
    cases += 1;
    c = { id: crypto.randomUUID(), number: `C-${cases}`, assignee_id: null };
    q.insertCase.run(c.id, ws.id, c.number, email, name, at);
    frames.push(logEvent(ws.id, ++seq, at, {
      kind: 'case.created', case_id: c.id, number: c.number, assignee_id: null,
      customer_name: name, category: null,
    }));
  }
  const messageId = crypto.randomUUID();
  q.insertMessage.run(messageId, c.id, 'inbound', text, at);
  frames.push(logEvent(ws.id, ++seq, at, {
    kind: 'message.created', case_id: c.id, number: c.number, message_id: messageId,
    message_kind: 'inbound', preview: text.slice(0, 140), author_id: null,
    assignee_id: c.assignee_id,
  }));
  q.bumpWs.run(seq, cases, ws.id);
  return { room: ws.id, frames, answer: { case_id: c.id, created } };
});

const assign = db.transaction((bearer, caseId, body) => {
  const mate = q.mateByToken.get(bearer);
  if (!mate) return null;
  const c = q.caseById.get(caseId, mate.workspace_id);
  if (!c) return null;
  const to = body.assignee_id ?? null;
  const at = new Date().toISOString();
  q.assign.run(to, c.id);
  const seq = q.wsSeq.get(mate.workspace_id).seq + 1;
  q.bumpSeq.run(seq, mate.workspace_id);
  const frame = logEvent(mate.workspace_id, seq, at, {
    kind: 'case.assigned', case_id: c.id, number: c.number, assignee_id: to,
    previous_assignee_id: c.assignee_id, actor_id: mate.id,
  });
  return { room: mate.workspace_id, frames: [frame], answer: { id: c.id, assignee_id: to } };
});

const setup = db.transaction((workspaces, teammates) => {
  const out = [];
  for (let i = 0; i < workspaces; i++) {
    const ws = { id: crypto.randomUUID(), ingest: token(), mates: [] };
    q.insertWs.run(ws.id, ws.ingest);
    for (let j = 0; j < Math.max(1, teammates); j++) {
      const mate = { id: crypto.randomUUID(), token: token() };
      q.insertMate.run(mate.id, ws.id, mate.token);
      ws.mates.push(mate);
    }
    out.push(ws);
  }
  return out;
});

function reply(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body = {};
    try {
      if (chunks.length) body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return reply(res, 400, { error: 'bad json' });
    }
    const bearer = (req.headers.authorization || '').replace(/^Bearer /, '');
    const path = req.url.split('?')[0];
    let done = null;
    if (req.method === 'GET' && path === '/readyz') return reply(res, 200, { ready: true });
    if (req.method === 'POST' && path === '/bench/setup') {
      return reply(res, 200, setup.immediate(body.workspaces | 0, body.teammates | 0));
    }
    if (req.method === 'POST' && path === '/api/inbound') {
      done = inbound.immediate(bearer, body);
    } else {
      const m = /^\/api\/cases\/([^/]+)\/assignee$/.exec(path);
      if (req.method === 'PUT' && m) done = assign.immediate(bearer, m[1], body);
      else return reply(res, 404, { error: 'not found' });
    }
    if (!done) return reply(res, 401, { error: 'unauthorized' });
    for (const f of done.frames) io.to(done.room).emit('frame', f);
    reply(res, 200, done.answer);
  });
});

const io = new Server(server, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
});

io.use((socket, next) => {
  const mate = q.mateByToken.get(String(socket.handshake.auth?.token ?? ''));
  if (!mate) return next(new Error('unauthorized'));
  socket.data.mate = mate;
  next();
});

io.on('connection', (socket) => {
  const { id, workspace_id: workspaceId } = socket.data.mate;
  // Whatever commits after this read is emitted after it, here or through Redis, and reaches
  // the socket, which is in the room by then: the socket misses nothing newer than its hello.
  socket.join(workspaceId);
  const { seq } = q.wsSeq.get(workspaceId);
  socket.emit('frame', { type: 'hello', teammate_id: id, workspace_id: workspaceId, seq });
});

/** Listens once the Redis adapter's clients, if any, are connected: a ready instance publishes. */
async function start() {
  if (process.env.PEER_REDIS) {
    const pub = createClient({ url: process.env.PEER_REDIS });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  server.listen(Number(port), host);
}

start().catch((e) => {
  console.error(e);
  process.exit(1);
});
process.on('SIGTERM', () => {
  io.close();
  db.close();
  process.exit(0);
});

-- Core model: workspaces, teammates, sign-in, customers, cases, messages, timeline, the event log.
-- Times are UTC milliseconds since the epoch (INTEGER here, BIGINT on Postgres), so that the same SQL
-- compares and orders them the same way.

CREATE TABLE workspaces (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    case_prefix TEXT NOT NULL,
    reopen_days INTEGER NOT NULL DEFAULT 90,
    category_keywords TEXT NOT NULL DEFAULT '{}',
    ingest_token TEXT NOT NULL UNIQUE,
    last_case_number INTEGER NOT NULL DEFAULT 0,
    -- The last `seq` of this workspace's event log. Writers bump it under the row lock, so seq
    -- numbers are gap-free and unique across every process that writes.
    last_seq INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE teammates (
    id BLOB PRIMARY KEY,
    workspace_id BLOB NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT,
    role TEXT NOT NULL,
    away INTEGER NOT NULL DEFAULT 0,
    removed_at INTEGER,
    notify_web_push INTEGER NOT NULL DEFAULT 1,
    notify_email INTEGER NOT NULL DEFAULT 1,
    notify_chime INTEGER NOT NULL DEFAULT 0,
    notify_unassigned INTEGER NOT NULL DEFAULT 0,
    email_delay_secs INTEGER NOT NULL DEFAULT 300,
    created_at INTEGER NOT NULL
);
-- One active account per email address: sign-in names no workspace.
CREATE UNIQUE INDEX teammates_active_email ON teammates (email) WHERE removed_at IS NULL;
CREATE INDEX teammates_workspace ON teammates (workspace_id);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    teammate_id BLOB NOT NULL REFERENCES teammates(id),
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX tokens_teammate ON tokens (teammate_id);

CREATE TABLE invites (
    token_hash TEXT PRIMARY KEY,
    workspace_id BLOB NOT NULL REFERENCES workspaces(id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    invited_by BLOB NOT NULL REFERENCES teammates(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    accepted_at INTEGER
);

CREATE TABLE customers (
    id BLOB PRIMARY KEY,
    workspace_id BLOB NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX customers_email ON customers (workspace_id, email);
CREATE INDEX customers_phone ON customers (workspace_id, phone);

CREATE TABLE cases (
    id BLOB PRIMARY KEY,
    workspace_id BLOB NOT NULL REFERENCES workspaces(id),
    number INTEGER NOT NULL,
    status TEXT NOT NULL,
    assignee_id BLOB REFERENCES teammates(id),
    version INTEGER NOT NULL DEFAULT 1,
    category TEXT,
    subject TEXT,
    customer_id BLOB NOT NULL REFERENCES customers(id),
    returning_customer INTEGER NOT NULL DEFAULT 0,
    preview TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    last_message_at INTEGER NOT NULL,
    last_inbound_at INTEGER,
    closed_at INTEGER,
    follow_up_at INTEGER,
    -- How many customer messages the case has had; a teammate has read it when their
    -- `reads.seen_inbound` caught up (exact, unlike comparing clocks).
    inbound_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (workspace_id, number)
);
CREATE INDEX cases_list ON cases (workspace_id, last_message_at DESC, id DESC);
CREATE INDEX cases_assignee ON cases (workspace_id, assignee_id);
CREATE INDEX cases_customer ON cases (customer_id, created_at DESC);
CREATE INDEX cases_follow_up ON cases (follow_up_at) WHERE follow_up_at IS NOT NULL;

CREATE TABLE messages (
    id BLOB PRIMARY KEY,
    workspace_id BLOB NOT NULL REFERENCES workspaces(id),
    case_id BLOB NOT NULL REFERENCES cases(id),
    kind TEXT NOT NULL,
    author_id BLOB REFERENCES teammates(id),
    channel TEXT NOT NULL,
    body TEXT NOT NULL,
    external_id TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX messages_case ON messages (case_id, created_at);
CREATE UNIQUE INDEX messages_external ON messages (workspace_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE timeline (
    id BLOB PRIMARY KEY,
    workspace_id BLOB NOT NULL REFERENCES workspaces(id),
    case_id BLOB NOT NULL REFERENCES cases(id),
    kind TEXT NOT NULL,
    actor_id BLOB,
    from_id BLOB,
    to_id BLOB,
    detail TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE INDEX timeline_case ON timeline (case_id, created_at);

CREATE TABLE reads (
    teammate_id BLOB NOT NULL REFERENCES teammates(id),
    case_id BLOB NOT NULL REFERENCES cases(id),
    seen_inbound INTEGER NOT NULL,
    PRIMARY KEY (teammate_id, case_id)
);

CREATE TABLE assign_rules (
    workspace_id BLOB PRIMARY KEY REFERENCES workspaces(id),
    mode TEXT NOT NULL DEFAULT 'unassigned',
    pool TEXT NOT NULL DEFAULT '[]',
    categories TEXT NOT NULL DEFAULT '{}',
    fallback BLOB,
    -- The pool member round-robin picked last: shared by every instance.
    rr_last BLOB
);

CREATE TABLE events (
    workspace_id BLOB NOT NULL REFERENCES workspaces(id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    case_id BLOB,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);
CREATE INDEX events_age ON events (created_at);

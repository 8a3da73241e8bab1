-- SMS and API channels: a case remembers the channel it came in on (its replies go out there),
-- and an outbound message keeps the provider's id for it (Twilio's MessageSid) so that status
-- callbacks find it.
ALTER TABLE cases ADD COLUMN channel_id BLOB;
ALTER TABLE messages ADD COLUMN provider_id TEXT;
CREATE INDEX messages_provider_id ON messages (provider_id) WHERE provider_id IS NOT NULL;

-- Outgoing webhooks: an endpoint follows the workspace's event log from its own cursor, so
-- its deliveries go out in `seq` order and survive restarts; one instance at a time holds its
-- lease. `failing_since` switches it off after a day of failures.
CREATE TABLE webhooks (
    id BLOB PRIMARY KEY,
    workspace_id BLOB NOT NULL REFERENCES workspaces(id),
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    cursor INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    locked_until INTEGER,
    failing_since INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhooks_workspace ON webhooks (workspace_id, created_at);

-- One row per event sent to an endpoint (its attempts, last answer and time), for the log.
CREATE TABLE webhook_deliveries (
    id BLOB PRIMARY KEY,
    webhook_id BLOB NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    -- `pending` (failing, retried at the endpoint's next_at), `delivered`, `resend` (asked again).
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status_code INTEGER,
    response_ms INTEGER,
    error TEXT,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER,
    UNIQUE (webhook_id, seq)
);

-- SMS and API channels: a case remembers the channel it came in on (its replies go out there),
-- and an outbound message keeps the provider's id for it (Twilio's MessageSid) so that status
-- callbacks find it.
ALTER TABLE cases ADD COLUMN channel_id UUID;
ALTER TABLE messages ADD COLUMN provider_id TEXT;
CREATE INDEX messages_provider_id ON messages (provider_id) WHERE provider_id IS NOT NULL;

-- Outgoing webhooks: an endpoint follows the workspace's event log from its own cursor, so
-- its deliveries go out in `seq` order and survive restarts; one instance at a time holds its
-- lease. `failing_since` switches it off after a day of failures.
CREATE TABLE webhooks (
    id UUID PRIMARY KEY,
    workspace_id UUID NOT NULL REFERENCES workspaces(id),
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1,
    cursor BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    locked_until BIGINT,
    failing_since BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_workspace ON webhooks (workspace_id, created_at);

-- One row per event sent to an endpoint (its attempts, last answer and time), for the log.
CREATE TABLE webhook_deliveries (
    id UUID PRIMARY KEY,
    webhook_id UUID NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    -- `pending` (failing, retried at the endpoint's next_at), `delivered`, `resend` (asked again).
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    status_code BIGINT,
    response_ms BIGINT,
    error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (webhook_id, seq)
);

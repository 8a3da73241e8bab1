-- Offline fallback: durable notification jobs, browsers' push subscriptions, server keys.

CREATE TABLE push_subscriptions (
    id UUID PRIMARY KEY,
    teammate_id UUID NOT NULL REFERENCES teammates(id),
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_teammate ON push_subscriptions (teammate_id);

-- One row per notification to send, written in the same transaction as the event that causes
-- it. Workers claim due rows (`FOR UPDATE SKIP LOCKED` on Postgres) with a lease, so a crash
-- or a second instance never loses or duplicates one.
CREATE TABLE notification_jobs (
    id UUID PRIMARY KEY,
    workspace_id UUID NOT NULL REFERENCES workspaces(id),
    teammate_id UUID NOT NULL REFERENCES teammates(id),
    case_id UUID,
    subscription_id UUID,
    channel TEXT NOT NULL,
    reason TEXT NOT NULL,
    -- Pending jobs with the same key are one job (several messages in the email window → one email).
    dedupe_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE UNIQUE INDEX notification_jobs_pending_key ON notification_jobs (dedupe_key) WHERE state = 'pending';
CREATE INDEX notification_jobs_due ON notification_jobs (state, due_at);

CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Email both ways: channels (the workspace's sending identity and the addresses that feed it),
-- RFC 5322 Message-IDs on messages for threading, delivery state of outbound replies, and the
-- quoted part of a customer's email kept apart from what they wrote.
-- Outbound replies are jobs in `notification_jobs` (channel `email_reply`): the same lease,
-- backoff and exactly-once claim as notifications.

CREATE TABLE channels (
    id BLOB PRIMARY KEY,
    workspace_id BLOB NOT NULL REFERENCES workspaces(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    -- The lower-cased address mail to this channel arrives at (email: `from_address`).
    address TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX channels_workspace ON channels (workspace_id, created_at);
-- One address feeds one workspace: mail to it can never land in two.
CREATE UNIQUE INDEX channels_address ON channels (address) WHERE address IS NOT NULL;

-- `<id@domain>` as written in Message-ID headers (ours for replies, the customer's for mail).
ALTER TABLE messages ADD COLUMN mail_id TEXT;
-- The earlier conversation an email quoted, folded away from `body`.
ALTER TABLE messages ADD COLUMN quoted TEXT;
-- Outbound only: `queued`, `sent`, `delivered` or `failed`, the reason, and when it changed.
ALTER TABLE messages ADD COLUMN delivery_state TEXT;
ALTER TABLE messages ADD COLUMN delivery_error TEXT;
ALTER TABLE messages ADD COLUMN delivery_at INTEGER;
CREATE INDEX messages_mail_id ON messages (workspace_id, mail_id) WHERE mail_id IS NOT NULL;

-- Sessions and API tokens as their teammate sees them: an id to name one by (the hash stands in
-- for the secret and never leaves the server), and when, from where and with which browser it
-- was last used. `last_used_at` is renewed at most once a minute, not on every request.
ALTER TABLE tokens ADD COLUMN id BLOB;
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
ALTER TABLE tokens ADD COLUMN ip TEXT;
ALTER TABLE tokens ADD COLUMN user_agent TEXT;
UPDATE tokens SET id = randomblob(16) WHERE id IS NULL;
CREATE UNIQUE INDEX tokens_id ON tokens (id);

-- The audit log: admin actions and sign-ins, who did them, from where, and what changed.
-- `workspace_id` is NULL for a sign-in attempt with an email no account has. The ids only grow,
-- so a page of the log is "older than this id". No foreign keys: an entry outlives what it names.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id BLOB,
    at INTEGER NOT NULL,
    actor_id BLOB,
    email TEXT,
    action TEXT NOT NULL,
    target_id TEXT,
    ip TEXT,
    user_agent TEXT,
    changes TEXT NOT NULL
);
CREATE INDEX audit_log_workspace ON audit_log (workspace_id, id);
CREATE INDEX audit_log_at ON audit_log (at);

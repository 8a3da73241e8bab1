-- Single sign-on with OpenID Connect: one identity provider per workspace, and the sign-ins
-- under way. An email domain names at most one workspace (`sso_domains`), which is how a
-- sign-in that starts from an email address finds its workspace.
CREATE TABLE sso_configs (
    workspace_id BLOB PRIMARY KEY REFERENCES workspaces(id),
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    -- `agent`: someone of an allowed domain without an account joins as an agent; NULL: only
    -- existing teammates sign in.
    join_role TEXT,
    -- Members sign in with the identity provider only (the owner keeps their password).
    sso_only INTEGER NOT NULL DEFAULT 0,
    enabled INTEGER NOT NULL DEFAULT 1,
    updated_at INTEGER NOT NULL
);

CREATE TABLE sso_domains (
    domain TEXT PRIMARY KEY,
    workspace_id BLOB NOT NULL REFERENCES workspaces(id)
);
CREATE INDEX sso_domains_workspace ON sso_domains (workspace_id);

-- A sign-in sent to the identity provider and not back yet: the hash of its `state`, the
-- nonce the ID token must carry and the PKCE verifier. Taken (deleted) by the callback, so a
-- `state` is good once, on whichever instance the browser comes back to.
CREATE TABLE sso_logins (
    state_hash TEXT PRIMARY KEY,
    workspace_id BLOB NOT NULL REFERENCES workspaces(id),
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sso_logins_expires ON sso_logins (expires_at);

-- The owner can require two-factor sign-in for the whole workspace: a member without it may
-- only enrol until they have (browser sessions; API tokens keep working).
ALTER TABLE workspaces ADD COLUMN require_totp BOOLEAN NOT NULL DEFAULT FALSE;

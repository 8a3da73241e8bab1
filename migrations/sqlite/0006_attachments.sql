-- Attachments: files on messages (mail from customers, replies from teammates). The bytes live
-- under the data dir, named by their SHA-256 (`attachments/ab/cdef…`): the same file sent twice
-- is stored once. A row per file on a message; only that workspace's teammates read it. Rows
-- count per workspace (`SUM(size)` by `workspace_id`).
CREATE TABLE attachments (
    id BLOB PRIMARY KEY,
    workspace_id BLOB NOT NULL REFERENCES workspaces(id),
    -- NULL while a teammate's upload waits for the reply it goes with.
    message_id BLOB REFERENCES messages(id),
    uploaded_by BLOB REFERENCES teammates(id),
    sha256 TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);
CREATE INDEX attachments_workspace ON attachments (workspace_id);

-- Attachments: files on messages (mail from customers, replies from teammates). The bytes live
-- under the data dir, named by their SHA-256 (`attachments/ab/cdef…`): the same file sent twice
-- is stored once. A row per file on a message; only that workspace's teammates read it. Rows
-- count per workspace (`SUM(size)` by `workspace_id`).
CREATE TABLE attachments (
    id UUID PRIMARY KEY,
    workspace_id UUID NOT NULL REFERENCES workspaces(id),
    -- NULL while a teammate's upload waits for the reply it goes with.
    message_id UUID REFERENCES messages(id),
    uploaded_by UUID REFERENCES teammates(id),
    sha256 TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);
CREATE INDEX attachments_workspace ON attachments (workspace_id);

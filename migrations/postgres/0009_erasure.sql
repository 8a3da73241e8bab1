-- Erasure and export (docs/design.md, "Export, erasure, backup").
-- When a customer's personal data was erased: their row stays (cases still count, under
-- "Erased customer"), with no name, address or phone left to find them by, and mail that
-- threads onto their old cases starts a new customer instead.
ALTER TABLE customers ADD COLUMN erased_at BIGINT;

-- The export pages through a workspace's messages and timeline in id order.
CREATE INDEX messages_workspace ON messages (workspace_id, id);
CREATE INDEX timeline_workspace ON timeline (workspace_id, id);

-- Reports read the messages and timeline entries of a date range in a workspace.
CREATE INDEX messages_workspace_time ON messages (workspace_id, created_at);
CREATE INDEX timeline_workspace_time ON timeline (workspace_id, created_at);

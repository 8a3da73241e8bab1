-- Routing: away with dates, a limit of open cases per teammate, and the workspace's choices of
-- what happens to an absent owner's cases (see docs/design.md, "Routing").

-- Away from/until (ms since the epoch): away starts and ends by itself, read against the clock.
ALTER TABLE teammates ADD COLUMN away_from INTEGER;
ALTER TABLE teammates ADD COLUMN away_until INTEGER;
-- Open cases this teammate may hold at most (NULL: the workspace default).
ALTER TABLE teammates ADD COLUMN max_open INTEGER;

-- The workspace default limit of open cases (NULL: none).
ALTER TABLE assign_rules ADD COLUMN capacity INTEGER;
-- `keep`, `pool` or `reassign`: an away owner's case when the customer writes.
ALTER TABLE assign_rules ADD COLUMN away_behaviour TEXT NOT NULL DEFAULT 'reassign';
ALTER TABLE assign_rules ADD COLUMN online_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assign_rules ADD COLUMN response_target_minutes INTEGER;
ALTER TABLE assign_rules ADD COLUMN take_back INTEGER NOT NULL DEFAULT 0;
-- JSON `{time_zone, days}` or NULL (around the clock).
ALTER TABLE assign_rules ADD COLUMN business_hours TEXT;

-- Since when a case the rules found nobody for waits (NULL: not waiting). Waiting cases are
-- handed out oldest first when someone has room.
ALTER TABLE cases ADD COLUMN queued_at INTEGER;
CREATE INDEX cases_queue ON cases (workspace_id, queued_at) WHERE queued_at IS NOT NULL;

-- The first-response target: when the customer's wait passes it (NULL: no clock running), and
-- when it did (cleared by a teammate's reply). The timer claims a due row once, under the lock.
ALTER TABLE cases ADD COLUMN response_due_at INTEGER;
ALTER TABLE cases ADD COLUMN breached_at INTEGER;
CREATE INDEX cases_response_due ON cases (response_due_at) WHERE response_due_at IS NOT NULL;

-- Who has a live socket somewhere in the cluster, for `online_only`: each instance renews its
-- connected teammates on its presence heartbeat; a row past `online_until` is offline.
CREATE TABLE online_teammates (
    teammate_id BLOB PRIMARY KEY REFERENCES teammates(id),
    workspace_id BLOB NOT NULL REFERENCES workspaces(id),
    online_until INTEGER NOT NULL
);
CREATE INDEX online_teammates_workspace ON online_teammates (workspace_id, online_until);

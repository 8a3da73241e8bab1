-- Routing: away with dates, a limit of open cases per teammate, and the workspace's choices of
-- what happens to an absent owner's cases (see docs/design.md, "Routing").

-- Away from/until (ms since the epoch): away starts and ends by itself, read against the clock.
ALTER TABLE teammates ADD COLUMN away_from BIGINT;
ALTER TABLE teammates ADD COLUMN away_until BIGINT;
-- Open cases this teammate may hold at most (NULL: the workspace default).
ALTER TABLE teammates ADD COLUMN max_open BIGINT;

-- The workspace default limit of open cases (NULL: none).
ALTER TABLE assign_rules ADD COLUMN capacity BIGINT;
-- `keep`, `pool` or `reassign`: an away owner's case when the customer writes.
ALTER TABLE assign_rules ADD COLUMN away_behaviour TEXT NOT NULL DEFAULT 'reassign';
ALTER TABLE assign_rules ADD COLUMN online_only BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE assign_rules ADD COLUMN response_target_minutes BIGINT;
ALTER TABLE assign_rules ADD COLUMN take_back BOOLEAN NOT NULL DEFAULT FALSE;
-- JSON `{time_zone, days}` or NULL (around the clock).
ALTER TABLE assign_rules ADD COLUMN business_hours TEXT;

-- Since when a case the rules found nobody for waits (NULL: not waiting). Waiting cases are
-- handed out oldest first when someone has room.
ALTER TABLE cases ADD COLUMN queued_at BIGINT;
CREATE INDEX cases_queue ON cases (workspace_id, queued_at) WHERE queued_at IS NOT NULL;

-- The first-response target: when the customer's wait passes it (NULL: no clock running), and
-- when it did (cleared by a teammate's reply). The timer claims a due row once, under the lock.
ALTER TABLE cases ADD COLUMN response_due_at BIGINT;
ALTER TABLE cases ADD COLUMN breached_at BIGINT;
CREATE INDEX cases_response_due ON cases (response_due_at) WHERE response_due_at IS NOT NULL;

-- Who has a live socket somewhere in the cluster, for `online_only`: each instance renews its
-- connected teammates on its presence heartbeat; a row past `online_until` is offline.
CREATE TABLE online_teammates (
    teammate_id UUID PRIMARY KEY REFERENCES teammates(id),
    workspace_id UUID NOT NULL REFERENCES workspaces(id),
    online_until BIGINT NOT NULL
);
CREATE INDEX online_teammates_workspace ON online_teammates (workspace_id, online_until);

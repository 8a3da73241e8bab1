-- The working day: saved replies, tags and snooze (see docs/design.md, "Saved replies, tags,
-- snooze").

-- Saved replies: `owner_id` NULL for the workspace's (admins manage them), else one teammate's
-- own. `body` may hold the variables of `domain::templates`, checked when saved.
CREATE TABLE saved_replies (
    id UUID PRIMARY KEY,
    workspace_id UUID NOT NULL REFERENCES workspaces(id),
    owner_id UUID REFERENCES teammates(id),
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX saved_replies_workspace ON saved_replies (workspace_id, owner_id);

-- Tags: one list per workspace, names unique without regard to case (`name_key` is the
-- lower-cased name). `tags_locked`: only admins add to the list; agents use what is there.
CREATE TABLE tags (
    id UUID PRIMARY KEY,
    workspace_id UUID NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    color TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (workspace_id, name_key)
);
CREATE TABLE case_tags (
    case_id UUID NOT NULL REFERENCES cases(id),
    tag_id UUID NOT NULL REFERENCES tags(id),
    workspace_id UUID NOT NULL REFERENCES workspaces(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (case_id, tag_id)
);
CREATE INDEX case_tags_tag ON case_tags (tag_id, case_id);
ALTER TABLE workspaces ADD COLUMN tags_locked BOOLEAN NOT NULL DEFAULT FALSE;

-- Snooze: the case is out of the Mine/Unassigned/All views until `snoozed_until` (ms), when the
-- clock (claimed once, under the workspace lock) or the customer's next message wakes it.
ALTER TABLE cases ADD COLUMN snoozed_until BIGINT;
ALTER TABLE cases ADD COLUMN snoozed_by UUID;
CREATE INDEX cases_snoozed ON cases (snoozed_until) WHERE snoozed_until IS NOT NULL;

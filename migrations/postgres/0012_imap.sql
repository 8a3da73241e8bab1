-- Reading customer mail from IMAP mailboxes. One row per email channel with `imap` settings:
-- where its mailbox has been read up to (`uid_validity` and the last UID taken, valid only for
-- the `mailbox` it names: host, port, user and folder), and which instance polls it now. An
-- instance holds a channel while `locked_until` is ahead and renews it while it polls, so one
-- instance at a time reads a mailbox; a crashed holder's lease runs out and another takes over.
CREATE TABLE imap_cursors (
    channel_id UUID PRIMARY KEY REFERENCES channels(id) ON DELETE CASCADE,
    mailbox TEXT,
    uid_validity BIGINT NOT NULL DEFAULT 0,
    last_uid BIGINT NOT NULL DEFAULT 0,
    holder TEXT,
    locked_until BIGINT
);

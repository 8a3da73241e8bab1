-- Full-text search over cases: one document per message (customer text, replies, notes) and one
-- per case (its subject and its customer's name, email address and phone number). The triggers
-- below keep the index in the writing transaction, whichever code path writes.
--
-- `search_docs.id` is the FTS rowid: an INTEGER PRIMARY KEY (VACUUM never renumbers it) made of
-- the workspace's number in `search_spaces` (high bits) and a count within the workspace (low 40
-- bits), so a search names its workspace as a rowid range the index seeks to directly, and
-- reads newest first within it. The FTS table is contentless (the text lives in messages, cases
-- and customers); it allows deletes (`contentless_delete`), so a changed or removed text leaves
-- no trace in the index.
CREATE TABLE search_spaces (
    n INTEGER PRIMARY KEY,
    workspace_id BLOB NOT NULL UNIQUE
);
INSERT INTO search_spaces (workspace_id) SELECT id FROM workspaces ORDER BY created_at;

CREATE TABLE search_docs (
    id INTEGER PRIMARY KEY,
    workspace_id BLOB NOT NULL,
    case_id BLOB NOT NULL,
    -- NULL: the case's own document.
    message_id BLOB
);
CREATE UNIQUE INDEX search_docs_message ON search_docs (message_id) WHERE message_id IS NOT NULL;
CREATE UNIQUE INDEX search_docs_case ON search_docs (case_id) WHERE message_id IS NULL;

-- Words are letters and digits, lower-cased, accents removed. `phone` holds every ending of the
-- phone's digits (14155550100 4155550100 … 0100), so any part of a number matches as a prefix.
CREATE VIRTUAL TABLE search_fts USING fts5(
    subject, customer, phone, body,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

-- Positions 1..20 for the endings of a phone number (a trigger cannot hold a recursive query).
CREATE TABLE search_positions (n INTEGER PRIMARY KEY);
INSERT INTO search_positions (n) VALUES
    (1), (2), (3), (4), (5), (6), (7), (8), (9), (10),
    (11), (12), (13), (14), (15), (16), (17), (18), (19), (20);

-- The case documents of one customer's cases, from the current rows.
CREATE VIEW search_case_text AS
SELECT d.id AS doc_id, c.id AS case_id, cu.id AS customer_id,
       COALESCE(c.subject, '') AS subject,
       cu.name || ' ' || COALESCE(cu.email, '') AS customer,
       COALESCE((SELECT group_concat(substr(replace(cu.phone, '+', ''), p.n), ' ')
                 FROM search_positions p
                 WHERE p.n <= length(replace(cu.phone, '+', '')) - 3), '') AS phone
FROM search_docs d JOIN cases c ON c.id = d.case_id JOIN customers cu ON cu.id = c.customer_id
WHERE d.message_id IS NULL;

CREATE TRIGGER search_message_insert AFTER INSERT ON messages BEGIN
    INSERT OR IGNORE INTO search_spaces (workspace_id) VALUES (NEW.workspace_id);
    INSERT INTO search_docs (id, workspace_id, case_id, message_id)
        SELECT COALESCE((SELECT MAX(d.id) FROM search_docs d WHERE d.id BETWEEN s.n * 1099511627776 AND s.n * 1099511627776 + 1099511627775), s.n * 1099511627776) + 1,
               NEW.workspace_id, NEW.case_id, NEW.id
        FROM search_spaces s WHERE s.workspace_id = NEW.workspace_id;
    INSERT INTO search_fts (rowid, subject, customer, phone, body) VALUES (last_insert_rowid(), '', '', '', substr(NEW.body, 1, 100000));
END;

CREATE TRIGGER search_message_update AFTER UPDATE OF body ON messages BEGIN
    DELETE FROM search_fts WHERE rowid = (SELECT id FROM search_docs WHERE message_id = OLD.id);
    INSERT INTO search_fts (rowid, subject, customer, phone, body)
        SELECT id, '', '', '', substr(NEW.body, 1, 100000) FROM search_docs WHERE message_id = NEW.id;
END;

CREATE TRIGGER search_message_delete AFTER DELETE ON messages BEGIN
    DELETE FROM search_fts WHERE rowid = (SELECT id FROM search_docs WHERE message_id = OLD.id);
    DELETE FROM search_docs WHERE message_id = OLD.id;
END;

CREATE TRIGGER search_case_insert AFTER INSERT ON cases BEGIN
    INSERT OR IGNORE INTO search_spaces (workspace_id) VALUES (NEW.workspace_id);
    INSERT INTO search_docs (id, workspace_id, case_id, message_id)
        SELECT COALESCE((SELECT MAX(d.id) FROM search_docs d WHERE d.id BETWEEN s.n * 1099511627776 AND s.n * 1099511627776 + 1099511627775), s.n * 1099511627776) + 1,
               NEW.workspace_id, NEW.id, NULL
        FROM search_spaces s WHERE s.workspace_id = NEW.workspace_id;
    INSERT INTO search_fts (rowid, subject, customer, phone, body)
        SELECT doc_id, subject, customer, phone, '' FROM search_case_text WHERE case_id = NEW.id;
END;

CREATE TRIGGER search_case_update AFTER UPDATE OF subject, customer_id ON cases BEGIN
    DELETE FROM search_fts WHERE rowid = (SELECT id FROM search_docs WHERE case_id = NEW.id AND message_id IS NULL);
    INSERT INTO search_fts (rowid, subject, customer, phone, body)
        SELECT doc_id, subject, customer, phone, '' FROM search_case_text WHERE case_id = NEW.id;
END;

CREATE TRIGGER search_case_delete AFTER DELETE ON cases BEGIN
    DELETE FROM search_fts WHERE rowid IN (SELECT id FROM search_docs WHERE case_id = OLD.id);
    DELETE FROM search_docs WHERE case_id = OLD.id;
END;

CREATE TRIGGER search_customer_update AFTER UPDATE OF name, email, phone ON customers
WHEN OLD.name IS NOT NEW.name OR OLD.email IS NOT NEW.email OR OLD.phone IS NOT NEW.phone BEGIN
    DELETE FROM search_fts WHERE rowid IN (SELECT doc_id FROM search_case_text WHERE customer_id = NEW.id);
    INSERT INTO search_fts (rowid, subject, customer, phone, body)
        SELECT doc_id, subject, customer, phone, '' FROM search_case_text WHERE customer_id = NEW.id;
END;

-- What was written before this migration.
INSERT INTO search_docs (id, workspace_id, case_id, message_id)
    SELECT s.n * 1099511627776 + ROW_NUMBER() OVER (PARTITION BY u.workspace_id ORDER BY u.at, u.message_id IS NOT NULL, u.id),
           u.workspace_id, u.case_id, u.message_id
    FROM (SELECT workspace_id, id AS case_id, NULL AS message_id, created_at AS at, id FROM cases
          UNION ALL
          SELECT workspace_id, case_id, id, created_at, id FROM messages) u
    JOIN search_spaces s ON s.workspace_id = u.workspace_id;
INSERT INTO search_fts (rowid, subject, customer, phone, body)
    SELECT doc_id, subject, customer, phone, '' FROM search_case_text;
INSERT INTO search_fts (rowid, subject, customer, phone, body)
    SELECT d.id, '', '', '', substr(m.body, 1, 100000) FROM search_docs d JOIN messages m ON m.id = d.message_id;

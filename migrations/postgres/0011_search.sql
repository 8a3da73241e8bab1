-- Full-text search over cases: one document per message (customer text, replies, notes) and one
-- per case (its subject and its customer's name, email address and phone number), each with a
-- `tsvector` under a GIN index. The triggers below keep them in the writing transaction,
-- whichever code path writes.
--
-- Words are letters and digits, lower-cased and, where the `unaccent` extension can be created
-- (it ships with Postgres's contrib, in the official images and Debian's packages), with their
-- accents removed. Without it the configuration is `simple` alone: case folds, accents count.

DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS unaccent;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'unaccent is not available: search folds case but not accents';
END
$$;

CREATE TEXT SEARCH CONFIGURATION baton_search (COPY = simple);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'unaccent') THEN
        ALTER TEXT SEARCH CONFIGURATION baton_search
            ALTER MAPPING FOR asciiword, word, numword, asciihword, hword, numhword,
                              hword_asciipart, hword_part, hword_numpart
            WITH unaccent, simple;
    END IF;
END
$$;

-- Punctuation separates words, as in SQLite's unicode61 tokenizer: `alice@example.com` is the
-- words alice, example and com (Postgres's parser would keep it one email token).
CREATE FUNCTION search_words(t TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT translate(COALESCE(left(t, 100000), ''), '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~', repeat(' ', 32))
$$;

-- A case's own document: subject (weight A), customer name and email (B), and every ending of
-- the phone's digits (C: 14155550100 4155550100 … 0100), so any part of a number matches as
-- a prefix.
CREATE FUNCTION search_case_tsv(id UUID) RETURNS tsvector LANGUAGE sql AS $$
    SELECT setweight(to_tsvector('baton_search', search_words(c.subject)), 'A')
        || setweight(to_tsvector('baton_search', search_words(cu.name || ' ' || COALESCE(cu.email, ''))), 'B')
        || setweight(to_tsvector('simple', COALESCE(
               (SELECT string_agg(substr(x.d, n), ' ')
                FROM (SELECT replace(cu.phone, '+', '') AS d) x, generate_series(1, length(x.d) - 3) n),
               '')), 'C')
    FROM cases c JOIN customers cu ON cu.id = c.customer_id
    WHERE c.id = $1
$$;

CREATE FUNCTION search_message_tsv(body TEXT) RETURNS tsvector LANGUAGE sql AS $$
    SELECT setweight(to_tsvector('baton_search', search_words(body)), 'D')
$$;

CREATE TABLE search_docs (
    id BIGSERIAL PRIMARY KEY,
    workspace_id UUID NOT NULL,
    case_id UUID NOT NULL,
    -- NULL: the case's own document.
    message_id UUID,
    tsv tsvector NOT NULL
);
CREATE UNIQUE INDEX search_docs_message ON search_docs (message_id) WHERE message_id IS NOT NULL;
CREATE UNIQUE INDEX search_docs_case ON search_docs (case_id) WHERE message_id IS NULL;
CREATE INDEX search_docs_workspace ON search_docs (workspace_id, id);
CREATE INDEX search_docs_tsv ON search_docs USING GIN (tsv);

CREATE FUNCTION search_message_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO search_docs (workspace_id, case_id, message_id, tsv)
        VALUES (NEW.workspace_id, NEW.case_id, NEW.id, search_message_tsv(NEW.body));
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE search_docs SET tsv = search_message_tsv(NEW.body) WHERE message_id = NEW.id;
    ELSE
        DELETE FROM search_docs WHERE message_id = OLD.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER search_message_insert AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION search_message_changed();
CREATE TRIGGER search_message_update AFTER UPDATE OF body ON messages
    FOR EACH ROW EXECUTE FUNCTION search_message_changed();
CREATE TRIGGER search_message_delete AFTER DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION search_message_changed();

CREATE FUNCTION search_case_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO search_docs (workspace_id, case_id, message_id, tsv)
        VALUES (NEW.workspace_id, NEW.id, NULL, search_case_tsv(NEW.id));
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE search_docs SET tsv = search_case_tsv(NEW.id) WHERE case_id = NEW.id AND message_id IS NULL;
    ELSE
        DELETE FROM search_docs WHERE case_id = OLD.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER search_case_insert AFTER INSERT ON cases
    FOR EACH ROW EXECUTE FUNCTION search_case_changed();
CREATE TRIGGER search_case_update AFTER UPDATE OF subject, customer_id ON cases
    FOR EACH ROW EXECUTE FUNCTION search_case_changed();
CREATE TRIGGER search_case_delete AFTER DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION search_case_changed();

CREATE FUNCTION search_customer_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE search_docs d SET tsv = search_case_tsv(d.case_id)
    FROM cases c
    WHERE c.customer_id = NEW.id AND d.case_id = c.id AND d.message_id IS NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER search_customer_update AFTER UPDATE OF name, email, phone ON customers
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.email IS DISTINCT FROM NEW.email
          OR OLD.phone IS DISTINCT FROM NEW.phone)
    EXECUTE FUNCTION search_customer_changed();

-- What was written before this migration.
INSERT INTO search_docs (workspace_id, case_id, message_id, tsv)
    SELECT workspace_id, id, NULL, search_case_tsv(id) FROM cases;
INSERT INTO search_docs (workspace_id, case_id, message_id, tsv)
    SELECT workspace_id, case_id, id, search_message_tsv(body) FROM messages;

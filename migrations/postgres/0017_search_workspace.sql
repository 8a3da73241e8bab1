-- Search reads one workspace's documents: the GIN index holds the workspace beside the words, so
-- a search's index scan returns that workspace's matches only, and the table is read for those
-- alone rather than for every workspace's (design.md §15).
--
-- A uuid column in a GIN index needs the `btree_gin` extension. It ships with Postgres's contrib
-- (the official images and Debian's packages have it) and is trusted, so the database's owner
-- may create it. Where it cannot be created the index on the words alone stays: search works
-- the same, reading other workspaces' matches and setting them aside.

DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS btree_gin;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'btree_gin is not available: the search index stays on the words alone';
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'btree_gin') THEN
        CREATE INDEX search_docs_words ON search_docs USING GIN (workspace_id, tsv);
        -- A search on the words alone can use the new index too; two would double the cost of
        -- every write.
        DROP INDEX search_docs_tsv;
    END IF;
END
$$;

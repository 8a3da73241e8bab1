-- Prefix indexes for 4, 5 and 6 characters as well as 2 and 3 (design.md §15). The last word of
-- a search is a prefix while it is typed, and FTS5 answers a prefix without an index of its
-- length by merging the complete lists of every word that starts with it, in every workspace,
-- before it returns the first match: for a common word that is most of the index (80 ms and more
-- on a million messages), however few matches are kept. With an index of its length the prefix
-- is one list, read newest first from the workspace's rowid range like any word. Longer
-- prefixes are left to the merge: few words share them. The price is on writes: every word is
-- written to up to three more lists (writing the benchmark's million messages took about half
-- as long again: 114 s instead of 76 s, BENCHMARKS.md).
--
-- FTS5 cannot add a prefix index to a table, so the table is built anew from the documents.
-- (0017 is Postgres's alone.)
DROP TABLE search_fts;

CREATE VIRTUAL TABLE search_fts USING fts5(
    subject, customer, phone, body,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3 4 5 6'
);

INSERT INTO search_fts (rowid, subject, customer, phone, body)
    SELECT doc_id, subject, customer, phone, '' FROM search_case_text;
INSERT INTO search_fts (rowid, subject, customer, phone, body)
    SELECT d.id, '', '', '', substr(m.body, 1, 100000) FROM search_docs d JOIN messages m ON m.id = d.message_id;

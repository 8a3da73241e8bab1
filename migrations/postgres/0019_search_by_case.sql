-- A case's documents by case: a broad search walks the workspace's cases newest first and asks,
-- case by case, whether one of its documents matches (design.md §15), and deleting a case's
-- documents finds them here too. Built in the migration's transaction, like 0017.
CREATE INDEX search_docs_by_case ON search_docs (case_id, id);

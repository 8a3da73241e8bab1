-- Customer history: notes the team keeps about a customer, and merges. A customer merged into
-- another keeps its row as an alias (its name and addresses, so that mail or texts from them
-- still find the customer they were merged into); `merged_into` is never a chain: a merge of
-- the target moves its aliases along.
ALTER TABLE customers ADD COLUMN notes TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN merged_into BLOB;
CREATE INDEX customers_merged ON customers (merged_into) WHERE merged_into IS NOT NULL;

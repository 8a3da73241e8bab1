//! Full-text search over cases: SQLite's FTS5 (`search_fts`) and Postgres's `tsvector`
//! (`search_docs.tsv`), kept by the triggers of migration `0011_search`. Each backend finds and
//! ranks documents (messages, notes, a case's subject and customer) its own way (`BACKEND`); the
//! best document per case ranks the case, and the list's conditions (view, filter, statuses,
//! assignee, channel, dates) narrow the cases exactly as they narrow the list
//! (`push_case_filters`).

use super::*;
use crate::domain::search::{Part, SearchQuery};

/// Characters of a long message shown around its first matched word.
const SNIPPET_WIDTH: usize = 160;

/// Documents ranked per search at most: the newest that match. A search matching more (a word
/// in every tenth message of a big workspace) ranks among these, so its cost stays bounded.
const CANDIDATES: i64 = 2_000;

/// Postgres reads a workspace's newest this many documents first, and from the matches among them
/// chooses how to find the older ones (see `search_cases`).
const SAMPLE: i64 = 1_000;

/// A search matching at least this many of the workspace's newest SAMPLE documents (1%) is
/// broad: its matches are listed newest first rather than ranked. Ranking a word in every
/// hundredth message means little (most documents hold it once, and the newest are what a
/// teammate looks for), and it is what costs: SQLite's bm25 counts every document in the index
/// that holds each word, Postgres reads every match to find the newest. Both databases measure
/// the same documents the same way.
const BROAD: i64 = 10;

/// On Postgres, a broad search walks the workspace's cases newest first, as the case list does,
/// and keeps those with a matching document (`walk_cases`), so it reads about as many cases as
/// the page needs: a word in 1% of the documents is in one case of 17 (six documents each). At
/// most this many cases are walked; a page not filled by then is found by the candidates.
const WALK: i64 = 2_000;

/// On Postgres, what reading one match through the word index costs, in documents (of any
/// workspace) passed by the walk newest first: the matches lie on scattered pages, the walk reads
/// neighbouring ones. Measured with `baton-bench search` (5 to 10).
const SCAN_COST: f64 = 8.0;

impl SqlStore {
    /// The cases whose documents hold every word of `q` (or whose number `q` is), best
    /// match first (or newest first with `Sort::Recent`), each with its snippet.
    pub(super) async fn search_cases(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        prefix: &str,
        q: &str,
        query: &CaseQuery,
    ) -> Result<Vec<Case>> {
        let words = SearchQuery::parse(q);
        let number = numbers::parse_query(prefix, q);
        // A case number finds that case, or phones holding those digits: not every
        // message that mentions the number.
        let (text, column, weight) = match number {
            Some(_) => (words.numbers_only(), Some("phone"), Some('C')),
            None => (words.clone(), None, None),
        };
        if text.is_empty() && number.is_none() {
            return Ok(Vec::new());
        }
        if BACKEND == Backend::Postgres
            && number.is_none()
            && self.is_broad(workspace_id, &text).await?
        {
            let rows = self.walk_cases(workspace_id, viewer, &text, query).await?;
            if rows.len() as i64 >= query.limit
                || self.walk_is_whole(workspace_id, viewer, query).await?
            {
                return self.with_matches(&words, &rows).await;
            }
        }
        let mut qb = QueryBuilder::<Db>::new("WITH ");
        // Ranked only when the order asks for it and the search is not broad (BROAD,
        // `score_sql`).
        let ranked = query.sort == Sort::Relevance;
        // `hits`: the candidates as (case_id, doc_id, score), higher scores better;
        // `best`: the best document of each case, the newest of equals (so an unranked
        // search shows a case's latest match).
        match (text.is_empty(), BACKEND) {
            (true, _) => {}
            (false, Backend::Sqlite) => {
                // The workspace is a rowid range (see migration 0011), read newest
                // first. `sample` counts the matches among its newest SAMPLE documents
                // (up to BROAD). FTS5 computes bm25 only while it scans its own table,
                // so the scan is materialized before the grouping reads it; the CASE
                // leaves bm25 uncalled for a broad search, and with it bm25's count of
                // every document holding each word. bm25 weighs subject 10, customer 4,
                // phone 2, text 1, as Postgres's weights A, B, C, D.
                let fts = text.fts5(column);
                qb.push(
                    "span AS MATERIALIZED (SELECT n * 1099511627776 AS lo, \
                     n * 1099511627776 + 1099511627775 AS hi FROM search_spaces \
                     WHERE workspace_id = ",
                )
                .push_bind(workspace_id)
                .push("), ");
                if ranked {
                    qb.push(
                        "sample AS MATERIALIZED (SELECT count(*) AS m FROM \
                         (SELECT rowid FROM search_fts WHERE search_fts MATCH ",
                    )
                    .push_bind(fts.clone())
                    .push(format!(
                        " AND rowid BETWEEN COALESCE((SELECT id FROM search_docs WHERE \
                         id BETWEEN (SELECT lo FROM span) AND (SELECT hi FROM span) \
                         ORDER BY id DESC LIMIT 1 OFFSET {}), (SELECT lo FROM span)) \
                         AND (SELECT hi FROM span) ORDER BY rowid DESC LIMIT {BROAD})), ",
                        SAMPLE - 1
                    ));
                }
                let score = score_sql(ranked, "-bm25(search_fts, 10.0, 4.0, 2.0, 1.0)");
                qb.push(format!(
                    "hits AS MATERIALIZED (SELECT d.case_id, d.id AS doc_id, f.score FROM \
                     (SELECT rowid, {score} AS score FROM search_fts WHERE search_fts MATCH "
                ))
                .push_bind(fts)
                .push(
                    " AND rowid BETWEEN (SELECT lo FROM span) AND (SELECT hi FROM span) \
                     ORDER BY rowid DESC LIMIT ",
                )
                .push_bind(CANDIDATES)
                .push(") f JOIN search_docs d ON d.id = f.rowid WHERE d.workspace_id = ")
                .push_bind(workspace_id)
                .push(
                    "), best AS (SELECT case_id, score, doc_id FROM \
                     (SELECT case_id, score, doc_id, row_number() OVER \
                     (PARTITION BY case_id ORDER BY score DESC, doc_id DESC) AS r FROM hits) b \
                     WHERE r = 1), ",
                );
            }
            (false, Backend::Postgres) => {
                // The GIN index has no order, and reading every match of a common word
                // to keep the newest CANDIDATES costs as many reads as it has matches;
                // walking the workspace's documents newest first costs as many as it
                // passes. Which is cheaper depends on how common the words are, which
                // the planner guesses badly (a prefix of a word it has no statistics
                // for), so the query measures it: `recent` holds the workspace's newest
                // SAMPLE documents, `sample` counts the matches among them, and `way`
                // picks from that count how to find the older ones:
                // - walk on, newest first, when that passes fewer documents (ids, of
                //   every workspace) than SCAN_COST times the workspace's older
                //   matches, both estimated from the sample's share of matches and its
                //   span of ids; the walk stops at `lo`, twice the distance the share
                //   says it needs, so a word common lately and rare before does not
                //   walk the whole workspace;
                // - then, below `lo`, the index on (workspace, words), newest first.
                // The three branches run in turn, each only while fewer than
                // CANDIDATES were found, and carry the document's vector along, so
                // ts_rank (normalised by the document's length, option 1, like bm25)
                // reads no row twice. The tsquery is parsed once, in `query`.
                qb.push("query AS MATERIALIZED (SELECT to_tsquery('baton_search', ")
                    .push_bind(text.tsquery(weight))
                    .push(") AS q), ");
                qb.push(
                    "recent AS MATERIALIZED (SELECT id, case_id, tsv FROM search_docs \
                     WHERE workspace_id = ",
                )
                .push_bind(workspace_id)
                .push(format!(" ORDER BY id DESC LIMIT {SAMPLE}), "));
                qb.push(
                    "sample AS MATERIALIZED (SELECT count(*) AS n, MIN(id) AS floor, \
                     MAX(id) - MIN(id) + 1 AS span, \
                     count(*) FILTER (WHERE tsv @@ (SELECT q FROM query)) AS m FROM recent), ",
                );
                qb.push(format!(
                    "way AS MATERIALIZED (SELECT floor, n < {SAMPLE} OR m >= {CANDIDATES} AS done, \
                     CASE WHEN m > 0 AND CAST({CANDIDATES} - m AS DOUBLE PRECISION) * span * span \
                     < {SCAN_COST:.1} * m * m * (floor - 1) \
                     THEN GREATEST(floor - CAST(2.0 * ({CANDIDATES} - m) / m * span AS BIGINT), \
                     0) ELSE floor END AS lo FROM sample), "
                ));
                qb.push(format!(
                    "docs AS ((SELECT id, case_id, tsv FROM recent \
                     WHERE tsv @@ (SELECT q FROM query) ORDER BY id DESC LIMIT {CANDIDATES}) \
                     UNION ALL "
                ));
                // The walk: OFFSET 0 keeps the words out of the scan, so it is the
                // index on ids read backwards, whatever the planner guesses.
                qb.push(
                    "(SELECT s.id, s.case_id, s.tsv FROM \
                     (SELECT id, case_id, tsv FROM search_docs WHERE workspace_id = ",
                )
                .push_bind(workspace_id)
                .push(format!(
                    " AND id < (SELECT floor FROM way) AND id >= (SELECT lo FROM way) \
                     ORDER BY id DESC OFFSET 0) s WHERE s.tsv @@ (SELECT q FROM query) \
                     LIMIT {CANDIDATES}) UNION ALL "
                ));
                // The index: `id + 0` keeps the ids out of it (no bitmap of a range).
                qb.push(
                    "(SELECT id, case_id, tsv FROM search_docs \
                     WHERE (SELECT NOT done FROM way) AND workspace_id = ",
                )
                .push_bind(workspace_id)
                .push(format!(
                    " AND id + 0 < (SELECT lo FROM way) AND tsv @@ (SELECT q FROM query) \
                     ORDER BY id + 0 DESC LIMIT {CANDIDATES}) LIMIT {CANDIDATES}), "
                ));
                let score = score_sql(ranked, "ts_rank(tsv, (SELECT q FROM query), 1)");
                qb.push(format!(
                    "hits AS (SELECT case_id, id AS doc_id, \
                     CAST({score} AS DOUBLE PRECISION) AS score FROM docs), "
                ))
                .push(
                    "best AS (SELECT DISTINCT ON (case_id) case_id, score, doc_id FROM hits \
                     ORDER BY case_id, score DESC, doc_id DESC), ",
                );
            }
        }
        qb.push("found AS (SELECT case_id, MAX(score) AS score, MIN(doc_id) AS doc_id FROM (");
        if !text.is_empty() {
            qb.push("SELECT case_id, score, doc_id FROM best");
        }
        if let Some(n) = number {
            if !text.is_empty() {
                qb.push(" UNION ALL ");
            }
            // A number match ranks above any text match.
            qb.push(
                "SELECT id AS case_id, CAST(1e9 AS DOUBLE PRECISION) AS score, \
                 CAST(NULL AS BIGINT) AS doc_id FROM cases WHERE workspace_id = ",
            )
            .push_bind(workspace_id)
            .push(" AND number = ")
            .push_bind(n);
        }
        qb.push(") u GROUP BY case_id), ");
        // `ranked`: the page, chosen with only the columns the conditions need; the
        // case rows are read for the page alone.
        // Postgres reads each found case by its key (a lateral subquery); joined plainly it
        // would rather read every case of the workspace and hash them.
        let lateral = BACKEND == Backend::Postgres;
        // Ranked on Postgres, the found cases are read best first, so the page's sort stops
        // reading them once the page is full and the scores after it are lower (an incremental
        // sort on the score): a word in 2,000 documents reads the 30 or so best cases, not 2,000.
        qb.push(
            "ranked AS (SELECT found.case_id, found.score, found.doc_id, c.last_message_at \
             FROM ",
        );
        qb.push(match lateral && query.sort == Sort::Relevance {
            true => "(SELECT * FROM found ORDER BY score DESC) found ",
            false => "found ",
        });
        qb.push(match lateral {
            true => "CROSS JOIN LATERAL (SELECT c.id, c.last_message_at FROM cases c ",
            false => "JOIN cases c ON c.id = found.case_id ",
        });
        qb.push("LEFT JOIN reads r ON r.case_id = c.id AND r.teammate_id = ")
            .push_bind(viewer);
        push_case_filters(&mut qb, workspace_id, viewer, query);
        let order = match query.sort {
            Sort::Relevance => " ORDER BY score DESC, last_message_at DESC, case_id DESC",
            Sort::Recent => " ORDER BY last_message_at DESC, case_id DESC",
        };
        if query.sort == Sort::Recent {
            if let Some(after) = query.after {
                push_after(&mut qb, after);
            }
        }
        if lateral {
            qb.push(" AND c.id = found.case_id LIMIT 1) c");
        }
        qb.push(
            order
                .replace("score", "found.score")
                .replace("last_message_at", "c.last_message_at")
                .replace("case_id", "c.id"),
        );
        qb.push(" LIMIT ");
        push_page(&mut qb, query, viewer, "ranked");
        qb.push(
            order
                .replace("score", "ranked.score")
                .replace("last_message_at", "ranked.last_message_at")
                .replace("case_id", "ranked.case_id"),
        );
        let rows = qb.build().fetch_all(&self.read).await?;
        self.with_matches(&words, &rows).await
    }

    /// The cases of a search's rows (each with its best document's id as `search_doc`), with
    /// where each matched.
    async fn with_matches(&self, words: &SearchQuery, rows: &[DbRow]) -> Result<Vec<Case>> {
        let mut cases = Vec::with_capacity(rows.len());
        let mut docs = Vec::new();
        for row in rows {
            let doc: Option<i64> = row.try_get("search_doc")?;
            docs.extend(doc);
            cases.push((case_from_row(row)?, doc));
        }
        let texts = self.search_texts(&docs).await?;
        Ok(cases
            .into_iter()
            .map(|(mut case, doc)| {
                case.search = Some(search_match(words, &case, doc.and_then(|d| texts.get(&d))));
                case
            })
            .collect())
    }

    /// Postgres: whether `text` is broad (BROAD), from the workspace's newest SAMPLE documents,
    /// as the candidates' `sample` counts them.
    async fn is_broad(&self, workspace_id: WorkspaceId, text: &SearchQuery) -> Result<bool> {
        let matches: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM (SELECT tsv FROM search_docs WHERE workspace_id = $1 \
             ORDER BY id DESC LIMIT {SAMPLE}) s WHERE tsv @@ to_tsquery('baton_search', $2)"
        ))
        .bind(workspace_id)
        .bind(text.tsquery(None))
        .fetch_one(&self.read)
        .await?;
        Ok(matches >= BROAD)
    }

    /// Postgres, a broad search: the workspace's cases in the list's order (newest activity
    /// first, on the list's own index, under the list's conditions and cursor), each kept when
    /// one of its documents matches (`search_docs_by_case`, migration 0019), its newest
    /// matching document being its snippet. It stops when the page is full, or after WALK
    /// cases.
    async fn walk_cases(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        text: &SearchQuery,
        query: &CaseQuery,
    ) -> Result<Vec<DbRow>> {
        let mut qb = QueryBuilder::<Db>::new(
            "WITH query AS MATERIALIZED (SELECT to_tsquery('baton_search', ",
        );
        qb.push_bind(text.tsquery(None)).push(") AS q), ");
        qb.push(
            "walked AS (SELECT c.id AS case_id, c.last_message_at, m.doc AS doc_id FROM (SELECT ",
        );
        push_walked(&mut qb, workspace_id, viewer, query);
        qb.push(format!(
            "{WALK}) c \
             CROSS JOIN LATERAL (SELECT max(d.id) AS doc FROM search_docs d \
             WHERE d.case_id = c.id AND d.tsv @@ (SELECT q FROM query)) m \
             WHERE m.doc IS NOT NULL ORDER BY c.last_message_at DESC, c.id DESC LIMIT "
        ));
        push_page(&mut qb, query, viewer, "walked");
        qb.push(" ORDER BY walked.last_message_at DESC, walked.case_id DESC");
        Ok(qb.build().fetch_all(&self.read).await?)
    }

    /// Whether the walk of a search read every case the list holds (at most WALK), so that a
    /// page it left short is the whole answer.
    async fn walk_is_whole(
        &self,
        workspace_id: WorkspaceId,
        viewer: TeammateId,
        query: &CaseQuery,
    ) -> Result<bool> {
        let mut qb = QueryBuilder::<Db>::new("SELECT count(*) FROM (SELECT ");
        push_walked(&mut qb, workspace_id, viewer, query);
        qb.push(format!("{}) s", WALK + 1));
        let cases: i64 = qb.build_query_scalar().fetch_one(&self.read).await?;
        Ok(cases <= WALK)
    }

    /// The message or note behind each document id that is one (`(message_id, kind,
    /// body)`); a case's own document is absent (its text is on the case).
    async fn search_texts(
        &self,
        docs: &[i64],
    ) -> Result<std::collections::HashMap<i64, (MessageId, MessageKind, String)>> {
        let mut texts = std::collections::HashMap::new();
        if docs.is_empty() {
            return Ok(texts);
        }
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT d.id, m.id AS message_id, m.kind, m.body FROM search_docs d JOIN messages m \
             ON m.id = d.message_id WHERE d.id IN (",
        );
        let mut list = qb.separated(", ");
        for d in docs {
            list.push_bind(*d);
        }
        qb.push(")");
        for row in qb.build().fetch_all(&self.read).await? {
            texts.insert(
                row.try_get("id")?,
                (
                    row.try_get("message_id")?,
                    parse_message_kind(&row.try_get::<String, _>("kind")?)?,
                    row.try_get("body")?,
                ),
            );
        }
        Ok(texts)
    }
}

/// The cases a broad search walks, after `SELECT `: the list's, in its order, up to `LIMIT`
/// (the caller writes how many).
fn push_walked(
    qb: &mut QueryBuilder<'_, Db>,
    workspace_id: WorkspaceId,
    viewer: TeammateId,
    query: &CaseQuery,
) {
    qb.push(
        "c.id, c.last_message_at FROM cases c \
         LEFT JOIN reads r ON r.case_id = c.id AND r.teammate_id = ",
    )
    .push_bind(viewer);
    push_case_filters(qb, workspace_id, viewer, query);
    if let (Sort::Recent, Some(after)) = (query.sort, query.after) {
        push_after(qb, after);
    }
    qb.push(" ORDER BY c.last_message_at DESC, c.id DESC LIMIT ");
}

/// Ends a search's page (`page`, a CTE of `case_id`, `doc_id`…, written up to its `LIMIT`) with
/// its size and, on a ranked page, its offset, then selects its cases in full, each with its
/// snippet's document as `search_doc`.
fn push_page(qb: &mut QueryBuilder<'_, Db>, query: &CaseQuery, viewer: TeammateId, page: &str) {
    qb.push_bind(query.limit);
    if query.sort == Sort::Relevance {
        qb.push(" OFFSET ").push_bind(query.offset);
    }
    qb.push(") ");
    let select = CASE_SELECT
        .replacen(
            " FROM cases c ",
            &format!(
                ", {page}.doc_id AS search_doc FROM {page} JOIN cases c ON c.id = {page}.case_id "
            ),
            1,
        )
        .replace("$1", "");
    qb.push(select.trim_end()).push_bind(viewer);
}

/// A candidate's score: `rank` (the engine's, higher better) when the order is by relevance and
/// the search is not broad (the `sample` CTE found fewer than BROAD matches), else 0 for every
/// match, so the cases follow their last activity.
fn score_sql(ranked: bool, rank: &str) -> String {
    match ranked {
        true => format!("CASE WHEN (SELECT m FROM sample) >= {BROAD} THEN 0.0 ELSE {rank} END"),
        false => "0.0".to_string(),
    }
}

/// Where `case` matched: the message or note of its best document with the words marked, else
/// the first of its own fields (subject, name, email, phone) that holds a matched word, else its
/// number (the search named it).
fn search_match(
    words: &SearchQuery,
    case: &Case,
    message: Option<&(MessageId, MessageKind, String)>,
) -> SearchMatch {
    if let Some((id, kind, body)) = message {
        let snippet = words.snippet(body, SNIPPET_WIDTH).unwrap_or_else(|| {
            vec![Part {
                text: body.chars().take(SNIPPET_WIDTH).collect(),
                mark: false,
            }]
        });
        let field = match kind {
            MessageKind::Note => SearchField::Note,
            MessageKind::Inbound | MessageKind::Automated | MessageKind::Reply => {
                SearchField::Message
            }
        };
        return SearchMatch {
            field,
            message_id: Some(*id),
            snippet,
        };
    }
    let own = |field: SearchField, snippet: Vec<Part>| SearchMatch {
        field,
        message_id: None,
        snippet,
    };
    // The field holding the most matched words (the first of equals): `marcus@shop.example`
    // matched the email even though the name holds `marcus` too.
    let fields = [
        (SearchField::Subject, case.subject.as_deref()),
        (SearchField::Customer, Some(case.customer.name.as_str())),
        (SearchField::Email, case.customer.email.as_deref()),
    ];
    let best = fields
        .into_iter()
        .filter_map(|(field, text)| Some((field, words.snippet(text?, SNIPPET_WIDTH)?)))
        .fold(
            None::<(SearchField, Vec<Part>, usize)>,
            |best, (field, snippet)| {
                let marks = snippet.iter().filter(|p| p.mark).count();
                match best {
                    Some(b) if b.2 >= marks => Some(b),
                    _ => Some((field, snippet, marks)),
                }
            },
        );
    if let Some((field, snippet, _)) = best {
        return own(field, snippet);
    }
    if let Some(phone) = case.customer.phone.as_deref() {
        let parts = words.highlight_phone(phone);
        if parts.iter().any(|p| p.mark) {
            return own(SearchField::Phone, parts);
        }
    }
    own(
        SearchField::Number,
        vec![Part {
            text: case.number.clone(),
            mark: true,
        }],
    )
}

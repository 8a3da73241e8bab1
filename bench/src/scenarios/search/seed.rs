//! The history `search` runs over, written straight into the database: customers, cases and
//! messages in multi-row INSERTs, with words from a made-up vocabulary whose frequencies are
//! skewed, so that queries can ask for common, middling and rare words.

use anyhow::Result;
use rand::{Rng, SeedableRng};

use crate::accounts::Workspace;
use crate::cli::SearchArgs;
use crate::host::mono_ns;

/// Made-up words from syllables: a vocabulary whose frequencies the seeding skews, so that
/// queries can ask for common, middling and rare words.
pub fn vocabulary() -> Vec<String> {
    const SYL: [&str; 24] = [
        "ka", "lo", "mi", "ren", "to", "sa", "vel", "di", "no", "ga", "pe", "ru", "zan", "fi",
        "bo", "tel", "ma", "qui", "sor", "le", "du", "ni", "ho", "bra",
    ];
    let mut words = Vec::new();
    for a in SYL {
        for b in SYL {
            for c in ["", "n", "s", "ta", "ro"] {
                words.push(format!("{a}{b}{c}"));
            }
        }
    }
    words
}

/// A word index skewed towards the start of the vocabulary (a few words are very common).
fn skewed(rng: &mut impl Rng, n: usize) -> usize {
    let u: f64 = rng.gen();
    ((u.powf(3.0)) * n as f64) as usize % n
}

const FIRST: [&str; 16] = [
    "Élodie", "Marcus", "Amara", "Jonas", "Priya", "Tomás", "Ingrid", "Kofi", "Mei", "Rafael",
    "Sofia", "Oskar", "Lena", "Yusuf", "Clara", "Dmitri",
];

const LAST: [&str; 16] = [
    "Durand", "Lee", "Okafor", "Berg", "Nair", "García", "Holm", "Mensah", "Wang", "Costa",
    "Rossi", "Novak", "Weber", "Demir", "Martin", "Ivanov",
];

/// The customer of seeded case `i`: name, email, phone (digits only after `+`).
pub fn bench_customer(i: usize) -> (String, String, String) {
    let (f, l) = (FIRST[i % 16], LAST[(i / 16) % 16]);
    let email = format!("{}.{}.{i}@example.com", f.to_lowercase(), l.to_lowercase());
    (
        format!("{f} {l}"),
        email,
        format!("+1415{:07}", i % 10_000_000),
    )
}

fn uuid_literal(postgres: bool, id: uuid::Uuid) -> String {
    match postgres {
        true => format!("'{id}'"),
        false => format!("X'{}'", id.simple()),
    }
}

enum Db {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Db {
    async fn run(&mut self, sql: &str) -> Result<()> {
        match self {
            Db::Sqlite(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
            Db::Postgres(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
        }
        .map_err(Into::into)
    }
}

/// Writes `a.messages` messages (customers, cases, messages; `per_case` messages each) into the
/// workspaces with multi-row INSERTs, 20,000 messages per transaction. The search index is
/// written by the same triggers as for every other write.
pub async fn seed_search(
    a: &SearchArgs,
    db_url: &str,
    workspaces: &[Workspace],
    words: &[String],
) -> Result<usize> {
    use sqlx::Connection;
    let postgres = db_url.starts_with("postgres");
    let mut db = match postgres {
        true => Db::Postgres(sqlx::PgConnection::connect(db_url).await?),
        false => Db::Sqlite(sqlx::SqliteConnection::connect(db_url).await?),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let cases = a.messages.div_ceil(a.per_case.max(1));
    let per_tx = (20_000 / a.per_case.max(1)).max(1);
    let statuses = [
        "needs_reply",
        "awaiting_customer",
        "on_hold",
        "won",
        "archived",
    ];
    let started = mono_ns();
    let now = chrono::Utc::now().timestamp_millis();
    let mut numbers = vec![0usize; workspaces.len()];
    let mut written = 0;
    for first in (0..cases).step_by(per_tx) {
        let (mut customers, mut case_rows, mut messages) = (vec![], vec![], vec![]);
        for i in first..(first + per_tx).min(cases) {
            let w = i % workspaces.len();
            numbers[w] += 1;
            let ws = uuid_literal(postgres, workspaces[w].id.parse()?);
            let (customer_id, case_id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
            let (name, email, phone) = bench_customer(i);
            let at = now - ((cases - i) as i64) * 60_000;
            let cu = uuid_literal(postgres, customer_id);
            customers.push(format!(
                "({cu}, {ws}, '{name}', '{email}', '{phone}', {at})"
            ));
            let subject = (0..3)
                .map(|_| words[skewed(&mut rng, words.len())].as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let status = statuses[i % statuses.len()];
            let c = uuid_literal(postgres, case_id);
            let no = if postgres { "FALSE" } else { "0" };
            case_rows.push(format!(
                "({c}, {ws}, {}, '{status}', NULL, 1, NULL, '{subject}', {cu}, {no}, '{subject}', {at}, {at}, {})",
                numbers[w], a.per_case
            ));
            for k in 0..a.per_case {
                let len = rng.gen_range(8..40);
                let body = (0..len)
                    .map(|_| words[skewed(&mut rng, words.len())].as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let kind = ["inbound", "reply", "note"][k % 3];
                let m = uuid_literal(postgres, uuid::Uuid::now_v7());
                messages.push(format!(
                    "({m}, {ws}, {c}, '{kind}', 'email', '{body}', {})",
                    at + k as i64
                ));
            }
        }
        let mut sql = String::from("BEGIN;\n");
        sql += &format!(
            "INSERT INTO customers (id, workspace_id, name, email, phone, created_at) VALUES {};\n",
            customers.join(", ")
        );
        sql += &format!("INSERT INTO cases (id, workspace_id, number, status, assignee_id, version, category, subject, customer_id, returning_customer, preview, created_at, last_message_at, inbound_count) VALUES {};\n", case_rows.join(", "));
        for chunk in messages.chunks(2_000) {
            sql += &format!("INSERT INTO messages (id, workspace_id, case_id, kind, channel, body, created_at) VALUES {};\n", chunk.join(", "));
        }
        sql += "COMMIT;";
        db.run(&sql).await?;
        written += messages.len();
        eprint!("\rseeded {written} messages");
    }
    for (w, n) in workspaces.iter().zip(&numbers) {
        let ws = uuid_literal(postgres, w.id.parse()?);
        db.run(&format!(
            "UPDATE workspaces SET last_case_number = {n} WHERE id = {ws}"
        ))
        .await?;
    }
    db.run("ANALYZE").await?;
    eprintln!(" in {:.0} s", (mono_ns() - started) as f64 / 1e9);
    Ok(written)
}

//! `isolation.table`: its rows read, written back in its own layout, and compared.

use std::collections::BTreeMap;

pub(super) const TABLE: &str = include_str!("../isolation.table");

/// One expectation: action, role, scope → status.
pub(super) type Rows = Vec<(String, String, String, String)>;

pub(super) fn parse_table(text: &str) -> Rows {
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            assert!(
                words.len() >= 5,
                "isolation.table: a row needs method, path, role, scope and status: {l}"
            );
            let n = words.len();
            (
                words[..n - 3].join(" "),
                words[n - 3].into(),
                words[n - 2].into(),
                words[n - 1].into(),
            )
        })
        .collect()
}

pub(super) fn render(rows: &Rows) -> String {
    let header: String = TABLE
        .lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let mut out = header.trim_end().to_string();
    out.push('\n');
    let mut last = "";
    for (action, role, scope, status) in rows {
        if action != last {
            out.push('\n');
            last = action;
        }
        out.push_str(&format!("{action:<60} {role:<8} {scope:<6} {status}\n"));
    }
    out
}

/// Rows whose status differs, and rows only one side has, in table order.
pub(super) fn diff(expected: &Rows, actual: &Rows) -> Vec<String> {
    let key = |r: &(String, String, String, String)| (r.0.clone(), r.1.clone(), r.2.clone());
    let exp: BTreeMap<_, _> = expected.iter().map(|r| (key(r), r.3.clone())).collect();
    let act: BTreeMap<_, _> = actual.iter().map(|r| (key(r), r.3.clone())).collect();
    let line = |(a, r, s): &(String, String, String), status: &str| {
        format!("{a:<60} {r:<8} {s:<6} {status}")
    };
    let mut out = vec![];
    for row in actual {
        let k = key(row);
        match exp.get(&k) {
            Some(e) if *e == row.3 => {}
            Some(e) => {
                out.push(format!("- {}", line(&k, e)));
                out.push(format!("+ {}", line(&k, &row.3)));
            }
            None => out.push(format!("+ {}", line(&k, &row.3))),
        }
    }
    for row in expected {
        let k = key(row);
        if !act.contains_key(&k) {
            out.push(format!(
                "- {}   (no such route or row any more)",
                line(&k, &row.3)
            ));
        }
    }
    out
}

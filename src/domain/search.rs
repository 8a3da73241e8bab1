//! Full-text search: what a search box string means, and which words of a result it matched.
//!
//! Both databases index words the same way (letters and digits, case and accents folded); this
//! module turns the user's text into the terms they look for, writes them in each engine's query
//! language, and marks the matched words in the text shown back, so that SQLite and Postgres
//! highlight exactly the same words.

use serde::{Deserialize, Serialize};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use utoipa::ToSchema;

/// More words than this add nothing but cost.
const MAX_TERMS: usize = 12;
/// A run of digit groups with at least this many digits is a phone number, however written.
const PHONE_DIGITS: usize = 7;
/// Characters that may separate the digit groups of a phone number.
const PHONE_SEPARATORS: &[char] = &[' ', '-', '.', '(', ')', '/', '+'];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Folded: lower case, no accents; only letters and digits.
    pub text: String,
    /// Matches every word that starts with `text` (the word being typed, or digits).
    pub prefix: bool,
}

impl Term {
    fn digits(&self) -> bool {
        self.text.bytes().all(|b| b.is_ascii_digit())
    }
}

/// The words of a search, all of which one document (a message, a note, or the case's subject
/// and customer) must contain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub terms: Vec<Term>,
}

/// Lower case without accents: `Élodie` and `elodie` are one word.
pub fn fold(word: &str) -> String {
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The words of `text` with their byte ranges: runs of letters and digits (with the accents
/// written as separate combining marks).
fn words(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let in_word = c.is_alphanumeric() || (start.is_some() && is_combining_mark(c));
        match (in_word, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl SearchQuery {
    /// Words of letters and digits; digit groups written as one phone number (`+1 (415)
    /// 555-0100`) become one number (`14155550100`). The last word, and any number, match as a
    /// prefix: the user may still be typing it, and a number may be the end of a longer one.
    pub fn parse(q: &str) -> SearchQuery {
        let spans = words(q);
        let mut terms: Vec<Term> = Vec::new();
        let mut i = 0;
        while i < spans.len() {
            let (s, e) = spans[i];
            let mut end = i;
            let mut digits = q[s..e].to_string();
            if all_digits(&digits) {
                // Join the following digit groups while only phone separators lie between.
                while end + 1 < spans.len() {
                    let (ns, ne) = spans[end + 1];
                    let gap = &q[spans[end].1..ns];
                    if !all_digits(&q[ns..ne])
                        || !gap.chars().all(|c| PHONE_SEPARATORS.contains(&c))
                    {
                        break;
                    }
                    digits.push_str(&q[ns..ne]);
                    end += 1;
                }
                if end > i && digits.len() < PHONE_DIGITS {
                    end = i;
                    digits = q[s..e].to_string();
                }
            }
            let text = if end > i { digits } else { fold(&q[s..e]) };
            if !terms.iter().any(|t| t.text == text) {
                terms.push(Term {
                    text,
                    prefix: false,
                });
            }
            i = end + 1;
        }
        terms.truncate(MAX_TERMS);
        let typing = !q.ends_with(char::is_whitespace);
        let last = terms.len().saturating_sub(1);
        // One letter or two digits as a prefix would touch a good part of the index for
        // nothing a user could scan.
        for (n, t) in terms.iter_mut().enumerate() {
            let long = t.text.chars().count() >= if t.digits() { 3 } else { 2 };
            t.prefix = long && (t.digits() || (typing && n == last));
        }
        SearchQuery { terms }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The SQLite FTS5 query: every term, each quoted (terms hold only letters and digits, so
    /// nothing in them is FTS5 syntax), `*` for a prefix. `column` limits it to one column.
    pub fn fts5(&self, column: Option<&str>) -> String {
        let terms: Vec<String> = self
            .terms
            .iter()
            .map(|t| format!("\"{}\"{}", t.text, if t.prefix { "*" } else { "" }))
            .collect();
        match column {
            Some(c) => format!("{c} : ({})", terms.join(" ")),
            None => terms.join(" "),
        }
    }

    /// The Postgres `to_tsquery` text: every term, `:*` for a prefix; `weight` limits it to
    /// the parts of the document written with that weight.
    pub fn tsquery(&self, weight: Option<char>) -> String {
        self.terms
            .iter()
            .map(|t| {
                let mut s = format!("'{}'", t.text);
                if t.prefix || weight.is_some() {
                    s.push(':');
                }
                if t.prefix {
                    s.push('*');
                }
                if let Some(w) = weight {
                    s.push(w);
                }
                s
            })
            .collect::<Vec<_>>()
            .join(" & ")
    }

    /// Only the numbers, for a search that is also a case number: `123` finds case 123 and the
    /// customers whose phone holds 123, not every message with `123` in it.
    pub fn numbers_only(&self) -> SearchQuery {
        SearchQuery {
            terms: self.terms.iter().filter(|t| t.digits()).cloned().collect(),
        }
    }

    fn matches(&self, word: &str) -> bool {
        let w = fold(word);
        self.terms.iter().any(|t| {
            if t.prefix {
                w.starts_with(&t.text)
            } else {
                w == t.text
            }
        })
    }

    /// `text` cut into parts, the words this search matched marked.
    pub fn highlight(&self, text: &str) -> Vec<Part> {
        let mut parts = Vec::new();
        let mut at = 0;
        for (s, e) in words(text) {
            if self.matches(&text[s..e]) {
                push_part(&mut parts, &text[at..s], false);
                push_part(&mut parts, &text[s..e], true);
                at = e;
            }
        }
        push_part(&mut parts, &text[at..], false);
        parts
    }

    /// A phone number is marked whole when its digits hold a number of the search.
    pub fn highlight_phone(&self, phone: &str) -> Vec<Part> {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        let hit = self
            .terms
            .iter()
            .any(|t| t.digits() && digits.contains(&t.text));
        vec![Part {
            text: phone.to_string(),
            mark: hit,
        }]
    }

    /// About `width` characters of `text` around its first matched word, marked; `None` when
    /// no word of it matched. Cut ends carry `…`.
    pub fn snippet(&self, text: &str, width: usize) -> Option<Vec<Part>> {
        let spans = words(text);
        let first = spans.iter().find(|(s, e)| self.matches(&text[*s..*e]))?;
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let at = chars.partition_point(|(i, _)| *i < first.0);
        // Start a third of the width before the match, at the start of a word.
        let mut from = at.saturating_sub(width / 3);
        if from > 0 {
            while from < at && chars[from - 1].1.is_alphanumeric() {
                from += 1;
            }
        }
        let mut to = (from + width).min(chars.len());
        if to < chars.len() {
            while to > at + 1 && chars[to].1.is_alphanumeric() {
                to -= 1;
            }
        }
        let byte = |i: usize| chars.get(i).map_or(text.len(), |c| c.0);
        let window = text[byte(from)..byte(to)].trim();
        let mut parts = self.highlight(window);
        if from > 0 {
            parts.insert(
                0,
                Part {
                    text: "…".into(),
                    mark: false,
                },
            );
        }
        if to < chars.len() {
            parts.push(Part {
                text: "…".into(),
                mark: false,
            });
        }
        Some(merge(parts))
    }
}

fn push_part(parts: &mut Vec<Part>, text: &str, mark: bool) {
    if !text.is_empty() {
        parts.push(Part {
            text: text.to_string(),
            mark,
        });
    }
}

fn merge(parts: Vec<Part>) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::new();
    for p in parts {
        match out.last_mut() {
            Some(last) if last.mark == p.mark => last.text.push_str(&p.text),
            _ => out.push(p),
        }
    }
    out
}

/// A piece of a snippet: plain text, and whether the search matched it. A client renders the
/// parts in order, as text, the marked ones emphasised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Part {
    pub text: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mark: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(q: &str) -> Vec<(String, bool)> {
        SearchQuery::parse(q)
            .terms
            .into_iter()
            .map(|t| (t.text, t.prefix))
            .collect()
    }

    #[test]
    fn words_folded_last_one_a_prefix() {
        assert_eq!(
            texts("Café  RÉFUND"),
            vec![("cafe".into(), false), ("refund".into(), true)]
        );
        assert_eq!(texts("refund "), vec![("refund".into(), false)]);
        assert_eq!(
            texts("refund a"),
            vec![("refund".into(), false), ("a".into(), false)]
        );
        assert_eq!(
            texts("alice@example.com"),
            vec![
                ("alice".into(), false),
                ("example".into(), false),
                ("com".into(), true)
            ]
        );
        assert!(SearchQuery::parse("%_\"*:()").is_empty());
        assert_eq!(texts("Ca\u{301}lled"), vec![("called".into(), true)]);
    }

    #[test]
    fn phone_numbers_however_written() {
        for q in ["+1 415 555 0100", "+1 (415) 555-0100", "1.415.555.0100"] {
            assert_eq!(texts(q), vec![("14155550100".into(), true)], "{q}");
        }
        assert_eq!(texts("4155550100"), vec![("4155550100".into(), true)]);
        // Short digit groups stay words.
        assert_eq!(
            texts("order 12 34"),
            vec![
                ("order".into(), false),
                ("12".into(), false),
                ("34".into(), false)
            ]
        );
    }

    #[test]
    fn engine_queries_hold_only_terms() {
        let q = SearchQuery::parse("late \"parcel\" OR xy");
        assert_eq!(q.fts5(None), r#""late" "parcel" "or" "xy"*"#);
        assert_eq!(q.tsquery(None), "'late' & 'parcel' & 'or' & 'xy':*");
        let n = SearchQuery::parse("123").numbers_only();
        assert_eq!(n.fts5(Some("phone")), r#"phone : ("123"*)"#);
        assert_eq!(n.tsquery(Some('C')), "'123':*C");
    }

    #[test]
    fn highlights_exactly_the_matched_words() {
        let q = SearchQuery::parse("refund ELO");
        let parts = q.highlight("Élodie wants a refund, not refunds.");
        let marked: Vec<&str> = parts
            .iter()
            .filter(|p| p.mark)
            .map(|p| p.text.as_str())
            .collect();
        assert_eq!(marked, vec!["Élodie", "refund"]);
        let joined: String = parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, "Élodie wants a refund, not refunds.");
    }

    #[test]
    fn snippets_window_around_the_first_match() {
        let text = format!(
            "{} the parcel never came {}",
            "word ".repeat(40),
            "tail ".repeat(40)
        );
        let s = SearchQuery::parse("parcel").snippet(&text, 60).unwrap();
        assert_eq!(s.first().unwrap().text.chars().next(), Some('…'));
        assert!(s.last().unwrap().text.ends_with('…'));
        assert!(s.iter().any(|p| p.mark && p.text == "parcel"));
        let len: usize = s.iter().map(|p| p.text.chars().count()).sum();
        assert!(len <= 64, "{len}");
        assert_eq!(SearchQuery::parse("nothing").snippet(&text, 60), None);
    }

    #[test]
    fn phones() {
        let q = SearchQuery::parse("415 555 0100");
        assert!(q.highlight_phone("+14155550100")[0].mark);
        assert!(!SearchQuery::parse("999").highlight_phone("+14155550100")[0].mark);
    }
}

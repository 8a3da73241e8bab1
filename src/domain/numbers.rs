//! Case numbers: `{PREFIX}-{000123}`, searchable by the full value or just the digits.

pub fn format(prefix: &str, number: i64) -> String {
    format!("{prefix}-{number:06}")
}

/// What a search string means as a case number, if anything: `BT-000123`, `bt-123`, `000123`,
/// `#123` and `123` all name case 123 (the prefix, when given, must be this workspace's).
pub fn parse_query(prefix: &str, q: &str) -> Option<i64> {
    let q = q.trim().trim_start_matches('#');
    let digits = match q.rsplit_once('-') {
        Some((p, digits)) if p.eq_ignore_ascii_case(prefix) => digits,
        Some(_) => return None,
        None => q,
    };
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A prefix is 1 to 8 letters or digits, shown upper-case.
pub fn parse_prefix(raw: &str) -> Option<String> {
    let p = raw.trim();
    (1..=8).contains(&p.len()).then_some(())?;
    p.bytes()
        .all(|b| b.is_ascii_alphanumeric())
        .then(|| p.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_six_digits() {
        assert_eq!(format("BT", 123), "BT-000123");
        assert_eq!(format("YS", 1234567), "YS-1234567");
    }

    #[test]
    fn parses_full_value_or_digits() {
        assert_eq!(parse_query("BT", "BT-000123"), Some(123));
        assert_eq!(parse_query("BT", "bt-123"), Some(123));
        assert_eq!(parse_query("BT", "000123"), Some(123));
        assert_eq!(parse_query("BT", "#42"), Some(42));
        assert_eq!(parse_query("BT", "XX-000123"), None);
        assert_eq!(parse_query("BT", "refund"), None);
        assert_eq!(parse_query("BT", ""), None);
        assert_eq!(parse_query("BT", "99999999999999999999"), None);
    }

    #[test]
    fn prefixes() {
        assert_eq!(parse_prefix(" ys "), Some("YS".into()));
        assert_eq!(parse_prefix(""), None);
        assert_eq!(parse_prefix("A-B"), None);
        assert_eq!(parse_prefix("TOOLONGPREFIX"), None);
    }
}

//! Parse, don't validate: request fields become these types or a 422 naming the field.

use crate::error::Error;

/// A trimmed, lower-cased email address with one `@` and a dotted domain.
pub fn email(field: &'static str, raw: &str) -> Result<String, Error> {
    let e = raw.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && domain.contains('.')
                && !domain.contains('@')
                && !domain.contains("..")
        })
        && !e.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')
        });
    if valid {
        Ok(e)
    } else {
        Err(Error::invalid(field, "must be an email address"))
    }
}

/// A display name: trimmed, 1 to 100 characters, no control characters (which would break
/// email headers and logs).
pub fn name(field: &'static str, raw: &str) -> Result<String, Error> {
    let n = raw.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(Error::invalid(field, "must be 1 to 100 characters"));
    }
    if n.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(n.to_string())
}

/// Subject lines are cut, not refused, past this many characters: "Re: Fwd: …" chains get long,
/// and a long subject is no reason to turn a customer's message away.
pub const MAX_SUBJECT: usize = 200;

/// A subject line: trimmed, no control characters, at most `MAX_SUBJECT` characters (cut there).
/// None when blank.
pub fn subject(field: &'static str, raw: &str) -> Result<Option<String>, Error> {
    let cut: String = raw.trim().chars().take(MAX_SUBJECT).collect();
    let s = cut.trim_end();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(Some(s.to_string()))
}

pub fn password(field: &'static str, raw: &str) -> Result<String, Error> {
    match raw.chars().count() {
        8..=256 => Ok(raw.to_string()),
        _ => Err(Error::invalid(field, "must be 8 to 256 characters")),
    }
}

/// A phone number reduced to `+` and digits, so `+1 (555) 010-0000` and `+15550100000` match.
pub fn phone(field: &'static str, raw: &str) -> Result<String, Error> {
    let t = raw.trim();
    let digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
    let allowed = t
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !allowed || !(5..=20).contains(&digits.len()) {
        return Err(Error::invalid(field, "must be a phone number"));
    }
    Ok(if t.starts_with('+') {
        format!("+{digits}")
    } else {
        digits
    })
}

/// Message text: not blank, at most `max` bytes.
pub fn body(field: &'static str, raw: &str, max: usize) -> Result<String, Error> {
    if raw.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if raw.len() > max {
        return Err(Error::invalid(
            field,
            format!("must be at most {max} bytes"),
        ));
    }
    Ok(raw.to_string())
}

/// A one-line preview of a message for lists, push and email.
pub fn preview(body: &str, max_chars: usize) -> String {
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        flat
    } else {
        let cut: String = flat.chars().take(max_chars.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            email("email", " Dana@Example.COM ").unwrap(),
            "dana@example.com"
        );
        for bad in [
            "",
            "dana",
            "dana@",
            "@x.com",
            "a@b",
            "a b@c.com",
            "a@b..com",
            "a@b.com\r\nBcc: x@y.z",
            "a@@b.com",
        ] {
            let err = email("email", bad).unwrap_err();
            assert!(
                matches!(err, Error::Invalid { ref field, .. } if field == "email"),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_refuse_control_characters() {
        assert_eq!(name("name", "  Dana Kim ").unwrap(), "Dana Kim");
        assert!(name("name", "Dana\r\nBcc: evil@x.com").is_err());
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(101)).is_err());
    }

    #[test]
    fn phones_normalize() {
        assert_eq!(phone("phone", "+1 (555) 010-0000").unwrap(), "+15550100000");
        assert_eq!(phone("phone", "0555 0100").unwrap(), "05550100");
        assert!(phone("phone", "call me").is_err());
        assert!(phone("phone", "12").is_err());
    }

    #[test]
    fn previews_are_one_line_and_bounded() {
        assert_eq!(preview("Hello\n\n  there", 80), "Hello there");
        let long = "word ".repeat(100);
        let p = preview(&long, 20);
        assert!(p.chars().count() <= 20 && p.ends_with('…'), "{p}");
    }

    #[test]
    fn passwords_and_bodies() {
        assert!(password("password", "short").is_err());
        assert!(password("password", "long enough").is_ok());
        assert!(body("body", "  \n", 10).is_err());
        assert!(body("body", "12345678901", 10).is_err());
    }
}

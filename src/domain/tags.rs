//! Tag names and colours.

use crate::error::Error;

/// Colours a new tag gets when none is given, readable as a dot and as a chip on white.
pub const PALETTE: [&str; 8] = [
    "#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#4b5563",
];

/// The colour a tag named `key` (lower case) gets by default: the same name, the same colour.
pub fn default_color(key: &str) -> &'static str {
    let sum = key
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    PALETTE[sum as usize % PALETTE.len()]
}

/// A tag name: trimmed, 1 to 40 characters, no control characters.
pub fn name(field: &'static str, raw: &str) -> Result<String, Error> {
    let n = raw.trim();
    if n.is_empty() || n.chars().count() > 40 {
        return Err(Error::invalid(field, "must be 1 to 40 characters"));
    }
    if n.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(n.to_string())
}

/// A colour as `#rrggbb` (stored lower case).
pub fn color(field: &'static str, raw: &str) -> Result<String, Error> {
    let c = raw.trim().to_lowercase();
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit());
    if ok {
        Ok(c)
    } else {
        Err(Error::invalid(field, "must be a colour as #rrggbb"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_colours_are_parsed() {
        assert_eq!(name("name", "  VIP ").unwrap(), "VIP");
        assert!(name("name", " ").is_err());
        assert!(name("name", &"x".repeat(41)).is_err());
        assert_eq!(color("color", "#AbCdEf").unwrap(), "#abcdef");
        assert!(color("color", "red").is_err());
        assert!(color("color", "#12345").is_err());
        assert_eq!(default_color("vip"), default_color("vip"));
        assert!(PALETTE.contains(&default_color("refund")));
    }
}

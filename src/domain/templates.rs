//! Saved-reply templates: `{{customer.first_name}}` and friends, checked when a reply is saved
//! and filled in for one case when a teammate picks it.

/// The variables a saved reply may use, as written between `{{` and `}}`.
pub const VARIABLES: [&str; 4] = [
    "customer.first_name",
    "customer.name",
    "teammate.name",
    "case.number",
];

/// What the variables stand for on one case, for one teammate.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    pub customer_name: &'a str,
    pub teammate_name: &'a str,
    pub case_number: &'a str,
}

impl Values<'_> {
    fn get(&self, variable: &str) -> &str {
        match variable {
            "customer.first_name" => first_name(self.customer_name),
            "customer.name" => self.customer_name,
            "teammate.name" => self.teammate_name,
            "case.number" => self.case_number,
            _ => "",
        }
    }
}

/// The first word of a name ("Ana" of "Ana María López"); the whole name if it has no spaces.
pub fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or("")
}

#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Variable(&'a str),
}

/// Splits a template into text and variables. The error names what is wrong, for the 400.
fn parse(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("a `{{` is never closed with `}}`".into());
        };
        let name = after[..end].trim();
        if !VARIABLES.contains(&name) {
            let known = VARIABLES.map(|v| format!("{{{{{v}}}}}")).join(", ");
            let shown: String = name.chars().take(60).collect();
            return Err(format!("unknown variable {{{{{shown}}}}}: use {known}"));
        }
        pieces.push(Piece::Variable(name));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// Checks that every `{{…}}` is a known variable.
pub fn check(template: &str) -> Result<(), String> {
    parse(template).map(|_| ())
}

/// The template with each variable replaced by its value. A template that no longer parses
/// (it was checked when saved) renders as written.
pub fn render(template: &str, values: &Values<'_>) -> String {
    match parse(template) {
        Ok(pieces) => pieces
            .into_iter()
            .map(|p| match p {
                Piece::Text(t) => t,
                Piece::Variable(v) => values.get(v),
            })
            .collect(),
        Err(_) => template.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: Values<'static> = Values {
        customer_name: "Ana María López",
        teammate_name: "Sam Support",
        case_number: "BT-000042",
    };

    #[test]
    fn every_variable_is_filled_in() {
        let out = render(
            "Hi {{customer.first_name}} ({{ customer.name }}), this is {{teammate.name}} about {{case.number}}.",
            &VALUES,
        );
        assert_eq!(
            out,
            "Hi Ana (Ana María López), this is Sam Support about BT-000042."
        );
    }

    #[test]
    fn unknown_and_unclosed_variables_are_refused_with_a_reason() {
        let e = check("Hello {{customer.age}}").unwrap_err();
        assert!(
            e.contains("{{customer.age}}") && e.contains("{{customer.first_name}}"),
            "{e}"
        );
        assert!(check("Hello {{customer.name")
            .unwrap_err()
            .contains("never closed"));
        assert!(check("Hello {{}}").is_err());
        assert!(check("Plain text, single { braces } and }} alone").is_ok());
    }

    #[test]
    fn a_name_without_spaces_is_its_own_first_name() {
        assert_eq!(first_name("Cher"), "Cher");
        assert_eq!(first_name("  Jo  Doe "), "Jo");
        assert_eq!(first_name(""), "");
    }
}

//! Folds the earlier conversation that an email quotes ("On … wrote:" and `>` lines, Outlook's
//! "-----Original Message-----") away from what the customer wrote this time. Both parts are
//! kept: the case shows the new text, and the quoted part stays one click away.

/// `(new text, quoted part)`. Nothing is folded when the whole message would disappear.
pub fn fold(body: &str) -> (String, Option<String>) {
    let lines: Vec<&str> = body.lines().collect();
    let Some(start) = quote_start(&lines) else {
        return (body.trim_end().to_string(), None);
    };
    let new = lines[..start].join("\n").trim_end().to_string();
    let quoted = lines[start..].join("\n").trim().to_string();
    if new.trim().is_empty() || quoted.is_empty() {
        return (body.trim_end().to_string(), None);
    }
    (new, Some(quoted))
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// An attribution line that introduces a quote, in the languages customers most often write.
fn is_attribution(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    l.ends_with(" wrote:")
        || (l.starts_with("am ") && l.ends_with(" schrieb:"))
        || (l.starts_with("le ") && (l.ends_with(" a écrit :") || l.ends_with(" a écrit:")))
        || (l.starts_with("el ") && l.ends_with(" escribió:"))
}

fn is_separator(line: &str) -> bool {
    let l = line.trim();
    l.eq_ignore_ascii_case("-----original message-----")
        || l.eq_ignore_ascii_case("-------- original message --------")
        || l.eq_ignore_ascii_case("---------- forwarded message ---------")
        || (l.len() >= 20 && l.chars().all(|c| c == '_'))
}

/// Where the quoted tail starts: the first line from which everything is quote, blank lines, or
/// one attribution line right above the quote; or an Outlook-style separator.
fn quote_start(lines: &[&str]) -> Option<usize> {
    if let Some(i) = lines.iter().position(|l| is_separator(l)) {
        if i > 0 {
            return Some(i);
        }
    }
    // The last line that is neither quote nor blank ends the new text, unless it is an
    // attribution (or the first of a two-line one) directly above a quote.
    let mut end = lines.len();
    while end > 0 && (is_quoted(lines[end - 1]) || lines[end - 1].trim().is_empty()) {
        end -= 1;
    }
    if end == lines.len() || !lines[end..].iter().any(|l| is_quoted(l)) {
        return None;
    }
    let opens = |l: &str| {
        let l = l.trim().to_lowercase();
        ["on ", "am ", "le ", "el "]
            .iter()
            .any(|o| l.starts_with(o))
    };
    let mut start = end;
    if start > 0 && is_attribution(lines[start - 1]) {
        start -= 1;
        // "On <date>, <name>" above "<address> wrote:": the attribution was wrapped.
        if start > 0 && !opens(lines[start]) && opens(lines[start - 1]) {
            start -= 1;
        }
    } else if start > 1
        && is_attribution(&format!(
            "{} {}",
            lines[start - 2].trim(),
            lines[start - 1].trim()
        ))
    {
        // Mail clients wrap a long "On <date>, <name> <address> wrote:" over two lines.
        start -= 2;
    }
    Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_folded_and_kept() {
        let body = "Thanks, that works!\n\nOn Mon, 3 Mar 2025 at 10:00, Ana <ana@example.com> wrote:\n> Try turning it off and on.\n>\n> > Earlier: it is broken\n";
        let (new, quoted) = fold(body);
        assert_eq!(new, "Thanks, that works!");
        let quoted = quoted.unwrap();
        assert!(quoted.starts_with("On Mon, 3 Mar 2025"), "{quoted}");
        assert!(quoted.contains("> Try turning it off"));

        let wrapped = "Yes please.\n\nOn Mon, 3 Mar 2025 at 10:00, Ana Support\n<ana@example.com> wrote:\n\n> Shall we?\n";
        assert_eq!(fold(wrapped).0, "Yes please.");

        let outlook = "See below.\r\n\r\n-----Original Message-----\r\nFrom: Ana\r\nSent: Monday\r\n\r\nTry again\r\n";
        let (new, quoted) = fold(outlook);
        assert_eq!(new, "See below.");
        assert!(quoted.unwrap().contains("Try again"));
    }

    #[test]
    fn inline_answers_and_all_quote_stay_whole() {
        let inline = "> Which size?\nLarge.\n> Which colour?\nBlue.";
        assert_eq!(fold(inline), (inline.to_string(), None));
        let only_quote = "> just a quote\n> nothing new";
        assert_eq!(fold(only_quote), (only_quote.to_string(), None));
        assert_eq!(fold("Hello\nthere"), ("Hello\nthere".to_string(), None));
    }
}

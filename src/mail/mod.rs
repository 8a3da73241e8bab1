//! Email as a customer channel: the reply a teammate writes becomes a threaded email
//! (`compose`), an email a customer sends becomes a message on the right case (`parse`,
//! `quote`), and reply addresses carry a signed case token (`token`).

pub mod compose;
pub mod parse;
pub mod quote;
pub mod token;

use crate::config::Config;

/// A header-safe single line: control characters (CR, LF, tab…) become spaces, then trimmed.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The domain of reply addresses and Message-IDs: `--mail-domain`, else the host of the
/// public URL.
pub fn domain(config: &Config, origin: &str) -> String {
    if let Some(d) = config
        .mail_domain
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        return d.to_ascii_lowercase();
    }
    url::Url::parse(origin)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_else(|| "localhost".to_string())
}

//! The `sms_twilio` channel: a Twilio number. Texts to it arrive at `/hooks/twilio/{id}`
//! (signed with the auth token), replies leave through Twilio's Messages API.

use serde_json::{Map, Value};

use super::{only_known, Checked};
use crate::domain::input;
use crate::error::{Error, Result};

/// Settings paths that hold secrets.
pub(super) const SECRETS: &[&[&str]] = &[&["auth_token"]];

/// Where replies go when the channel names no `api_base_url`.
pub const TWILIO_API: &str = "https://api.twilio.com";

pub(super) fn check(
    obj: &Map<String, Value>,
    current: Option<&Value>,
    server_on_loopback: bool,
) -> Result<Checked> {
    only_known(
        "settings",
        obj,
        &["account_sid", "auth_token", "from_number", "api_base_url"],
    )?;
    let text = |key: &str| obj.get(key).and_then(|v| v.as_str()).map(str::trim);
    let account_sid = text("account_sid").unwrap_or("");
    if !(account_sid.starts_with("AC")
        && account_sid.len() == 34
        && account_sid.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(Error::invalid(
            "settings.account_sid",
            "must be a Twilio account SID (AC and 32 characters)",
        ));
    }
    // A PATCH that leaves the token out keeps the stored one: it is never shown to send back.
    let auth_token = match text("auth_token").filter(|t| !t.is_empty()) {
        Some(token) => token.to_string(),
        None => current
            .and_then(|c| c.get("auth_token"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| Error::invalid("settings.auth_token", "is required"))?,
    };
    if auth_token.len() > 200 {
        return Err(Error::invalid("settings.auth_token", "is too long"));
    }
    let from_number = e164("settings.from_number", text("from_number").unwrap_or(""))?;
    let api_base_url = match text("api_base_url").filter(|u| !u.is_empty()) {
        Some(raw) => crate::signing::check_url(raw, server_on_loopback)
            .map_err(|why| Error::invalid("settings.api_base_url", why))?
            .as_str()
            .trim_end_matches('/')
            .to_string(),
        None => TWILIO_API.to_string(),
    };
    Ok(Checked {
        settings: serde_json::json!({
            "account_sid": account_sid,
            "auth_token": auth_token,
            "from_number": from_number,
            "api_base_url": api_base_url,
        }),
        // The number texts arrive at: one number feeds one workspace.
        address: Some(format!("sms:{from_number}")),
        secret: None,
    })
}

/// A phone number in E.164 (`+` and up to 15 digits), however it was written: `+1 (415)
/// 555-0100`, `0044 20 7946 0000`. Without a country code (no `+` or `00`) it is refused, as
/// Twilio always sends E.164 and a guessed country would find the wrong customer.
pub fn e164(field: &'static str, raw: &str) -> Result<String> {
    let checked = input::phone(field, raw)?;
    let digits = if let Some(rest) = checked.strip_prefix('+') {
        rest.to_string()
    } else if let Some(rest) = checked.strip_prefix("00") {
        rest.to_string()
    } else {
        return Err(Error::invalid(
            field,
            "must be in international form (+ and the country code)",
        ));
    };
    if digits.starts_with('0') || !(7..=15).contains(&digits.len()) {
        return Err(Error::invalid(field, "must be an E.164 phone number"));
    }
    Ok(format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_normalise_to_e164() {
        assert_eq!(e164("f", "+1 (415) 555-0100").unwrap(), "+14155550100");
        assert_eq!(e164("f", "0044 20 7946 0000").unwrap(), "+442079460000");
        assert_eq!(e164("f", "+14155550100").unwrap(), "+14155550100");
        assert!(e164("f", "415 555 0100").is_err());
        assert!(e164("f", "+0415").is_err());
        assert!(e164("f", "+1 415 abc").is_err());
    }

    #[test]
    fn a_patch_without_the_token_keeps_it() {
        let sid = format!("AC{}", "a".repeat(32));
        let first = serde_json::json!({"account_sid": sid, "auth_token": "tok", "from_number": "+1 415 555 0100"});
        let checked = check(first.as_object().unwrap(), None, false).unwrap();
        assert_eq!(checked.settings["auth_token"], "tok");
        assert_eq!(checked.settings["api_base_url"], TWILIO_API);
        let again = serde_json::json!({"account_sid": sid, "from_number": "+14155550100"});
        let kept = check(again.as_object().unwrap(), Some(&checked.settings), false).unwrap();
        assert_eq!(kept.settings["auth_token"], "tok");
        assert!(check(again.as_object().unwrap(), None, false).is_err());
        let bad = serde_json::json!({"account_sid": sid, "auth_token": "t", "from_number": "+14155550100", "api_base_url": "http://169.254.169.254"});
        assert!(check(bad.as_object().unwrap(), None, true).is_err());
    }
}

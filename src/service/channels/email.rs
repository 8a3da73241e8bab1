//! The `email` channel: the workspace's sending identity (`from_name`, `from_address`); mail to
//! its address feeds the workspace.

use serde_json::{Map, Value};

use super::{only_known, Checked};
use crate::domain::input;
use crate::error::{Error, Result};

/// Settings paths that hold secrets.
pub(super) const SECRETS: &[&[&str]] = &[&["imap", "password"]];

pub(super) fn check(obj: &Map<String, Value>, _current: Option<&Value>) -> Result<Checked> {
    if obj.contains_key("imap") {
        return Err(Error::invalid(
            "settings.imap",
            "reading mailboxes over IMAP is not supported yet",
        ));
    }
    only_known("settings", obj, &["from_name", "from_address"])?;
    let name = input::name(
        "settings.from_name",
        obj.get("from_name").and_then(|v| v.as_str()).unwrap_or(""),
    )?;
    let address = input::email(
        "settings.from_address",
        obj.get("from_address")
            .and_then(|v| v.as_str())
            .unwrap_or(""),
    )?;
    Ok(Checked {
        settings: serde_json::json!({ "from_name": name, "from_address": address }),
        address: Some(address),
        secret: None,
    })
}

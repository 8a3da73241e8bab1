//! The `api` channel: anything else (a WhatsApp gateway, a chat widget, the company's app).
//! Messages come in by `POST /api/inbound` naming the channel; replies are POSTed to its
//! `webhook_url`, signed per Standard Webhooks with the secret shown once at creation.

use serde_json::{Map, Value};

use super::{only_known, Checked};
use crate::error::{Error, Result};

/// Settings paths that hold secrets.
pub(super) const SECRETS: &[&[&str]] = &[&["secret"]];

pub(super) fn check(
    obj: &Map<String, Value>,
    current: Option<&Value>,
    server_on_loopback: bool,
) -> Result<Checked> {
    only_known("settings", obj, &["webhook_url"])?;
    let raw = obj
        .get("webhook_url")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let url = crate::signing::check_url(raw, server_on_loopback)
        .map_err(|why| Error::invalid("settings.webhook_url", why))?;
    // The secret is made once, with the channel; a change of URL keeps it.
    let (secret, shown) = match current
        .and_then(|c| c.get("secret"))
        .and_then(|v| v.as_str())
    {
        Some(kept) => (kept.to_string(), None),
        None => {
            let new = crate::signing::new_secret();
            (new.clone(), Some(new))
        }
    };
    Ok(Checked {
        settings: serde_json::json!({ "webhook_url": url.as_str(), "secret": secret }),
        address: None,
        secret: shown,
    })
}

//! The `email` channel: the workspace's sending identity (`from_name`, `from_address`); mail to
//! its address feeds the workspace, and so does the mailbox it reads over IMAP when it has
//! `imap` settings (`crate::imap`).

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::{only_known, Checked};
use crate::domain::input;
use crate::error::{Error, Result};

/// Settings paths that hold secrets.
pub(super) const SECRETS: &[&[&str]] = &[&["imap", "password"]];

pub(super) fn check(obj: &Map<String, Value>, current: Option<&Value>) -> Result<Checked> {
    only_known("settings", obj, &["from_name", "from_address", "imap"])?;
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
    let mut settings = serde_json::json!({ "from_name": name, "from_address": address });
    match obj.get("imap") {
        None | Some(Value::Null) => {}
        Some(Value::Object(imap)) => {
            let kept = current
                .and_then(|c| c.get("imap"))
                .and_then(|i| i.get("password"))
                .and_then(|p| p.as_str());
            settings["imap"] = check_imap(imap, kept)?.to_json();
        }
        Some(_) => return Err(Error::invalid("settings.imap", "must be an object")),
    }
    Ok(Checked {
        settings,
        address: Some(address),
        secret: None,
    })
}

/// Where an email channel reads its mail: an IMAP mailbox. `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    /// TLS from the first byte (port 993). Off only for a server on this machine.
    pub tls: bool,
    pub username: String,
    pub password: String,
    pub folder: String,
}

impl std::fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

impl ImapSettings {
    /// The `imap` settings of a stored email channel, if it reads a mailbox.
    pub fn of(settings: &Value) -> Option<ImapSettings> {
        let imap = settings.get("imap")?.as_object()?;
        check_imap(imap, None).ok()
    }

    fn to_json(&self) -> Value {
        serde_json::json!({
            "host": self.host,
            "port": self.port,
            "tls": self.tls,
            "username": self.username,
            "password": self.password,
            "folder": self.folder,
        })
    }

    /// Names the mailbox the UIDs of a cursor belong to: another host, user or folder has other
    /// UIDs, so a cursor kept for one must not be used for another.
    pub fn mailbox(&self) -> String {
        format!(
            "{}:{}/{}/{}",
            self.host.to_ascii_lowercase(),
            self.port,
            self.username,
            self.folder
        )
    }
}

/// The `imap` object: `host`, `port` (1–65535), `tls` (bool), `username`, `password` (kept
/// from `kept` when a change leaves it out: it is never shown to send back), `folder` (default
/// `INBOX`).
fn check_imap(obj: &Map<String, Value>, kept: Option<&str>) -> Result<ImapSettings> {
    only_known(
        "settings.imap",
        obj,
        &["host", "port", "tls", "username", "password", "folder"],
    )?;
    let text = |key: &'static str| -> Result<Option<&str>> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Error::invalid(
                format!("settings.imap.{key}"),
                "must be a string",
            )),
        }
    };
    let host = text("host")?.unwrap_or("").trim().to_string();
    if host.is_empty() {
        return Err(Error::invalid("settings.imap.host", "is required"));
    }
    if host.len() > 253
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(Error::invalid(
            "settings.imap.host",
            "must be a host name or an IP address",
        ));
    }
    let tls = match obj.get("tls") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::invalid("settings.imap.tls", "must be true or false")),
    };
    if !tls && !is_loopback(&host) {
        return Err(Error::invalid(
            "settings.imap.tls",
            "must be true: without TLS the password would cross the network in clear (plain IMAP is accepted only for a server on this machine)",
        ));
    }
    let port = match obj.get("port") {
        None | Some(Value::Null) => {
            if tls {
                993
            } else {
                143
            }
        }
        Some(v) => v
            .as_u64()
            .filter(|p| (1..=65535).contains(p))
            .ok_or_else(|| {
                Error::invalid(
                    "settings.imap.port",
                    "must be a whole number from 1 to 65535",
                )
            })? as u16,
    };
    let username = text("username")?.unwrap_or("").trim().to_string();
    if username.is_empty() {
        return Err(Error::invalid("settings.imap.username", "is required"));
    }
    if username.len() > 320 || username.chars().any(char::is_control) {
        return Err(Error::invalid(
            "settings.imap.username",
            "must be one line of at most 320 characters",
        ));
    }
    let password = match text("password")?.filter(|p| !p.is_empty()) {
        Some(p) => p.to_string(),
        None => kept
            .map(str::to_string)
            .ok_or_else(|| Error::invalid("settings.imap.password", "is required"))?,
    };
    if password.len() > 1000 || password.chars().any(char::is_control) {
        return Err(Error::invalid(
            "settings.imap.password",
            "must be one line of at most 1000 characters",
        ));
    }
    let folder = text("folder")?.map(str::trim).unwrap_or("");
    let folder = if folder.is_empty() { "INBOX" } else { folder };
    if folder.len() > 200 || folder.chars().any(char::is_control) {
        return Err(Error::invalid(
            "settings.imap.folder",
            "must be one line of at most 200 characters",
        ));
    }
    Ok(ImapSettings {
        host,
        port,
        tls,
        username,
        password,
        folder: folder.to_string(),
    })
}

/// `localhost` or a loopback address: a connection that never leaves this machine.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn checked(settings: Value, current: Option<&Value>) -> Result<Value> {
        check(settings.as_object().unwrap(), current).map(|c| c.settings)
    }

    fn field(r: Result<Value>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn imap_settings_are_checked_field_by_field() {
        let base = |imap: Value| json!({"from_name": "Support", "from_address": "help@example.com", "imap": imap});
        let good = checked(
            base(json!({"host": "imap.example.com", "username": "help@example.com", "password": "pw"})),
            None,
        )
        .unwrap();
        assert_eq!(good["imap"]["port"], 993);
        assert_eq!(good["imap"]["tls"], true);
        assert_eq!(good["imap"]["folder"], "INBOX");
        let ok = json!({"host": "imap.example.com", "port": 993, "tls": true, "username": "u", "password": "p"});
        let with = |k: &str, v: Value| {
            let mut o = ok.clone();
            o[k] = v;
            base(o)
        };
        assert_eq!(
            field(checked(with("port", json!(0)), None)),
            "settings.imap.port"
        );
        assert_eq!(
            field(checked(with("port", json!(65536)), None)),
            "settings.imap.port"
        );
        assert_eq!(
            field(checked(with("port", json!("993")), None)),
            "settings.imap.port"
        );
        assert_eq!(
            field(checked(with("tls", json!("yes")), None)),
            "settings.imap.tls"
        );
        assert_eq!(
            field(checked(with("tls", json!(false)), None)),
            "settings.imap.tls"
        );
        assert_eq!(
            field(checked(with("host", json!("")), None)),
            "settings.imap.host"
        );
        assert_eq!(
            field(checked(with("host", json!("a b")), None)),
            "settings.imap.host"
        );
        assert_eq!(
            field(checked(with("username", json!(" ")), None)),
            "settings.imap.username"
        );
        assert_eq!(
            field(checked(with("password", json!("")), None)),
            "settings.imap.password"
        );
        assert_eq!(
            field(checked(with("folder", json!("a\r\nb")), None)),
            "settings.imap.folder"
        );
        assert_eq!(
            field(checked(with("extra", json!(1)), None)),
            "settings.imap.extra"
        );
        assert_eq!(
            field(checked(base(json!("imap.example.com")), None)),
            "settings.imap"
        );
        let plain = with("tls", json!(false));
        let mut plain = plain;
        plain["imap"]["host"] = json!("127.0.0.1");
        assert_eq!(checked(plain, None).unwrap()["imap"]["tls"], false);
    }

    #[test]
    fn a_change_without_the_password_keeps_it() {
        let first = checked(
            json!({"from_name": "S", "from_address": "s@example.com", "imap": {"host": "imap.example.com", "username": "u", "password": "secret"}}),
            None,
        )
        .unwrap();
        let again = checked(
            json!({"from_name": "S", "from_address": "s@example.com", "imap": {"host": "imap.example.com", "username": "u", "folder": "Support"}}),
            Some(&first),
        )
        .unwrap();
        assert_eq!(again["imap"]["password"], "secret");
        assert_eq!(again["imap"]["folder"], "Support");
        assert!(!format!("{:?}", ImapSettings::of(&again).unwrap()).contains("secret"));
    }
}

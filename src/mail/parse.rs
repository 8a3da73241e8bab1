//! One raw message (RFC 5322, any MIME structure, charset and transfer encoding) → what Baton
//! keeps of it: who wrote, what they wrote (text preferred, HTML turned to text), the ids that
//! thread it, the addresses it was sent to, and whether a machine sent it (auto-reply, list,
//! bounce). Parsing is `mail-parser`'s; the decisions are here.

use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};

use crate::domain::input;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct ParsedMail {
    pub from_name: String,
    pub from_address: String,
    pub subject: Option<String>,
    /// The Message-ID, without angle brackets.
    pub message_id: Option<String>,
    /// In-Reply-To, then References from the newest back: the ids that may thread this mail.
    pub thread_ids: Vec<String>,
    /// Every address it was sent to (To, Cc, Delivered-To, X-Original-To, Envelope-To).
    pub recipients: Vec<String>,
    /// What the sender wrote this time.
    pub body: String,
    /// The earlier conversation it quoted, folded away from `body`.
    pub quoted: Option<String>,
    /// Why a machine, not a person, sent it (then it never notifies or triggers a reply).
    pub automated: Option<&'static str>,
    /// A delivery status notification about an earlier message.
    pub bounce: Option<Bounce>,
    /// Its attached files (at most `attachments::MAX_PER_MESSAGE`, none above `MAX_FILE`).
    pub attachments: Vec<MailFile>,
}

/// One attached file as the mail carried it, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFile {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The Message-ID of the message that could not be delivered, when the report names it.
    pub original_message_id: Option<String>,
    pub reason: String,
}

/// The files a mail carries; too many or too large ones are left out (the text still says what
/// the customer wrote).
fn files(message: &Message<'_>) -> Vec<MailFile> {
    message
        .attachments()
        .filter(|part| part.contents().len() <= crate::attachments::MAX_FILE)
        .take(crate::attachments::MAX_PER_MESSAGE)
        .map(|part| {
            let content_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_string());
            MailFile {
                filename: part.attachment_name().unwrap_or("attachment").to_string(),
                content_type,
                bytes: part.contents().to_vec(),
            }
        })
        .collect()
}

pub fn parse(raw: &[u8], max_body: usize) -> Result<ParsedMail> {
    let message = MessageParser::default()
        .parse(raw)
        .filter(|m| !m.headers().is_empty())
        .ok_or_else(|| Error::invalid("message", "not an RFC 5322 message"))?;
    let from = first_addr(message.from())
        .or_else(|| first_addr(message.sender()))
        .or_else(|| first_addr(message.reply_to()))
        .ok_or_else(|| Error::invalid("from", "the message names no sender"))?;
    let from_address = input::email("from", &from.1)?;
    let local = from_address.split('@').next().unwrap_or("").to_string();
    let from_name = clean_line(from.0.as_deref().unwrap_or(""), 100)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| local.clone());

    let subject = message
        .subject()
        .and_then(|s| input::subject("subject", &clean_line(s, 1000).unwrap_or_default()).ok())
        .flatten();
    let message_id = message.message_id().and_then(clean_id);
    let mut thread_ids: Vec<String> = ids(message.in_reply_to());
    let mut references = ids(message.references());
    references.reverse();
    for id in references {
        if !thread_ids.contains(&id) {
            thread_ids.push(id);
        }
    }
    thread_ids.truncate(50);

    let mut recipients = Vec::new();
    for address in [message.to(), message.cc()].into_iter().flatten() {
        for addr in address.iter() {
            if let Some(a) = addr.address() {
                recipients.push(a.trim().to_string());
            }
        }
    }
    for name in ["Delivered-To", "X-Original-To", "Envelope-To"] {
        for value in message.header_values(name) {
            if let Some(text) = value.as_text() {
                recipients.push(text.trim().trim_matches(['<', '>']).to_string());
            }
        }
    }

    let bounce = bounce_of(&message, &local);
    let automated = if bounce.is_some() {
        Some("delivery report")
    } else {
        machine_sent(&message, &local)
    };

    let text = message
        .body_text(0)
        .map(|t| t.replace("\r\n", "\n").replace('\r', "\n"))
        .unwrap_or_default();
    let text = strip_controls(&text);
    let (body, quoted) = super::quote::fold(text.trim_matches('\n'));
    let body = if body.trim().is_empty() {
        "(no text)".to_string()
    } else {
        cut(&body, max_body)
    };
    Ok(ParsedMail {
        from_name,
        from_address,
        subject,
        message_id,
        thread_ids,
        recipients,
        body,
        quoted: quoted.map(|q| cut(&q, max_body)),
        automated,
        bounce,
        attachments: files(&message),
    })
}

fn first_addr(address: Option<&Address<'_>>) -> Option<(Option<String>, String)> {
    let addr = address?.first()?;
    Some((addr.name().map(str::to_string), addr.address()?.to_string()))
}

/// Message ids as written between `<` and `>`, one or many in a header.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => clean_id(t).into_iter().collect(),
        HeaderValue::TextList(list) => list.iter().filter_map(|t| clean_id(t)).collect(),
        _ => Vec::new(),
    }
}

fn clean_id(id: &str) -> Option<String> {
    let id = id.trim().trim_matches(['<', '>']).trim();
    (!id.is_empty() && id.len() <= 250 && !id.chars().any(|c| c.is_control() || c.is_whitespace()))
        .then(|| id.to_string())
}

/// One line, no control characters, at most `max` characters.
fn clean_line(s: &str, max: usize) -> Option<String> {
    let line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    Some(line.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Keeps line breaks and tabs, drops other control characters.
fn strip_controls(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

fn cut(s: &str, max_bytes: usize) -> String {
    if s.len() <= max_bytes {
        return s.to_string();
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n[…]", &s[..end])
}

fn header_text(message: &Message<'_>, name: &str) -> Option<String> {
    message
        .header_raw(name)
        .map(|v| v.trim().to_ascii_lowercase())
}

/// RFC 3834 and common practice: who is not a person writing.
fn machine_sent(message: &Message<'_>, sender_local: &str) -> Option<&'static str> {
    if let Some(v) = header_text(message, "Auto-Submitted") {
        let first = v.split(';').next().unwrap_or("").trim();
        if first != "no" {
            return Some("auto-submitted");
        }
    }
    if let Some(v) = header_text(message, "Precedence") {
        if matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply") {
            return Some("bulk or list mail");
        }
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Autoresponder"] {
        if message.header_raw(name).is_some() {
            return Some("auto-reply");
        }
    }
    if message.header_raw("List-Id").is_some() || message.header_raw("List-Unsubscribe").is_some() {
        return Some("mailing list");
    }
    if is_daemon(sender_local) {
        return Some("mail system");
    }
    if is_report(message) {
        return Some("report");
    }
    None
}

fn is_daemon(local: &str) -> bool {
    let l = local.to_ascii_lowercase();
    l == "mailer-daemon" || l == "postmaster" || l.starts_with("mailer-daemon")
}

fn is_report(message: &Message<'_>) -> bool {
    message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    })
}

/// A delivery status notification (RFC 3464): the failed message's id and the reason given.
fn bounce_of(message: &Message<'_>, sender_local: &str) -> Option<Bounce> {
    let report = is_report(message)
        && message
            .content_type()
            .and_then(|ct| ct.attribute("report-type"))
            .is_none_or(|t| t.eq_ignore_ascii_case("delivery-status"));
    if !report && !is_daemon(sender_local) {
        return None;
    }
    let mut status = None;
    let mut diagnostic = None;
    let mut action = None;
    let mut original = None;
    for part in &message.parts {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let kind = format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase()
        );
        match (&part.body, kind.as_str()) {
            (PartType::Message(inner), _) => {
                original = original.or_else(|| inner.message_id().and_then(clean_id));
            }
            (_, "message/delivery-status") | (_, "message/global-delivery-status") => {
                let text = String::from_utf8_lossy(part.contents()).to_string();
                for line in unfold(&text) {
                    let Some((name, value)) = line.split_once(':') else {
                        continue;
                    };
                    let value = value.trim().to_string();
                    match name.trim().to_ascii_lowercase().as_str() {
                        "status" => status = status.or(Some(value)),
                        "diagnostic-code" => diagnostic = diagnostic.or(Some(value)),
                        "action" => action = action.or(Some(value.to_ascii_lowercase())),
                        _ => {}
                    }
                }
            }
            (_, "text/rfc822-headers") | (_, "message/rfc822-headers") => {
                let text = String::from_utf8_lossy(part.contents()).to_string();
                original = original.or_else(|| {
                    unfold(&text).into_iter().find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.trim()
                            .eq_ignore_ascii_case("message-id")
                            .then(|| clean_id(value))
                            .flatten()
                    })
                });
            }
            _ => {}
        }
    }
    // "delayed", "delivered", "relayed" and "expanded" reports are not failures.
    if action.as_deref().is_some_and(|a| a != "failed") {
        return None;
    }
    let reason = match (diagnostic, status) {
        (Some(d), _) => d.trim_start_matches("smtp;").trim().to_string(),
        (None, Some(s)) => format!("status {s}"),
        (None, None) => "the recipient's mail server refused it".to_string(),
    };
    Some(Bounce {
        original_message_id: original,
        reason: clean_line(&reason, 300).unwrap_or_default(),
    })
}

/// Header-style lines with continuation lines joined.
fn unfold(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
                continue;
            }
        }
        out.push(line.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_message() {
        let raw = b"From: =?ISO-8859-1?Q?Andr=E9_M=FCller?= <Andre@Example.com>\r\nTo: help@example.com\r\nSubject: =?UTF-8?B?w4RyZ2VyIG1pdCBkZXIgTGllZmVydW5n?=\r\nMessage-ID: <abc@mail.example.com>\r\nIn-Reply-To: <x1@baton.test>\r\nReferences: <x0@baton.test> <x1@baton.test>\r\n\r\nHello,\r\nit is late.\r\n\r\nOn Mon, Ana wrote:\r\n> earlier\r\n";
        let m = parse(raw, 1000).unwrap();
        assert_eq!(m.from_name, "André Müller");
        assert_eq!(m.from_address, "andre@example.com");
        assert_eq!(m.subject.as_deref(), Some("Ärger mit der Lieferung"));
        assert_eq!(m.message_id.as_deref(), Some("abc@mail.example.com"));
        assert_eq!(m.thread_ids, vec!["x1@baton.test", "x0@baton.test"]);
        assert_eq!(m.body, "Hello,\nit is late.");
        assert_eq!(m.quoted.as_deref(), Some("On Mon, Ana wrote:\n> earlier"));
        assert_eq!(m.automated, None);
        assert!(m.recipients.contains(&"help@example.com".to_string()));
    }

    #[test]
    fn machines_are_recognised() {
        let base =
            "From: Dana <dana@example.com>\r\nTo: help@example.com\r\nSubject: Out of office\r\n";
        for (extra, why) in [
            ("Auto-Submitted: auto-replied\r\n", Some("auto-submitted")),
            ("Auto-Submitted: no\r\n", None),
            ("Precedence: bulk\r\n", Some("bulk or list mail")),
            ("X-Autoreply: yes\r\n", Some("auto-reply")),
            ("List-Id: <news.example.com>\r\n", Some("mailing list")),
        ] {
            let raw = format!("{base}{extra}\r\nI am away.\r\n");
            assert_eq!(
                parse(raw.as_bytes(), 1000).unwrap().automated,
                why,
                "{extra}"
            );
        }
    }

    #[test]
    fn a_bounce_names_the_failed_message_and_the_reason() {
        let raw = "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\nTo: help@example.com\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <gone@example.org>:\r\n  user unknown\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Ana <help@example.com>\r\nMessage-ID: <r1@baton.test>\r\nSubject: Re: hi\r\n--b--\r\n";
        let m = parse(raw.as_bytes(), 1000).unwrap();
        assert_eq!(m.automated, Some("delivery report"));
        let bounce = m.bounce.unwrap();
        assert_eq!(bounce.original_message_id.as_deref(), Some("r1@baton.test"));
        assert_eq!(bounce.reason, "550 5.1.1 <gone@example.org>: user unknown");
    }

    #[test]
    fn refusals() {
        assert!(parse(b"", 100).is_err());
        assert!(parse(b"Subject: nobody\r\n\r\nhi", 100).is_err());
    }
}

//! The email a reply becomes (RFC 5322 §3.6.4 threading): our own `Message-ID`, `In-Reply-To`
//! the customer's latest message, `References` the conversation, `Subject` "Re: " once, and a
//! `Reply-To` that leads the customer's answer back to this case. Text and HTML parts; the
//! teammate's text is escaped in the HTML and keeps its line breaks.

use lettre::message::header::ContentType;
use lettre::message::{Attachment as MailAttachment, Mailbox, MultiPart};
use lettre::Message;

use super::one_line;
use crate::notify::email::escape_html;
use crate::store::{Attachment, OutboundReply};

/// `References` keeps the first message and the latest ones: long threads stay threaded
/// without the header growing without bound.
const MAX_REFERENCES: usize = 20;

/// "Re: " + the thread's subject, however many "Re:", "RE:", "Aw:" or "Fwd:" it already had.
pub fn reply_subject(subject: Option<&str>) -> String {
    let mut s = subject.unwrap_or("").trim();
    loop {
        let lower = s.to_ascii_lowercase();
        let cut = ["re:", "aw:", "sv:", "fw:", "fwd:", "re :"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| p.len());
        match cut {
            Some(n) => s = s[n..].trim_start(),
            None => break,
        }
    }
    if s.is_empty() {
        "Re: Your message".to_string()
    } else {
        format!("Re: {s}")
    }
}

/// `<id>` for a header from an id stored without brackets.
pub fn bracket(id: &str) -> String {
    format!("<{id}>")
}

/// The From name: the teammate "at" the workspace's sending name ("Ana at Sunny Side").
pub fn from_name(author: Option<&str>, sender: &str) -> String {
    match author.map(str::trim).filter(|a| !a.is_empty()) {
        Some(author) => format!("{} at {}", one_line(author), one_line(sender)),
        None => one_line(sender),
    }
}

pub fn text_body(body: &str) -> String {
    format!("{}\n", body.trim_end())
}

pub fn html_body(body: &str) -> String {
    let escaped = escape_html(body.trim_end())
        .replace("\r\n", "\n")
        .replace('\n', "<br>\n");
    format!(
        "<!doctype html><html><body><div style=\"font-family:system-ui,sans-serif\">{escaped}</div></body></html>"
    )
}

/// Builds the reply. `from` is the sending identity, `reply_to` the case's reply address;
/// `files` (with their bytes) go after the text and HTML parts, as `multipart/mixed`.
pub fn reply(
    reply: &OutboundReply,
    files: &[(Attachment, Vec<u8>)],
    from: Mailbox,
    reply_to: &str,
    to: &str,
) -> anyhow::Result<Message> {
    let to = Mailbox::new(
        Some(one_line(&reply.customer_name)).filter(|n| !n.is_empty()),
        to.parse()?,
    );
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .reply_to(reply_to.parse()?)
        .subject(reply_subject(reply.subject.as_deref()))
        .message_id(Some(bracket(&reply.mail_id)));
    if let Some(parent) = &reply.in_reply_to {
        builder = builder.in_reply_to(bracket(parent));
    }
    let chain: Vec<&String> = if reply.references.len() > MAX_REFERENCES {
        std::iter::once(&reply.references[0])
            .chain(&reply.references[reply.references.len() - (MAX_REFERENCES - 1)..])
            .collect()
    } else {
        reply.references.iter().collect()
    };
    if !chain.is_empty() {
        let refs: Vec<String> = chain.iter().map(|id| bracket(id)).collect();
        builder = builder.references(refs.join(" "));
    }
    let parts = MultiPart::alternative_plain_html(text_body(&reply.body), html_body(&reply.body));
    if files.is_empty() {
        return Ok(builder.multipart(parts)?);
    }
    let mut mixed = MultiPart::mixed().multipart(parts);
    for (file, bytes) in files {
        let content_type = ContentType::parse(&file.content_type).unwrap_or_else(|_| {
            ContentType::parse("application/octet-stream").expect("a valid type")
        });
        mixed = mixed.singlepart(
            MailAttachment::new(file.filename.clone()).body(bytes.clone(), content_type),
        );
    }
    Ok(builder.multipart(mixed)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_once() {
        assert_eq!(
            reply_subject(Some("Where is my order?")),
            "Re: Where is my order?"
        );
        assert_eq!(reply_subject(Some("Re: RE: Aw: where")), "Re: where");
        assert_eq!(reply_subject(Some("  re:Fwd: x")), "Re: x");
        assert_eq!(reply_subject(None), "Re: Your message");
        assert_eq!(reply_subject(Some("Re:")), "Re: Your message");
        assert_eq!(reply_subject(Some("Really?")), "Re: Really?");
    }

    #[test]
    fn html_is_escaped_and_keeps_lines() {
        let html = html_body("<b>hi</b>\nsecond & last");
        assert!(
            html.contains("&lt;b&gt;hi&lt;/b&gt;<br>\nsecond &amp; last"),
            "{html}"
        );
    }

    #[test]
    fn from_name_reads_like_a_person() {
        assert_eq!(from_name(Some("Ana"), "Sunny Side"), "Ana at Sunny Side");
        assert_eq!(from_name(None, "Sunny\r\nSide"), "Sunny  Side");
    }
}

//! Email with `lettre`: over SMTP when `SMTP_URL` is set, else one `.eml` file per mail in
//! `data/outbox/`. Text and HTML parts; customer text escaped; headers encoded by lettre (names
//! and subjects cannot inject headers: they are validated to hold no control characters at
//! intake, and lettre encodes what it writes).

use crate::mail::one_line;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;

pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>, std::path::PathBuf),
}

impl Mailer {
    pub fn new(config: &Config, _origin: &str) -> anyhow::Result<Self> {
        Ok(match &config.smtp_url {
            Some(url) => Mailer::Smtp(AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.build()),
            None => {
                let dir = config.data_dir.join("outbox");
                std::fs::create_dir_all(&dir)?;
                Mailer::Outbox(AsyncFileTransport::new(&dir), dir)
            }
        })
    }

    pub async fn send(&self, message: Message) -> anyhow::Result<()> {
        match self {
            Mailer::Smtp(t) => {
                t.send(message).await?;
            }
            Mailer::Outbox(t, _) => {
                t.send(message).await?;
            }
        }
        Ok(())
    }
}

/// What an email says.
pub struct Mail<'a> {
    pub to_name: &'a str,
    pub to_email: &'a str,
    pub from: &'a str,
    pub subject: String,
    pub lead: String,
    pub preview: &'a str,
    pub link: String,
    pub unsubscribe: String,
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One line, no control characters: safe for a header whatever the input was.
pub fn build(mail: &Mail<'_>) -> anyhow::Result<Message> {
    let text = format!("{}\n\n> {}\n\nOpen the case: {}\n\n--\nYou get these emails because a case in Baton is yours.\nStop them: {}\n", mail.lead, mail.preview, mail.link, mail.unsubscribe);
    let html = format!(
        "<p>{lead}</p><blockquote style=\"border-left:3px solid #c9d2e3;margin:0;padding:4px 12px;color:#3b4557\">{preview}</blockquote>\
         {button}\
         <p style=\"font-size:12px;color:#6b7385\">You get these emails because a case in Baton is yours. <a href=\"{unsub}\">Stop these emails</a>.</p>",
        lead = escape_html(&mail.lead),
        preview = escape_html(mail.preview),
        button = button(&mail.link, "Open the case"),
        unsub = escape_html(&mail.unsubscribe),
    );
    let message = Message::builder()
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("<{}>", mail.unsubscribe),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_string(),
        ));
    compose(
        message,
        mail.to_name,
        mail.to_email,
        mail.from,
        &mail.subject,
        text,
        &html,
    )
}

/// A service message to a workspace's admins (an integration switched off, …): no
/// unsubscribe, since it is about the workspace, not a teammate's own cases.
pub struct Alert<'a> {
    pub to_name: &'a str,
    pub to_email: &'a str,
    pub from: &'a str,
    pub subject: String,
    pub lead: String,
    pub link: String,
}

pub fn build_alert(alert: &Alert<'_>) -> anyhow::Result<Message> {
    let text = format!(
        "{}\n\nOpen Settings: {}\n\n--\nYou get this email because you administer this Baton workspace.\n",
        alert.lead, alert.link
    );
    let html = format!(
        "<p>{lead}</p>{button}\
         <p style=\"font-size:12px;color:#6b7385\">You get this email because you administer this Baton workspace.</p>",
        lead = escape_html(&alert.lead),
        button = button(&alert.link, "Open Settings"),
    );
    compose(
        Message::builder(),
        alert.to_name,
        alert.to_email,
        alert.from,
        &alert.subject,
        text,
        &html,
    )
}

fn button(link: &str, label: &str) -> String {
    format!(
        "<p><a href=\"{link}\" style=\"display:inline-block;background:#2952cc;color:#fff;padding:8px 14px;border-radius:6px;text-decoration:none\">{label}</a></p>",
        link = escape_html(link),
    )
}

/// Addresses, subject and the text and HTML parts of every email Baton sends its teammates.
fn compose(
    builder: lettre::message::MessageBuilder,
    to_name: &str,
    to_email: &str,
    from: &str,
    subject: &str,
    text: String,
    body_html: &str,
) -> anyhow::Result<Message> {
    let to = Mailbox::new(Some(one_line(to_name)), to_email.parse()?);
    let html = format!(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;color:#1d2433\">{body_html}</body></html>"
    );
    Ok(builder
        .from(from.parse()?)
        .to(to)
        .subject(one_line(subject))
        .multipart(MultiPart::alternative_plain_html(text, html))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail<'a>(name: &'a str, subject: &str, preview: &'a str) -> Mail<'a> {
        Mail {
            to_name: name,
            to_email: "dana@example.com",
            from: "Baton <baton@localhost>",
            subject: subject.to_string(),
            lead: "New message".into(),
            preview,
            link: "https://inbox.example.com/cases/1".into(),
            unsubscribe: "https://inbox.example.com/unsubscribe?t=x".into(),
        }
    }

    #[test]
    fn headers_cannot_be_injected_and_html_is_escaped() {
        let m = build(&mail(
            "Dana\r\nBcc: evil@example.com",
            "Hi\r\nBcc: evil@example.com",
            "<img src=x onerror=alert(1)>",
        ))
        .unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(
            !raw.lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{raw}"
        );
        // Bodies are quoted-printable: join soft line breaks and read `=3D` as `=`.
        let unwrapped = raw.replace("=\r\n", "").replace("=3D", "=");
        let html = unwrapped
            .split("Content-Type: text/html")
            .nth(1)
            .expect("an HTML part");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains("List-Unsubscribe: <https://inbox.example.com/unsubscribe?t=x>"));
    }
}

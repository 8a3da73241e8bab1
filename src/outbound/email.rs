//! Replies by email: the threaded message (`mail::compose`) sent through `--smtp-url`, or
//! written to `data/outbox/` when none is set. SMTP answers decide what happens next: 4xx and
//! connection trouble are retried, 5xx is permanent (RFC 5321 §4.2.1).

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{DeliveryError, Sender};
use crate::config::Config;
use crate::mail::{compose, token::ReplyTokens};
use crate::store::OutboundReply;

/// Well under the job lease (60 s): a send still waiting when the lease ends could be run a
/// second time by another instance.
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>),
}

pub struct EmailSender {
    transport: Transport,
    domain: String,
    tokens: ReplyTokens,
    /// The address replies come from when the workspace has no email channel.
    default_from: Mailbox,
    /// Where attachment bytes live (`crate::attachments`).
    data_dir: std::path::PathBuf,
}

impl EmailSender {
    pub fn new(config: &Config, domain: String, tokens: ReplyTokens) -> anyhow::Result<Self> {
        let transport = match &config.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
            None => {
                let dir = config.data_dir.join("outbox");
                std::fs::create_dir_all(&dir)?;
                Transport::Outbox(AsyncFileTransport::new(&dir))
            }
        };
        Ok(EmailSender {
            transport,
            domain,
            tokens,
            default_from: config.email_from.parse()?,
            data_dir: config.data_dir.clone(),
        })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn tokens(&self) -> &ReplyTokens {
        &self.tokens
    }

    fn from(&self, reply: &OutboundReply) -> Result<Mailbox, DeliveryError> {
        let (name, address) = match &reply.sender {
            Some((name, address)) => (
                name.clone(),
                address.parse().map_err(|e| {
                    DeliveryError::permanent(format!(
                        "the email channel's from_address is not valid: {e}"
                    ))
                })?,
            ),
            None => (
                reply.workspace_name.clone(),
                self.default_from.email.clone(),
            ),
        };
        Ok(Mailbox::new(
            Some(compose::from_name(reply.author_name.as_deref(), &name)),
            address,
        ))
    }
}

#[async_trait]
impl Sender for EmailSender {
    async fn deliver(&self, reply: &OutboundReply) -> Result<(), DeliveryError> {
        let to = reply
            .customer_email
            .as_deref()
            .ok_or_else(|| DeliveryError::permanent("the customer has no email address"))?;
        let reply_to = self
            .tokens
            .address(reply.workspace_id, reply.case_id, &self.domain);
        let mut files = Vec::with_capacity(reply.attachments.len());
        for file in &reply.attachments {
            let bytes = crate::attachments::read(&self.data_dir, &file.sha256)
                .await
                .map_err(|e| {
                    DeliveryError::temporary(format!("reading an attachment failed: {e}"))
                })?;
            files.push((file.attachment.clone(), bytes));
        }
        let message = compose::reply(reply, &files, self.from(reply)?, &reply_to, to)
            .map_err(|e| DeliveryError::permanent(format!("the email could not be built: {e}")))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(classify),
            Transport::Outbox(outbox) => outbox.send(message).await.map(|_| ()).map_err(|e| {
                DeliveryError::temporary(format!("writing to the outbox failed: {e}"))
            }),
        }
    }
}

fn classify(e: lettre::transport::smtp::Error) -> DeliveryError {
    let reason = format!("SMTP: {e}");
    if e.is_permanent() {
        DeliveryError::permanent(reason)
    } else {
        DeliveryError::temporary(reason)
    }
}

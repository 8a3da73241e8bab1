//! The embedded SMTP listener (`--smtp-listen ADDR`, off by default): the last hop of mail to
//! Baton. It accepts mail for reply addresses of the mail domain (`reply+{token}@…`, the token
//! verified at RCPT) and for each workspace's channel addresses, and refuses every other
//! recipient at RCPT (550): it never relays. Messages over `MAX_SIZE` are refused (552), at
//! MAIL when the client declares its SIZE (RFC 1870), else after DATA. An accepted message is
//! handed, with a `Delivered-To` line per envelope recipient, to the same use case as
//! `POST /api/inbound/email`, once per workspace it is for.
//!
//! No STARTTLS or AUTH: put it behind an MTA (Postfix) or a provider's forward for the open
//! internet, or expose it where only those reach it.

use std::time::Duration;

use crate::domain::ids::{CaseId, WorkspaceId};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::error::Error;
use crate::state::AppState;

/// The largest message accepted (RFC 1870 SIZE).
pub const MAX_SIZE: usize = crate::http::mail::MAX_MESSAGE;
/// Recipients of one message.
const MAX_RECIPIENTS: usize = 100;
/// How long a client may stay silent.
const IDLE: Duration = Duration::from_secs(300);
/// A command line (RFC 5321 §4.5.3.1.4 says 512; be lenient with extensions).
const MAX_LINE: usize = 4096;

/// Serves SMTP on `listener` until the task is dropped.
pub async fn serve(state: AppState, listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let (read, write) = stream.into_split();
            if let Err(e) = session(&state, BufReader::new(read), write).await {
                tracing::debug!(%peer, error = %e, "smtp session ended");
            }
        });
    }
}

struct Envelope {
    /// (recipient as given, its workspace)
    recipients: Vec<(String, WorkspaceId)>,
}

async fn session<R, W>(
    state: &AppState,
    mut read: BufReader<R>,
    mut write: W,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let domain = state.outbound.email.domain().to_string();
    reply(&mut write, &format!("220 {domain} Baton ESMTP ready")).await?;
    let mut envelope: Option<Envelope> = None;
    loop {
        let Some(line) = read_line(&mut read).await? else {
            return Ok(());
        };
        let Some(line) = line else {
            reply(&mut write, "500 5.5.2 line too long").await?;
            continue;
        };
        let upper = line.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("");
        match verb {
            "EHLO" => {
                envelope = None;
                let text = format!("250-{domain}\r\n250-SIZE {MAX_SIZE}\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES");
                reply(&mut write, &text).await?;
            }
            "HELO" => {
                envelope = None;
                reply(&mut write, &format!("250 {domain}")).await?;
            }
            "MAIL" if upper.starts_with("MAIL FROM:") => {
                let declared = upper
                    .split_whitespace()
                    .find_map(|p| p.strip_prefix("SIZE="))
                    .and_then(|n| n.parse::<usize>().ok());
                if declared.is_some_and(|n| n > MAX_SIZE) {
                    reply(
                        &mut write,
                        "552 5.3.4 message size exceeds fixed maximum message size",
                    )
                    .await?;
                } else {
                    envelope = Some(Envelope {
                        recipients: Vec::new(),
                    });
                    reply(&mut write, "250 2.1.0 OK").await?;
                }
            }
            "RCPT" if upper.starts_with("RCPT TO:") => {
                let Some(env) = envelope.as_mut() else {
                    reply(&mut write, "503 5.5.1 MAIL first").await?;
                    continue;
                };
                if env.recipients.len() >= MAX_RECIPIENTS {
                    reply(&mut write, "452 4.5.3 too many recipients").await?;
                    continue;
                }
                let address = path_of(&line["RCPT TO:".len()..]);
                match recipient_workspace(state, &domain, &address).await {
                    Ok(Some(ws)) => {
                        env.recipients.push((address, ws));
                        reply(&mut write, "250 2.1.5 OK").await?;
                    }
                    Ok(None) => {
                        reply(
                            &mut write,
                            "550 5.7.1 relaying denied: no such mailbox here",
                        )
                        .await?
                    }
                    Err(_) => reply(&mut write, "451 4.3.0 try again later").await?,
                }
            }
            "DATA" => {
                let Some(env) = envelope.take().filter(|e| !e.recipients.is_empty()) else {
                    reply(&mut write, "503 5.5.1 RCPT first").await?;
                    continue;
                };
                reply(&mut write, "354 end data with <CR><LF>.<CR><LF>").await?;
                let Some(raw) = read_data(&mut read).await? else {
                    reply(
                        &mut write,
                        "552 5.3.4 message size exceeds fixed maximum message size",
                    )
                    .await?;
                    continue;
                };
                let answer = deliver(state, &env, &raw).await;
                reply(&mut write, answer).await?;
            }
            "RSET" => {
                envelope = None;
                reply(&mut write, "250 2.0.0 OK").await?;
            }
            "NOOP" => reply(&mut write, "250 2.0.0 OK").await?,
            "VRFY" => reply(&mut write, "252 2.1.5 cannot verify").await?,
            "QUIT" => {
                reply(&mut write, "221 2.0.0 bye").await?;
                return Ok(());
            }
            "STARTTLS" | "AUTH" => reply(&mut write, "502 5.5.1 not offered").await?,
            _ => reply(&mut write, "500 5.5.2 command not recognized").await?,
        }
    }
}

/// The workspace mail to `address` belongs to: a verified reply address of the mail domain, or
/// a channel's address. `None` refuses the recipient.
async fn recipient_workspace(
    state: &AppState,
    domain: &str,
    address: &str,
) -> crate::error::Result<Option<WorkspaceId>> {
    let address = address.trim().to_ascii_lowercase();
    let Some((local, host)) = address.rsplit_once('@') else {
        return Ok(None);
    };
    if host == domain {
        if let Some(token) = local.strip_prefix("reply+") {
            let Some(case_id) = token
                .split_once('-')
                .and_then(|(c, _)| c.parse::<CaseId>().ok())
            else {
                return Ok(None);
            };
            let Some(ws) = state.store.workspace_of_case(case_id).await? else {
                return Ok(None);
            };
            return Ok(state.outbound.email.tokens().verify(ws, token).map(|_| ws));
        }
    }
    Ok(state.store.workspace_of_address(&address).await?)
}

/// Hands the message to each workspace it is for, with its envelope recipients prepended.
async fn deliver(state: &AppState, env: &Envelope, raw: &[u8]) -> &'static str {
    let mut workspaces: Vec<WorkspaceId> = env.recipients.iter().map(|(_, w)| *w).collect();
    workspaces.dedup();
    workspaces.sort();
    workspaces.dedup();
    for ws in workspaces {
        let mut message = Vec::with_capacity(raw.len() + 100);
        for (address, _) in env.recipients.iter().filter(|(_, w)| *w == ws) {
            message.extend_from_slice(format!("Delivered-To: {address}\r\n").as_bytes());
        }
        message.extend_from_slice(raw);
        match crate::service::inbound::receive_email(state, ws, &message).await {
            Ok(_) => {}
            Err(Error::Invalid { .. }) => return "550 5.6.0 the message could not be read",
            Err(e) => {
                tracing::warn!(error = %e, "smtp delivery failed");
                return "451 4.3.0 try again later";
            }
        }
    }
    "250 2.0.0 OK: queued"
}

/// `<a@b> PARAM=…` → `a@b`.
fn path_of(rest: &str) -> String {
    let rest = rest.trim();
    match (rest.find('<'), rest.find('>')) {
        (Some(a), Some(b)) if a < b => rest[a + 1..b].to_string(),
        _ => rest.split_whitespace().next().unwrap_or("").to_string(),
    }
}

async fn reply<W: AsyncWrite + Unpin>(write: &mut W, text: &str) -> std::io::Result<()> {
    write.write_all(text.as_bytes()).await?;
    write.write_all(b"\r\n").await?;
    write.flush().await
}

/// One command line: `None` at the end of the stream, `Some(None)` for a line too long.
async fn read_line<R: AsyncRead + Unpin>(
    read: &mut BufReader<R>,
) -> std::io::Result<Option<Option<String>>> {
    let mut buf = Vec::new();
    let n = tokio::time::timeout(
        IDLE,
        (&mut *read)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf),
    )
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))??;
    if n == 0 {
        return Ok(None);
    }
    if !buf.ends_with(b"\n") {
        // Too long: skip the rest of it.
        let mut rest = Vec::new();
        read.read_until(b'\n', &mut rest).await?;
        return Ok(Some(None));
    }
    Ok(Some(Some(
        String::from_utf8_lossy(&buf).trim_end().to_string(),
    )))
}

/// The message after DATA, dot-unstuffed: `None` when it was larger than `MAX_SIZE` (read to
/// its end all the same, so that the session can go on).
async fn read_data<R: AsyncRead + Unpin>(
    read: &mut BufReader<R>,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut message = Vec::new();
    let mut too_big = false;
    loop {
        let mut line = Vec::new();
        let n = tokio::time::timeout(IDLE, read.read_until(b'\n', &mut line))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))??;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "end of stream in DATA",
            ));
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok((!too_big).then_some(message));
        }
        let line = if line.starts_with(b".") {
            &line[1..]
        } else {
            &line[..]
        };
        if message.len() + line.len() > MAX_SIZE {
            too_big = true;
            message.clear();
        }
        if !too_big {
            message.extend_from_slice(line);
        }
    }
}

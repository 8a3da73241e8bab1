//! Reading customer mail from IMAP mailboxes: every email channel with `imap` settings has a
//! poller that logs in, opens the folder, takes each message not yet taken and hands it, raw,
//! to the same use case as the SMTP listener and `POST /api/inbound/email`.
//!
//! Each message is taken once, across restarts and instances:
//! - one instance at a time polls a channel: it holds a lease row in `imap_cursors`, renewed
//!   every `SCAN_EVERY` and given up at shutdown (a crashed holder's runs out after `LEASE`);
//! - the cursor (UIDVALIDITY and the last UID taken) is in the same row, moved after each
//!   message is filed;
//! - the window between filing and moving the cursor is closed by the inbound path itself,
//!   which files one Message-ID once per workspace (a message without one by its UID).
//!
//! A taken message is flagged `\Seen` and left in the mailbox. The poller waits with IDLE
//! (RFC 2177) where the server offers it, renewed every `IDLE_MAX`, else polls every `REPOLL`;
//! on errors it reconnects with backoff. Connections use TLS from the first byte (port 993);
//! plain IMAP is accepted by the settings only for a server on this machine.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_imap::types::{Flag, UnsolicitedResponse};
use async_imap::{Client, Session};
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::domain::ids::{ChannelId, WorkspaceId};
use crate::error::Error;
use crate::service::channels::ImapSettings;
use crate::service::inbound::FromMailbox;
use crate::state::AppState;
use crate::store::StoreError;

/// How often an instance looks for channels to poll and renews its leases; a change made on
/// another instance is noticed within this.
pub const SCAN_EVERY: Duration = Duration::from_secs(10);
/// How long a lease lasts unrenewed: how soon a crashed instance's mailboxes are taken over.
const LEASE: Duration = Duration::from_secs(60);
/// How often a server without IDLE is asked for new mail.
const REPOLL: Duration = Duration::from_secs(60);
/// The longest one IDLE runs before it is renewed (RFC 2177 asks for less than 29 minutes).
const IDLE_MAX: Duration = Duration::from_secs(25 * 60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest one command may take (a fetch of a large message included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// A connection to an IMAP server, with or without TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}
type ImapSession = Session<Box<dyn Io>>;

/// What went wrong with a mailbox, in words an admin can act on. Never holds the password.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("TLS with {0} failed: {1}")]
    Tls(String, String),
    #[error("{0} refused the login of {1:?}: {2}")]
    Login(String, String, String),
    #[error("the folder {0:?} cannot be opened: {1}")]
    Folder(String, String),
    #[error("{0} did not answer within {1} s")]
    Timeout(String, u64),
    #[error("IMAP: {0}")]
    Protocol(String),
    #[error("filing a message failed: {0}")]
    Store(#[from] Error),
}

impl From<StoreError> for ImapError {
    fn from(e: StoreError) -> Self {
        ImapError::Store(e.into())
    }
}

impl From<async_imap::error::Error> for ImapError {
    fn from(e: async_imap::error::Error) -> Self {
        ImapError::Protocol(e.to_string())
    }
}

/// Runs `command` with `COMMAND_TIMEOUT`.
async fn within<T, E: Into<ImapError>>(
    server: &str,
    command: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    tokio::time::timeout(COMMAND_TIMEOUT, command)
        .await
        .map_err(|_| ImapError::Timeout(server.to_string(), COMMAND_TIMEOUT.as_secs()))?
        .map_err(Into::into)
}

fn server_of(s: &ImapSettings) -> String {
    format!("{}:{}", s.host, s.port)
}

/// Rustls with Mozilla's roots (as the SMTP and HTTP clients): nothing read from the system.
fn tls_connector() -> tokio_rustls::TlsConnector {
    use tokio_rustls::rustls;
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Arc::new(config)
    });
    tokio_rustls::TlsConnector::from(config.clone())
}

/// Connects, reads the greeting and logs in.
async fn connect(s: &ImapSettings) -> Result<ImapSession, ImapError> {
    let server = server_of(s);
    let host = s.host.trim_start_matches('[').trim_end_matches(']');
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, s.port)))
        .await
        .map_err(|_| ImapError::Timeout(server.clone(), CONNECT_TIMEOUT.as_secs()))?
        .map_err(|e| ImapError::Connect(server.clone(), e.to_string()))?;
    let stream: Box<dyn Io> = if s.tls {
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| ImapError::Tls(server.clone(), e.to_string()))?;
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, tls_connector().connect(name, tcp))
            .await
            .map_err(|_| ImapError::Timeout(server.clone(), CONNECT_TIMEOUT.as_secs()))?
            .map_err(|e| ImapError::Tls(server.clone(), e.to_string()))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let mut client = Client::new(stream);
    match tokio::time::timeout(CONNECT_TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(_greeting))) => {}
        Ok(Ok(None)) => {
            return Err(ImapError::Connect(
                server,
                "the server closed the connection before greeting".into(),
            ))
        }
        Ok(Err(e)) => return Err(ImapError::Connect(server, e.to_string())),
        Err(_) => return Err(ImapError::Timeout(server, CONNECT_TIMEOUT.as_secs())),
    }
    tokio::time::timeout(COMMAND_TIMEOUT, client.login(&s.username, &s.password))
        .await
        .map_err(|_| ImapError::Timeout(server.clone(), COMMAND_TIMEOUT.as_secs()))?
        .map_err(|(e, _)| ImapError::Login(server, s.username.clone(), e.to_string()))
}

/// Opens the folder read-write (taking a message flags it `\Seen`).
async fn open(
    session: &mut ImapSession,
    s: &ImapSettings,
) -> Result<async_imap::types::Mailbox, ImapError> {
    match within(&server_of(s), session.select(&s.folder)).await {
        Err(ImapError::Protocol(why)) => Err(ImapError::Folder(s.folder.clone(), why)),
        other => other,
    }
}

/// `baton doctor`'s check of a channel's mailbox: log in, open the folder, log out.
pub async fn check(s: &ImapSettings) -> Result<String, ImapError> {
    let mut session = connect(s).await?;
    let mailbox = open(&mut session, s).await?;
    let idle = within(&server_of(s), session.capabilities())
        .await?
        .has_str("IDLE");
    let _ = within(&server_of(s), session.logout()).await;
    Ok(format!(
        "{} logs in as {:?}; folder {:?} has {} message(s); {}",
        server_of(s),
        s.username,
        s.folder,
        mailbox.exists,
        if idle {
            "new mail arrives at once (IDLE)"
        } else {
            "no IDLE: new mail is fetched every minute"
        }
    ))
}

/// The pollers of this instance, stopped (their leases given up) with `stop`.
pub struct Pollers {
    stop: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Pollers {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

pub fn spawn(state: AppState) -> Pollers {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    Pollers {
        stop,
        task: tokio::spawn(supervise(state, stopped)),
    }
}

struct Running {
    settings: ImapSettings,
    renewed: Instant,
    task: JoinHandle<()>,
}

/// Keeps one poller per channel this instance holds the lease of: starts, renews, restarts on
/// a change of settings, stops when the channel is deleted or no longer reads a mailbox.
async fn supervise(state: AppState, mut stopped: tokio::sync::watch::Receiver<bool>) {
    // Unique per run: a restarted instance does not mistake the old run's lease for its own.
    let holder = format!("{}/{}", state.instance, Uuid::new_v4().simple());
    let mut running: HashMap<ChannelId, Running> = HashMap::new();
    loop {
        scan(&state, &holder, &mut running).await;
        tokio::select! {
            _ = stopped.changed() => break,
            _ = state.mailboxes.notified() => {}
            _ = tokio::time::sleep(SCAN_EVERY) => {}
        }
    }
    for (id, poller) in running.drain() {
        poller.task.abort();
        let _ = poller.task.await;
        if let Err(e) = state.store.release_imap(id, &holder).await {
            tracing::warn!(channel_id = %id, error = %e, "giving up an IMAP lease failed; it runs out by itself");
        }
    }
}

async fn scan(state: &AppState, holder: &str, running: &mut HashMap<ChannelId, Running>) {
    let channels = match state.store.all_email_channels().await {
        Ok(channels) => channels,
        Err(e) => {
            tracing::warn!(error = %e, "listing the email channels to poll failed");
            // A lease that could not be renewed may pass to another instance: stop in time.
            running.retain(|_, p| {
                let fresh = p.renewed.elapsed() < LEASE / 2;
                if !fresh {
                    p.task.abort();
                }
                fresh
            });
            return;
        }
    };
    let wanted: HashMap<ChannelId, (WorkspaceId, ImapSettings)> = channels
        .into_iter()
        .filter_map(|(ws, c)| Some((c.id, (ws, ImapSettings::of(&c.settings)?))))
        .collect();
    let mut dropped = Vec::new();
    running.retain(|id, p| {
        let keep = wanted.get(id).is_some_and(|(_, s)| *s == p.settings) && !p.task.is_finished();
        if !keep {
            p.task.abort();
            dropped.push(*id);
        }
        keep
    });
    for id in dropped.into_iter().filter(|id| !wanted.contains_key(id)) {
        let _ = state.store.release_imap(id, holder).await;
    }
    for (id, (workspace_id, settings)) in wanted {
        match state.store.lease_imap(id, holder, LEASE).await {
            Ok(true) => match running.get_mut(&id) {
                Some(p) => p.renewed = Instant::now(),
                None => {
                    let task =
                        tokio::spawn(poll(state.clone(), workspace_id, id, settings.clone()));
                    running.insert(
                        id,
                        Running {
                            settings,
                            renewed: Instant::now(),
                            task,
                        },
                    );
                }
            },
            Ok(false) => {
                if let Some(p) = running.remove(&id) {
                    tracing::warn!(channel_id = %id, "another instance took over this mailbox");
                    p.task.abort();
                }
            }
            Err(e) => tracing::warn!(channel_id = %id, error = %e, "renewing an IMAP lease failed"),
        }
    }
}

/// Reads one channel's mailbox until aborted, reconnecting with backoff.
async fn poll(
    state: AppState,
    workspace_id: WorkspaceId,
    channel_id: ChannelId,
    settings: ImapSettings,
) {
    let mut backoff = BACKOFF_FIRST;
    loop {
        let mut connected = false;
        let Err(e) =
            read_mailbox(&state, workspace_id, channel_id, &settings, &mut connected).await;
        if connected {
            backoff = BACKOFF_FIRST;
        }
        tracing::warn!(
            %channel_id,
            server = %server_of(&settings),
            folder = %settings.folder,
            error = %e,
            retry_in_s = backoff.as_secs(),
            "reading the mailbox failed"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connection's life: log in, open the folder, take what is new, wait, again.
async fn read_mailbox(
    state: &AppState,
    workspace_id: WorkspaceId,
    channel_id: ChannelId,
    settings: &ImapSettings,
    connected: &mut bool,
) -> Result<Infallible, ImapError> {
    let server = server_of(settings);
    let mut session = connect(settings).await?;
    let mailbox = open(&mut session, settings).await?;
    *connected = true;
    let idle = within(&server, session.capabilities())
        .await?
        .has_str("IDLE");
    let mut place = Place {
        channel_id,
        workspace_id,
        mailbox: settings.mailbox(),
        uid_validity: i64::from(mailbox.uid_validity.unwrap_or(0)),
        last_uid: 0,
        fresh: false,
    };
    let cursor = state.store.imap_cursor(channel_id).await?;
    if cursor.mailbox.as_deref() == Some(place.mailbox.as_str())
        && cursor.uid_validity == place.uid_validity
    {
        place.last_uid = cursor.last_uid;
    } else {
        if cursor.mailbox.is_some() {
            tracing::info!(%channel_id, "the mailbox or its UIDVALIDITY changed: reading its unread mail again");
        }
        state
            .store
            .reset_imap_cursor(channel_id, &place.mailbox, place.uid_validity)
            .await?;
        place.fresh = true;
    }
    let unsolicited = session.unsolicited_responses.clone();
    loop {
        while unsolicited.try_recv().is_ok() {}
        take_new(state, &mut session, &server, &mut place).await?;
        if !idle {
            tokio::time::sleep(REPOLL).await;
            continue;
        }
        let mut waiting = session.idle();
        within(&server, waiting.init()).await?;
        // Mail that arrived while IDLE was starting was reported before the server's go-ahead.
        let arrived = std::iter::from_fn(|| unsolicited.try_recv().ok())
            .any(|r| matches!(r, UnsolicitedResponse::Exists(_)));
        if !arrived {
            let (wait, _interrupt) = waiting.wait_with_timeout(IDLE_MAX);
            // Keep-alives reset the wait's own timeout: this caps the whole IDLE.
            if let Ok(woken) = tokio::time::timeout(IDLE_MAX, wait).await {
                woken?;
            }
        }
        session = within(&server, waiting.done()).await?;
    }
}

/// Where a poller is in its mailbox.
struct Place {
    channel_id: ChannelId,
    workspace_id: WorkspaceId,
    mailbox: String,
    uid_validity: i64,
    last_uid: i64,
    /// Reading this mailbox (at this UIDVALIDITY) for the first time: mail already read in it
    /// is history, not new customer mail, and is left alone.
    fresh: bool,
}

/// Takes every message above the cursor, oldest first: files it, flags it `\Seen`, moves the
/// cursor past it.
async fn take_new(
    state: &AppState,
    session: &mut ImapSession,
    server: &str,
    place: &mut Place,
) -> Result<(), ImapError> {
    let listing = within(server, async {
        session
            .uid_fetch(
                format!("{}:*", place.last_uid + 1),
                "(UID FLAGS RFC822.SIZE)",
            )
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    // `n:*` always names the newest message, even when its UID is below n.
    let mut new: Vec<(u32, u32, bool)> = listing
        .iter()
        .filter_map(|f| {
            let seen = f.flags().any(|flag| matches!(flag, Flag::Seen));
            Some((f.uid?, f.size.unwrap_or(0), seen))
        })
        .filter(|(uid, _, _)| i64::from(*uid) > place.last_uid)
        .collect();
    new.sort_unstable();
    new.dedup_by_key(|(uid, _, _)| *uid);
    for (uid, size, seen) in new {
        if place.fresh && seen {
            // Already read before Baton was pointed at this mailbox.
        } else if size as usize > crate::http::mail::MAX_MESSAGE {
            tracing::warn!(channel_id = %place.channel_id, uid, size, "a message over the size limit was left in the mailbox");
        } else {
            take(state, session, server, place, uid).await?;
        }
        state
            .store
            .advance_imap_cursor(
                place.channel_id,
                &place.mailbox,
                place.uid_validity,
                i64::from(uid),
            )
            .await?;
        place.last_uid = i64::from(uid);
    }
    place.fresh = false;
    Ok(())
}

async fn take(
    state: &AppState,
    session: &mut ImapSession,
    server: &str,
    place: &Place,
    uid: u32,
) -> Result<(), ImapError> {
    let fetched = within(server, async {
        session
            .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    let Some(raw) = fetched
        .iter()
        .find(|f| f.uid == Some(uid))
        .and_then(|f| f.body())
    else {
        // Expunged since the listing.
        return Ok(());
    };
    let from = FromMailbox {
        channel_id: place.channel_id,
        uid_key: format!("{}:{}:{uid}", place.channel_id, place.uid_validity),
    };
    match crate::service::inbound::receive_email_from(state, place.workspace_id, raw, Some(&from))
        .await
    {
        Ok(_) => {}
        // A message that cannot be read never will be: leave it, go on with the next.
        Err(e @ (Error::Invalid { .. } | Error::TooLarge | Error::BadRequest(_))) => {
            tracing::warn!(channel_id = %place.channel_id, uid, error = %e, "a message that could not be read was left in the mailbox");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    within(server, async {
        session
            .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Seen)")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    Ok(())
}

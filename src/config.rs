//! Configuration: flags and `BATON_*` environment variables (DESIGN.md §5).
//!
//! `Config` is plain data so that tests and the load generator build one directly; `Cli` is the
//! command line that fills it.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub smtp_url: Option<String>,
    /// Where deep links point and what VAPID names as its subject; defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// Extra origins allowed to open sockets and send state-changing requests (exact match).
    pub allowed_origins: Vec<String>,
    pub data_dir: PathBuf,
    /// How long the `events` table keeps history for `resume`.
    pub event_retention: Duration,
    /// How long the audit log keeps an entry.
    pub audit_retention: Duration,
    /// Seed a demo workspace and keep feeding it customer messages.
    pub demo: bool,
    /// Name reported in `hello` frames and logs; defaults to a random id.
    pub instance_name: Option<String>,
    /// A socket whose outbound queue holds this many frames is closed ("reconnect and resume").
    pub socket_queue: usize,
    /// How long SIGTERM waits for in-flight work before exiting.
    pub shutdown_grace: Duration,
    /// VAPID private key (raw P-256, base64url); generated and stored on first start if unset.
    pub vapid_private_key: Option<String>,
    /// The VAPID `sub` claim (`mailto:…` or an https URL) push services use to reach you.
    pub vapid_contact: Option<String>,
    /// The `From` of notification emails.
    pub email_from: String,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for per-address limits).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Postgres connections per instance (instances × this must stay under `max_connections`).
    pub database_pool: u32,
    /// `redis_url` lists Redis Cluster seed nodes: use sharded pub/sub (SSUBSCRIBE/SPUBLISH).
    pub redis_cluster: bool,
    /// The domain of reply addresses (`reply+…@`) and Message-IDs; defaults to the public URL's
    /// host.
    pub mail_domain: Option<String>,
    /// Where the embedded SMTP listener accepts mail for Baton (off when unset).
    pub smtp_listen: Option<SocketAddr>,
    /// The first retry of a failed job waits twice this, each next one twice as long
    /// (capped at 10 minutes).
    pub retry_base: Duration,
    /// When SQLite syncs a commit to disk; Postgres keeps its own `synchronous_commit`.
    pub sqlite_synchronous: SqliteSynchronous,
}

/// What an answered SQLite write survives (SQLite's `PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SqliteSynchronous {
    /// The WAL is synced to disk before each commit returns: an answered write survives a
    /// power cut or a kernel crash.
    #[default]
    Full,
    /// The WAL is synced only at checkpoints: an answered write survives a crash of Baton, but a
    /// power cut or a kernel crash can roll back the last commits. Each write costs less.
    Normal,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("static address"),
            database_url: "sqlite://data/baton.db".into(),
            redis_url: None,
            smtp_url: None,
            public_url: None,
            allowed_origins: Vec::new(),
            data_dir: PathBuf::from("data"),
            event_retention: Duration::from_secs(7 * 24 * 3600),
            audit_retention: Duration::from_secs(365 * 24 * 3600),
            demo: false,
            instance_name: None,
            socket_queue: 256,
            shutdown_grace: Duration::from_secs(10),
            vapid_private_key: None,
            vapid_contact: None,
            email_from: "Baton <notifications@localhost>".into(),
            trusted_proxies: Vec::new(),
            database_pool: 16,
            redis_cluster: false,
            mail_domain: None,
            smtp_listen: None,
            retry_base: Duration::from_secs(1),
            sqlite_synchronous: SqliteSynchronous::Full,
        }
    }
}

/// Secrets (passwords inside URLs) never reach a log line.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("public_url", &self.public_url)
            .field("allowed_origins", &self.allowed_origins)
            .field("data_dir", &self.data_dir)
            .field("event_retention", &self.event_retention)
            .field("audit_retention", &self.audit_retention)
            .field("demo", &self.demo)
            .field("mail_domain", &self.mail_domain)
            .field("smtp_listen", &self.smtp_listen)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .finish_non_exhaustive()
    }
}

/// `scheme://user:secret@host/db` → `scheme://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "baton",
    version,
    about = "Baton: a real-time team inbox server"
)]
pub struct Cli {
    #[arg(long, env = "BATON_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[arg(
        long,
        env = "BATON_DATABASE_URL",
        default_value = "sqlite://data/baton.db",
        hide_env_values = true
    )]
    pub database_url: String,
    #[arg(long, env = "BATON_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    #[arg(long, env = "BATON_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    #[arg(long, env = "BATON_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Comma-separated list of origins, e.g. `https://inbox.example.com`.
    #[arg(long, env = "BATON_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    #[arg(long, env = "BATON_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    #[arg(long, env = "BATON_EVENT_RETENTION_DAYS", default_value_t = 7)]
    pub event_retention_days: u64,
    /// Days the audit log keeps an entry (sign-ins, admin actions).
    #[arg(long, env = "BATON_AUDIT_RETENTION_DAYS", default_value_t = 365)]
    pub audit_retention_days: u64,
    #[arg(long, env = "BATON_INSTANCE_NAME")]
    pub instance_name: Option<String>,
    #[arg(long, env = "BATON_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    #[arg(long, env = "BATON_VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<String>,
    /// `mailto:you@example.com` or an https URL.
    #[arg(long, env = "BATON_VAPID_CONTACT")]
    pub vapid_contact: Option<String>,
    #[arg(
        long,
        env = "BATON_EMAIL_FROM",
        default_value = "Baton <notifications@localhost>"
    )]
    pub email_from: String,
    /// Comma-separated addresses of reverse proxies in front of Baton (e.g. `127.0.0.1`).
    #[arg(long, env = "BATON_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    #[arg(long, env = "BATON_DATABASE_POOL", default_value_t = 16)]
    pub database_pool: u32,
    /// BATON_REDIS_URL names Redis Cluster seed nodes (comma-separated): sharded pub/sub.
    #[arg(long, env = "BATON_REDIS_CLUSTER")]
    pub redis_cluster: bool,
    /// Domain of reply addresses and Message-IDs (default: the host of --public-url).
    #[arg(long, env = "BATON_MAIL_DOMAIN")]
    pub mail_domain: Option<String>,
    /// Receive mail by SMTP on this address (e.g. `0.0.0.0:2525`): mail for reply addresses
    /// and channel addresses only, never relayed. Off by default.
    #[arg(long, env = "BATON_SMTP_LISTEN")]
    pub smtp_listen: Option<SocketAddr>,
    /// `full`: an answered write is on disk (survives a power cut). `normal`: cheaper writes that
    /// survive a crash of Baton but not of the machine. SQLite only.
    #[arg(long, env = "BATON_SQLITE_SYNCHRONOUS", value_enum, default_value_t = SqliteSynchronous::Full)]
    pub sqlite_synchronous: SqliteSynchronous,
    /// Seed a demo workspace, print its logins and feed it a calm stream of customer messages.
    #[arg(long)]
    pub demo: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the database migrations and exit.
    Migrate,
    /// Check the configuration and every dependency, and say what is wrong.
    Doctor,
    /// Copy the live SQLite database and the attachments into one archive, while the server
    /// runs (Postgres: see the README for pg_dump).
    Backup {
        /// The archive to write (`.tar.gz`).
        file: PathBuf,
    },
    /// Create workspaces of teammates for a load test, each teammate with an API token, and
    /// print them as JSON. No one can sign in to them with a password.
    LoadTestAccounts {
        #[arg(long, default_value_t = 1)]
        workspaces: usize,
        /// Teammates per workspace, the owner included.
        #[arg(long, default_value_t = 5)]
        teammates: usize,
    },
    /// Restore a backup into the configured database and data dir. Refuses while a server
    /// runs on the data dir.
    Restore {
        /// An archive written by `baton backup`.
        file: PathBuf,
        /// Replace the database (and attachments) that are already there.
        #[arg(long)]
        force: bool,
    },
}

impl Cli {
    pub fn into_config(self) -> Config {
        Config {
            listen: self.listen,
            database_url: self.database_url,
            redis_url: self.redis_url.filter(|u| !u.is_empty()),
            smtp_url: self.smtp_url.filter(|u| !u.is_empty()),
            public_url: self.public_url.filter(|u| !u.is_empty()),
            allowed_origins: self
                .allowed_origins
                .into_iter()
                .filter(|o| !o.is_empty())
                .collect(),
            data_dir: self.data_dir,
            event_retention: Duration::from_secs(self.event_retention_days * 24 * 3600),
            audit_retention: Duration::from_secs(self.audit_retention_days * 24 * 3600),
            demo: self.demo,
            instance_name: self.instance_name,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            vapid_private_key: self.vapid_private_key.filter(|k| !k.is_empty()),
            vapid_contact: self.vapid_contact.filter(|c| !c.is_empty()),
            email_from: self.email_from,
            trusted_proxies: self.trusted_proxies,
            database_pool: self.database_pool.max(1),
            redis_cluster: self.redis_cluster,
            mail_domain: self.mail_domain.filter(|d| !d.trim().is_empty()),
            smtp_listen: self.smtp_listen,
            sqlite_synchronous: self.sqlite_synchronous,
            ..Config::default()
        }
    }
}

impl Config {
    /// The origin (`scheme://host[:port]`) this server is reached at.
    pub fn public_origin(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{bound}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_passwords() {
        let config = Config {
            database_url: "postgres://baton:hunter2@db/baton".into(),
            redis_url: Some("redis://:s3cret@cache:6379".into()),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://baton:***@db/baton"), "{shown}");
    }
}

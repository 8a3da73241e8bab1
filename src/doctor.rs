//! `baton doctor`: checks the configuration and every dependency, and says what is wrong in
//! plain words. Exits non-zero when something would stop Baton from working.

use std::time::Duration;

use crate::config::{redact_url, Config};

struct Report {
    problems: usize,
}

impl Report {
    fn ok(&self, what: &str, detail: impl std::fmt::Display) {
        println!("  ok      {what}: {detail}");
    }

    fn warn(&self, what: &str, detail: impl std::fmt::Display) {
        println!("  note    {what}: {detail}");
    }

    fn fail(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.problems += 1;
        println!("  PROBLEM {what}: {detail}");
    }
}

pub async fn run(config: &Config) -> anyhow::Result<bool> {
    let mut r = Report { problems: 0 };
    println!("Checking Baton's configuration and dependencies:");

    let mut mailboxes = None;
    match tokio::time::timeout(
        Duration::from_secs(10),
        crate::store::connect_with(&config.database_url, config.into()),
    )
    .await
    {
        Ok(Ok(store)) => match store.ping().await {
            Ok(()) => {
                r.ok(
                    "database",
                    format!(
                        "{} reachable, migrations applied",
                        redact_url(&config.database_url)
                    ),
                );
                match store.durability().await {
                    Ok(d) if d.survives_power_loss() => r.ok("durability", d.describe()),
                    Ok(d) => r.warn("durability", d.describe()),
                    Err(e) => r.fail("durability", format!("could not read the settings: {e}")),
                }
                match store.all_email_channels().await {
                    Ok(channels) => mailboxes = Some(channels),
                    Err(e) => r.fail("channels", format!("could not be read: {e}")),
                }
            }
            Err(e) => r.fail("database", format!("connected but a query failed: {e}")),
        },
        Ok(Err(e)) => r.fail(
            "database",
            format!("cannot open {}: {e:#}", redact_url(&config.database_url)),
        ),
        Err(_) => r.fail(
            "database",
            format!(
                "{} did not answer within 10 s",
                redact_url(&config.database_url)
            ),
        ),
    }

    match &config.redis_url {
        None => r.ok(
            "bus",
            "in-process (single instance; set BATON_REDIS_URL to run several)",
        ),
        Some(url) => {
            let check = async {
                let client = redis::Client::open(url.as_str())?;
                let mut conn = client.get_multiplexed_async_connection().await?;
                let pong: String = redis::cmd("PING").query_async(&mut conn).await?;
                anyhow::Ok(pong)
            };
            match tokio::time::timeout(Duration::from_secs(5), check).await {
                Ok(Ok(_)) => r.ok("redis", format!("{} answers PING", redact_url(url))),
                Ok(Err(e)) => r.fail("redis", format!("cannot reach {}: {e}", redact_url(url))),
                Err(_) => r.fail(
                    "redis",
                    format!("{} did not answer within 5 s", redact_url(url)),
                ),
            }
        }
    }

    match &config.smtp_url {
        None => r.ok(
            "email",
            format!(
                "written as .eml files to {} (set BATON_SMTP_URL to send)",
                config.data_dir.join("outbox").display()
            ),
        ),
        Some(url) => match lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url) {
            Ok(builder) => {
                let transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor> =
                    builder.timeout(Some(Duration::from_secs(5))).build();
                match transport.test_connection().await {
                    Ok(true) => r.ok("smtp", format!("{} accepts connections", redact_url(url))),
                    Ok(false) => r.fail(
                        "smtp",
                        format!("{} did not accept the connection", redact_url(url)),
                    ),
                    Err(e) => r.fail("smtp", format!("cannot talk to {}: {e}", redact_url(url))),
                }
            }
            Err(e) => r.fail(
                "smtp",
                format!("BATON_SMTP_URL is not a usable SMTP URL: {e}"),
            ),
        },
    }

    for (_, channel) in mailboxes.unwrap_or_default() {
        let Some(imap) = crate::service::channels::ImapSettings::of(&channel.settings) else {
            continue;
        };
        let what = format!("imap ({})", channel.name);
        match tokio::time::timeout(Duration::from_secs(30), crate::imap::check(&imap)).await {
            Ok(Ok(detail)) => r.ok(&what, detail),
            Ok(Err(e)) => r.fail(&what, e),
            Err(_) => r.fail(
                &what,
                format!("{}:{} did not answer within 30 s", imap.host, imap.port),
            ),
        }
    }

    match &config.public_url {
        None => r.warn(
            "public url",
            format!("not set: links in emails point at http://{}", config.listen),
        ),
        Some(u) => match url::Url::parse(u) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.path() == "/" => {
                if parsed.scheme() == "http" {
                    r.warn("public url", format!("{u} is plain http: cookies are not marked Secure and browsers refuse Web Push outside localhost"));
                } else {
                    r.ok("public url", u);
                }
            }
            _ => r.fail(
                "public url",
                format!("{u:?} must be scheme://host[:port] with no path"),
            ),
        },
    }
    for origin in &config.allowed_origins {
        if url::Url::parse(origin).map_or(true, |u| u.origin().ascii_serialization() != *origin) {
            r.fail("allowed origins", format!("{origin:?} is not an origin like https://inbox.example.com (no path, no trailing slash)"));
        }
    }

    if let Some(key) = &config.vapid_private_key {
        match web_push::VapidSignatureBuilder::from_base64_no_sub(key) {
            Ok(_) => r.ok("vapid key", "the configured private key is valid"),
            Err(e) => r.fail(
                "vapid key",
                format!("BATON_VAPID_PRIVATE_KEY is not a base64url P-256 private key: {e}"),
            ),
        }
    }
    if let Some(contact) = &config.vapid_contact {
        if !(contact.starts_with("mailto:") || contact.starts_with("https://")) {
            r.fail(
                "vapid contact",
                format!("{contact:?} must start with mailto: or https://"),
            );
        }
    }

    let probe = config.data_dir.join(".doctor-probe");
    match std::fs::create_dir_all(&config.data_dir).and_then(|_| std::fs::write(&probe, b"ok")) {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            r.ok(
                "data dir",
                format!("{} is writable", config.data_dir.display()),
            );
        }
        Err(e) => r.fail(
            "data dir",
            format!("cannot write to {}: {e}", config.data_dir.display()),
        ),
    }

    #[cfg(unix)]
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        if let Some(soft) = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|n| n.parse::<u64>().ok())
        {
            if soft < 4096 {
                r.warn("open files", format!("the limit is {soft}: each teammate's tab holds one socket; raise it (LimitNOFILE=65536 in the systemd unit)"));
            } else {
                r.ok(
                    "open files",
                    format!("up to {soft} (about that many sockets)"),
                );
            }
        }
    }

    if r.problems == 0 {
        println!("Everything Baton needs is in place.");
    } else {
        println!("{} problem(s) found.", r.problems);
    }
    Ok(r.problems == 0)
}

//! The servers under test: the ones `--url` names, or instances this tool starts (`--spawn`) on
//! a fresh SQLite file or a fresh Postgres database, stopped and dropped again at the end. With
//! `--server socketio` or `bare` the instances started are that peer instead of Baton.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::accounts::{bulk_workspaces, Workspace};
use crate::cli::{Common, ServerKind};
use crate::host::{proc_sample, ProcSample};

/// One instance: its base URL, address and process (ours to stop when we started it).
pub struct Server {
    pub kind: ServerKind,
    pub url: String,
    pub addr: SocketAddr,
    pub pid: Option<u32>,
    child: Option<std::process::Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            for _ in 0..100 {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The instances of a run and their database (a Postgres one this tool created is dropped).
pub struct Servers {
    pub list: Vec<Server>,
    /// The database of spawned servers.
    pub db_url: Option<String>,
    pub db_desc: String,
    drop_db: Option<(String, String)>,
    /// The spawned servers' SQLite file and data directories, removed with them.
    run_dir: Option<std::path::PathBuf>,
    /// Accounts written before the servers started (`servers_with_accounts`).
    pub accounts: Option<Vec<Workspace>>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.list.clear();
        if let Some((admin, name)) = self.drop_db.take() {
            let _ = std::process::Command::new("psql")
                .arg(format!("{admin}/postgres"))
                .arg("-q")
                .arg("-c")
                .arg(format!("DROP DATABASE IF EXISTS {name}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if let Some(dir) = self.run_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn loopback_addr(url: &str) -> Result<SocketAddr> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("only http:// URLs: {url}"))?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    let hostport = hostport.replace("localhost", "127.0.0.1");
    let addr: SocketAddr = hostport
        .parse()
        .with_context(|| format!("{url}: need an IP address and a port"))?;
    if !addr.ip().is_loopback() {
        bail!("{url}: baton-bench only targets loopback addresses");
    }
    Ok(addr)
}

async fn wait_ready(http: &reqwest::Client, url: &str) -> Result<()> {
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} did not become ready")
}

/// The servers of a run: `--url`s, after checking they are loopback and ready, or `--spawn`ed.
pub async fn servers(
    c: &Common,
    default_instances: usize,
    http: &reqwest::Client,
) -> Result<Servers> {
    servers_with(c, default_instances, http, &[]).await
}

/// `servers`, with extra environment for the servers it spawns.
pub async fn servers_with(
    c: &Common,
    default_instances: usize,
    http: &reqwest::Client,
    env: &[(&str, &str)],
) -> Result<Servers> {
    open_servers(c, default_instances, http, env, None).await
}

/// `servers`, spawning Baton on a database that already holds `workspaces` workspaces of
/// `teammates` each, written by `baton load-test-accounts` before the servers start (SQLite
/// takes no second writer while a server runs). They are in `Servers::accounts`.
pub async fn servers_with_accounts(
    c: &Common,
    default_instances: usize,
    http: &reqwest::Client,
    workspaces: usize,
    teammates: usize,
) -> Result<Servers> {
    if !c.spawn || c.server != ServerKind::Baton {
        bail!("--bulk-accounts needs --spawn and --server baton");
    }
    let seed = Some((workspaces, teammates));
    open_servers(c, default_instances, http, &[], seed).await
}

/// The servers of a run: the ones given by URL, a spawned peer, or spawned Baton instances on a
/// fresh database, holding `seed` accounts (workspaces, teammates each) written before they start.
async fn open_servers(
    c: &Common,
    default_instances: usize,
    http: &reqwest::Client,
    env: &[(&str, &str)],
    seed: Option<(usize, usize)>,
) -> Result<Servers> {
    if !c.spawn {
        if c.urls.is_empty() {
            bail!("give --url (and --pid) or --spawn");
        }
        let mut list = vec![];
        for (i, u) in c.urls.iter().enumerate() {
            let u = u.trim_end_matches('/').to_string();
            let addr = loopback_addr(&u)?;
            wait_ready(http, &u).await?;
            list.push(Server {
                kind: c.server,
                url: u,
                addr,
                pid: c.pids.get(i).copied(),
                child: None,
            });
        }
        return Ok(Servers {
            list,
            db_url: None,
            db_desc: "external".into(),
            drop_db: None,
            run_dir: None,
            accounts: None,
        });
    }
    let n = c.instances.unwrap_or(default_instances).max(1);
    if c.server != ServerKind::Baton {
        if c.db != "sqlite" {
            bail!("--server {:?}: the peers run on SQLite only", c.server);
        }
        if c.server == ServerKind::Bare && n > 1 {
            bail!(
                "--server bare: one instance only (it shares nothing between processes), \
                 so not in cluster nor with --instances above 1"
            );
        }
        return spawn_peer(c, n, http).await;
    }
    let postgres = c.db == "postgres" || n > 1;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let run = &run_id[..10];
    let dir = std::env::temp_dir().join(format!("baton-bench-{run}"));
    std::fs::create_dir_all(&dir)?;
    let (db_url, drop_db, db_desc) = if postgres {
        let name = format!("baton_bench_{run}");
        let admin = c.postgres.trim_end_matches('/').to_string();
        let st = std::process::Command::new("psql")
            .arg(format!("{admin}/postgres"))
            .arg("-q")
            .arg("-c")
            .arg(format!("CREATE DATABASE {name}"))
            .status()
            .context("psql (needed to create the Postgres database)")?;
        if !st.success() {
            bail!("could not create database {name}");
        }
        (
            format!("{admin}/{name}"),
            Some((admin, name)),
            "postgres".to_string(),
        )
    } else {
        (
            format!("sqlite://{}/baton.db", dir.display()),
            None,
            "sqlite".to_string(),
        )
    };
    let bin = baton_bin(c)?;
    if c.keep_db {
        eprintln!("keeping the database: {db_url}");
    }
    let accounts = match seed {
        Some((workspaces, teammates)) => {
            Some(bulk_workspaces(&bin, &db_url, workspaces, teammates).await?)
        }
        None => None,
    };
    let mut out = Servers {
        list: vec![],
        db_url: Some(db_url.clone()),
        db_desc,
        drop_db: drop_db.filter(|_| !c.keep_db),
        run_dir: Some(dir.clone()).filter(|_| !c.keep_db),
        accounts,
    };
    for i in 0..n {
        let addr = free_loopback_addr()?;
        let data = dir.join(format!("i{i}"));
        std::fs::create_dir_all(&data)?;
        let mut cmd = std::process::Command::new(&bin);
        cmd.env("BATON_LISTEN", addr.to_string())
            .env("BATON_DATABASE_URL", &db_url)
            .env("BATON_DATA_DIR", &data)
            .env("BATON_INSTANCE_NAME", format!("bench-{i}"))
            .env("BATON_LOG", "warn")
            .env_remove("BATON_REDIS_URL")
            .current_dir(&data)
            .stdout(Stdio::null());
        if n > 1 {
            cmd.env("BATON_REDIS_URL", &c.redis);
        }
        cmd.envs(env.iter().copied());
        let child = cmd
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        let url = format!("http://{addr}");
        out.list.push(Server {
            kind: ServerKind::Baton,
            url: url.clone(),
            addr,
            pid: Some(child.id()),
            child: Some(child),
        });
        // The first instance applies the migrations; start the others after it is ready.
        wait_ready(http, &url).await?;
    }
    Ok(out)
}

/// A loopback address with a port nobody listens on (yet).
fn free_loopback_addr() -> Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// `n` instances of a peer (`--server socketio` or `bare`), each on a free loopback port. The
/// Socket.IO ones share one SQLite file in a fresh directory and, when there are several, reach
/// each other's sockets through Redis (`--redis`) with Socket.IO's Redis adapter.
async fn spawn_peer(c: &Common, n: usize, http: &reqwest::Client) -> Result<Servers> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let dir = std::env::temp_dir().join(format!("baton-bench-{}", &run_id[..10]));
    std::fs::create_dir_all(&dir)?;
    let db_desc = match c.server {
        ServerKind::Socketio => "sqlite (better-sqlite3)",
        _ => "none",
    };
    let mut out = Servers {
        list: vec![],
        db_url: None,
        db_desc: db_desc.into(),
        drop_db: None,
        run_dir: Some(dir.clone()),
        accounts: None,
    };
    for _ in 0..n {
        let addr = free_loopback_addr()?;
        let mut cmd = match c.server {
            ServerKind::Socketio => {
                let script = std::path::absolute(&c.socketio_script)?;
                let mut cmd = std::process::Command::new(&c.node);
                cmd.arg(&script)
                    .env("PEER_DB", dir.join("peer.db"))
                    .env("NODE_ENV", "production")
                    .env_remove("PEER_REDIS");
                if n > 1 {
                    cmd.env("PEER_REDIS", &c.redis);
                }
                cmd
            }
            _ => std::process::Command::new(match &c.server_bin {
                Some(b) => std::path::absolute(b)?,
                None => std::env::current_exe()?.with_file_name("bare-writer"),
            }),
        };
        cmd.env("PEER_LISTEN", addr.to_string())
            .current_dir(&dir)
            .stdout(Stdio::null());
        let child = cmd
            .spawn()
            .with_context(|| format!("spawn the {:?} peer", c.server))?;
        let url = format!("http://{addr}");
        out.list.push(Server {
            kind: c.server,
            url: url.clone(),
            addr,
            pid: Some(child.id()),
            child: Some(child),
        });
        // The first instance creates the SQLite tables; start the others after it is ready.
        wait_ready(http, &url).await?;
    }
    Ok(out)
}

/// The `baton` binary to spawn: absolute, since each server runs in its own data directory.
fn baton_bin(c: &Common) -> Result<std::path::PathBuf> {
    Ok(match &c.server_bin {
        Some(b) => std::path::absolute(b)?,
        None => std::env::current_exe()?.with_file_name("baton"),
    })
}

/// CPU and memory of each server process whose pid is known.
pub fn sample_servers(s: &Servers) -> Vec<Option<ProcSample>> {
    s.list.iter().map(|x| x.pid.and_then(proc_sample)).collect()
}

/// The servers' memory once it stops moving: sampled every second until no server's RSS changed
/// by more than 1 MiB over three samples in a row, for at most `limit` seconds. An allocator gives
/// freed pages back over a few seconds, so a single sample right after a burst (account setup,
/// sockets closing) says more about the burst than about what the server holds.
pub async fn settled_servers(s: &Servers, limit: f64) -> Vec<Option<ProcSample>> {
    let started = std::time::Instant::now();
    let mut last = sample_servers(s);
    let mut still_for = 0;
    while started.elapsed().as_secs_f64() < limit {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let now = sample_servers(s);
        let still = last.iter().zip(&now).all(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => a.rss_kib.abs_diff(b.rss_kib) <= 1024,
            _ => true,
        });
        last = now;
        still_for = if still { still_for + 1 } else { 0 };
        if still_for == 3 {
            break;
        }
    }
    last
}

//! `baton backup FILE` and `baton restore FILE` (DESIGN.md §7, Trust), and the lock that tells
//! a restore a server is using the data dir.
//!
//! A backup is one `.tar.gz`: `backup.json` (format, version, when), `baton.db` (a consistent
//! copy of the live SQLite database made with `VACUUM INTO`, which reads one snapshot while the
//! server keeps writing) and `attachments/` (the stored bytes, copied after the database, so
//! every row in the copy finds its file). Postgres has its own tools: `pg_dump` and
//! `pg_restore`, plus the attachments folder (README, "Backup and restore").
//!
//! Every server holds a shared advisory lock on `DATA_DIR/baton.lock` while it runs (several
//! instances may share a data dir); a restore takes it exclusively, so it refuses while any
//! server runs there and a server refuses to start while a restore runs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::config::Config;

/// The backup format's version, in `backup.json`.
pub const FORMAT_VERSION: u32 = 1;
const LOCK_FILE: &str = "baton.lock";
const DATABASE_ENTRY: &str = "baton.db";
const ATTACHMENTS: &str = "attachments";

/// The lock a running server holds on its data dir; released when dropped (or the process
/// ends, however it ends).
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    fn open(data_dir: &Path) -> anyhow::Result<File> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
        let path = data_dir.join(LOCK_FILE);
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))
    }

    /// A server's lock: shared with other servers on the same data dir, refused while a
    /// restore holds it.
    pub fn for_server(data_dir: &Path) -> anyhow::Result<DataDirLock> {
        let file = Self::open(data_dir)?;
        if file.try_lock_shared().is_err() {
            bail!(
                "a restore is running on the data dir {}; start Baton when it is done",
                data_dir.display()
            );
        }
        Ok(DataDirLock { _file: file })
    }

    /// A restore's lock: refused while any server runs on the data dir.
    pub fn for_restore(data_dir: &Path) -> anyhow::Result<DataDirLock> {
        let file = Self::open(data_dir)?;
        if file.try_lock().is_err() {
            bail!(
                "a Baton server is running on the data dir {}: stop it before restoring (restore refuses to overwrite a running server's data)",
                data_dir.display()
            );
        }
        Ok(DataDirLock { _file: file })
    }
}

/// The SQLite database file a URL names; an error for anything else, naming Postgres's tools.
fn sqlite_path(config: &Config, what: &str) -> anyhow::Result<PathBuf> {
    let url = &config.database_url;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        bail!(
            "{what} handles SQLite; for Postgres use pg_dump and pg_restore, and copy the attachments folder {} (README, \"Backup and restore\")",
            config.data_dir.join(ATTACHMENTS).display()
        );
    }
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        bail!(
            "{what} needs a SQLite database file, not {}",
            crate::config::redact_url(url)
        );
    }
    Ok(SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_path_buf())
}

/// What a backup wrote.
#[derive(Debug)]
pub struct BackupSummary {
    pub database_bytes: u64,
    pub attachments: u64,
}

/// `baton backup FILE`: the live database and the attachments into one archive. The archive
/// is written next to `file` under a temporary name and renamed when complete, so `file` is
/// either the previous backup or a whole new one.
pub async fn backup(config: &Config, file: &Path) -> anyhow::Result<BackupSummary> {
    let db = sqlite_path(config, "baton backup")?;
    if !db.exists() {
        bail!("there is no database at {}", db.display());
    }
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let work = tempfile::Builder::new()
        .prefix(".baton-backup-")
        .tempdir_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let copy = work.path().join(DATABASE_ENTRY);
    let mut conn = SqliteConnectOptions::from_str(&config.database_url)?
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await
        .with_context(|| format!("cannot open {}", db.display()))?;
    sqlx::query("VACUUM INTO $1")
        .bind(copy.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await
        .context("copying the database (VACUUM INTO)")?;
    conn.close().await?;

    let attachments_dir = config.data_dir.join(ATTACHMENTS);
    let archive_tmp = work.path().join("archive.tar.gz");
    let summary = tokio::task::spawn_blocking({
        let archive_tmp = archive_tmp.clone();
        move || write_backup(&archive_tmp, &copy, &attachments_dir)
    })
    .await??;
    std::fs::rename(&archive_tmp, file)
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(summary)
}

fn write_backup(
    archive: &Path,
    database: &Path,
    attachments_dir: &Path,
) -> anyhow::Result<BackupSummary> {
    let out = File::create(archive)?;
    let gzip =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(out), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gzip);
    let about = serde_json::to_vec_pretty(&serde_json::json!({
        "format": "baton-backup",
        "version": FORMAT_VERSION,
        "database": "sqlite",
        "created_at": chrono::Utc::now(),
        "baton": env!("CARGO_PKG_VERSION"),
    }))?;
    crate::service::export::append_entry(&mut tar, "backup.json", about.len() as u64, &about[..])?;
    let database_bytes = std::fs::metadata(database)?.len();
    tar.append_path_with_name(database, DATABASE_ENTRY)?;
    let mut attachments = 0;
    if attachments_dir.is_dir() {
        for shard in std::fs::read_dir(attachments_dir)? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(shard.path())? {
                let entry = entry?;
                let name = entry.file_name();
                // A file still being written has a dot name; its row is not committed either.
                if name.to_string_lossy().starts_with('.') || !entry.file_type()?.is_file() {
                    continue;
                }
                let inside = Path::new(ATTACHMENTS).join(shard.file_name()).join(&name);
                match File::open(entry.path()) {
                    Ok(mut f) => tar.append_file(&inside, &mut f)?,
                    // Erased between listing and copying: its row is gone too.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                }
                attachments += 1;
            }
        }
    }
    let gzip = tar.into_inner()?;
    let out = gzip.finish()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(BackupSummary {
        database_bytes,
        attachments,
    })
}

/// `baton restore FILE`: puts a backup's database where the configured URL names it and its
/// attachments under the configured data dir. Refuses while a server runs on the data dir, and
/// refuses to replace an existing database unless `force`.
pub async fn restore(config: &Config, file: &Path, force: bool) -> anyhow::Result<()> {
    let db = sqlite_path(config, "baton restore")?;
    let _lock = DataDirLock::for_restore(&config.data_dir)?;
    if db.exists() && !force {
        bail!(
            "{} already holds a database: pass --force to replace it (and the attachments in {}) with the backup",
            db.display(),
            config.data_dir.display()
        );
    }
    let staging = tempfile::Builder::new()
        .prefix(".baton-restore-")
        .tempdir_in(&config.data_dir)?;
    let archive = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let into = staging.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(
            archive,
        )))
        .unpack(&into)
    })
    .await?
    .with_context(|| format!("{} is not a readable backup archive", file.display()))?;

    let about: serde_json::Value = serde_json::from_slice(
        &std::fs::read(staging.path().join("backup.json")).with_context(|| {
            format!("{} is not a Baton backup (no backup.json)", file.display())
        })?,
    )?;
    if about["format"] != "baton-backup" || about["version"].as_u64() != Some(FORMAT_VERSION as u64)
    {
        bail!(
            "{} is not a Baton backup of a version this build reads",
            file.display()
        );
    }
    let restored = staging.path().join(DATABASE_ENTRY);
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}", restored.display()))?
        .create_if_missing(false)
        .connect()
        .await?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    if check != "ok" {
        bail!("the database in {} is damaged: {check}", file.display());
    }

    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    for suffix in ["-wal", "-shm"] {
        let mut side = db.clone().into_os_string();
        side.push(suffix);
        remove_if_present(Path::new(&side))?;
    }
    move_into_place(&restored, &db)?;
    let attachments = config.data_dir.join(ATTACHMENTS);
    if attachments.exists() {
        std::fs::remove_dir_all(&attachments)?;
    }
    let unpacked = staging.path().join(ATTACHMENTS);
    if unpacked.is_dir() {
        std::fs::rename(&unpacked, &attachments)?;
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Renames, or copies and syncs when the database lives on another file system than the data
/// dir.
fn move_into_place(from: &Path, to: &Path) -> anyhow::Result<()> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    let tmp = to.with_extension("restoring");
    std::fs::copy(from, &tmp)?;
    File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, to)?;
    Ok(())
}

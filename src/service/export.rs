//! Workspace export (DESIGN.md §7, Trust): the owner downloads everything the workspace holds
//! as one `.tar.gz` of NDJSON files and attachments (the format is docs/export.md).
//!
//! The archive streams: a blocking task pages through the tables (keyset paging, one page in
//! memory at a time), writes tar and gzip, and hands chunks to the response body through a
//! bounded channel, so a slow client slows the export down rather than filling memory. Each
//! NDJSON file is spooled to an unlinked temporary file first, because a tar entry states its
//! size before its bytes.

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;

use super::allow;
use crate::domain::ids::{TeammateId, WorkspaceId};
use crate::domain::Role;
use crate::error::Result;
use crate::state::AppState;
use crate::store::{Channel, ExportKind, Store, Teammate, Which};

/// The archive format's version, in `manifest.json`. Readers refuse a version they don't know.
pub const FORMAT_VERSION: u32 = 1;
/// Rows per page read from the database.
const PAGE: i64 = 500;
/// Bytes per chunk handed to the response body.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight between the writer and the socket.
const CHUNKS_IN_FLIGHT: usize = 4;

/// A started export: the archive's file name and its bytes as they are made.
pub struct Export {
    pub filename: String,
    pub body: std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
}

/// What is read up front: small, and needed whole (secrets already removed).
struct Head {
    workspace_id: WorkspaceId,
    manifest_workspace: serde_json::Value,
    exported_by: TeammateId,
    until: DateTime<Utc>,
    teammates: Vec<Teammate>,
    channels: Vec<Channel>,
}

/// Starts an export of the actor's workspace (the owner only).
pub async fn export(state: &AppState, actor: &Teammate) -> Result<Export> {
    allow(
        actor,
        actor.role == Role::Owner,
        "only the owner exports the workspace",
    )?;
    let workspace = state.store.workspace(actor.workspace_id).await?;
    let head = Head {
        workspace_id: workspace.id,
        manifest_workspace: serde_json::json!({
            "id": workspace.id,
            "name": workspace.name,
            "case_prefix": workspace.case_prefix,
            "created_at": workspace.created_at,
        }),
        exported_by: actor.id,
        until: Utc::now(),
        teammates: state
            .store
            .teammates(actor.workspace_id, None, Which::EverMember)
            .await?,
        channels: super::channels::list(state, actor).await?,
    };
    let filename = format!(
        "baton-export-{}-{}.tar.gz",
        workspace.case_prefix.to_lowercase(),
        head.until.format("%Y%m%d-%H%M%S")
    );
    super::audit::record(
        state,
        actor,
        super::audit::Action::WorkspaceExported,
        None,
        serde_json::json!({ "until": head.until }),
    )
    .await;
    let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    let store = state.store.clone();
    let data_dir = state.config.data_dir.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let sink = ChunkSender {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = write_archive(&runtime, store, data_dir, head, sink) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                tracing::warn!(error = %e, "export failed mid-stream");
                let _ = tx.blocking_send(Err(e));
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok(Export {
        filename,
        body: Box::pin(body),
    })
}

/// Writes the whole archive into `sink`: the teammates and channels, every paged kind, the
/// attachments' bytes, and last `manifest.json` with the counts.
fn write_archive(
    runtime: &tokio::runtime::Handle,
    store: Arc<dyn Store>,
    data_dir: PathBuf,
    head: Head,
    sink: ChunkSender,
) -> std::io::Result<()> {
    let gzip = flate2::write::GzEncoder::new(sink, flate2::Compression::default());
    let mut tar = tar::Builder::new(gzip);
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut missing_files = 0u64;

    let mut spool = Spool::new()?;
    for t in &head.teammates {
        spool.line(t)?;
    }
    counts.insert("teammates", spool.lines);
    spool.append_to(&mut tar, "teammates.ndjson")?;
    let mut spool = Spool::new()?;
    for c in &head.channels {
        spool.line(c)?;
    }
    counts.insert("channels", spool.lines);
    spool.append_to(&mut tar, "channels.ndjson")?;

    for kind in ExportKind::ALL {
        let mut spool = Spool::new()?;
        let mut after = None;
        loop {
            let page = runtime
                .block_on(store.export_page(head.workspace_id, kind, after, head.until, PAGE))
                .map_err(std::io::Error::other)?;
            for row in &page {
                spool.line(&row.json)?;
                if let Some(sha256) = &row.sha256 {
                    let path = row.json["path"].as_str().unwrap_or_default();
                    if !append_stored_file(&mut tar, &data_dir, sha256, path)? {
                        missing_files += 1;
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() as i64 == PAGE => after = Some(last.id),
                _ => break,
            }
        }
        counts.insert(kind.name(), spool.lines);
        spool.append_to(&mut tar, &format!("{}.ndjson", kind.name()))?;
    }

    let manifest = serde_json::json!({
        "format": "baton-export",
        "version": FORMAT_VERSION,
        "exported_at": head.until,
        "exported_by": head.exported_by,
        "workspace": head.manifest_workspace,
        "counts": counts,
        "missing_files": missing_files,
    });
    let manifest = serde_json::to_vec_pretty(&manifest)?;
    append_entry(
        &mut tar,
        "manifest.json",
        manifest.len() as u64,
        &manifest[..],
    )?;
    let gzip = tar.into_inner()?;
    let mut sink = gzip.finish()?;
    sink.flush()
}

/// Adds one file entry of `size` bytes read from `data`.
pub(crate) fn append_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(Utc::now().timestamp().max(0) as u64);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, data)
}

/// Adds the stored bytes with this digest under `path`; false when they are not on disk.
fn append_stored_file<W: Write>(
    tar: &mut tar::Builder<W>,
    data_dir: &std::path::Path,
    sha256: &str,
    path: &str,
) -> std::io::Result<bool> {
    let Some(stored) = crate::attachments::path_of(data_dir, sha256) else {
        return Ok(false);
    };
    let file = match std::fs::File::open(&stored) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(
                sha256,
                "an attachment's bytes are missing from the data dir"
            );
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    let size = file.metadata()?.len();
    append_entry(tar, path, size, file.take(size))?;
    Ok(true)
}

/// One NDJSON file being written to an unlinked temporary file.
struct Spool {
    out: std::io::BufWriter<std::fs::File>,
    lines: u64,
}

impl Spool {
    fn new() -> std::io::Result<Spool> {
        Ok(Spool {
            out: std::io::BufWriter::new(tempfile::tempfile()?),
            lines: 0,
        })
    }

    fn line(&mut self, value: &impl serde::Serialize) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")?;
        self.lines += 1;
        Ok(())
    }

    fn append_to<W: Write>(self, tar: &mut tar::Builder<W>, path: &str) -> std::io::Result<()> {
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        let size = file.stream_position()?;
        file.rewind()?;
        append_entry(tar, path, size, file.take(size))
    }
}

/// The writing end of the response body: whole chunks into a bounded channel. A client that
/// went away closes the channel, which ends the export with `BrokenPipe`.
struct ChunkSender {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChunkSender {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

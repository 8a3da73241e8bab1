//! Attachment bytes: files on messages, stored under the data dir by their SHA-256
//! (`attachments/ab/cdef…`), so that the same file sent twice takes its space once. A file is
//! written (to a temporary name, then renamed) before the row that names it is committed: a
//! crash in between leaves an unnamed file, never a row without its bytes.
//!
//! What a file may be is decided here: at most `MAX_FILE` bytes, `MAX_PER_MESSAGE` files; the
//! name is cut to a safe single line and the type to a `type/subtype` token. The type is only
//! ever sent back with `Content-Disposition: attachment` and `nosniff`: customer HTML is a
//! download, never a page.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The largest file kept (bigger ones are dropped from mail, refused from the composer).
pub const MAX_FILE: usize = 20 * 1024 * 1024;
/// At most this many files on one message.
pub const MAX_PER_MESSAGE: usize = 20;

/// A file whose bytes are stored: what the row records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub sha256: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

fn root(data_dir: &Path) -> PathBuf {
    data_dir.join("attachments")
}

/// Where the bytes with this digest live (`None` for anything but 64 lowercase hex digits).
pub fn path_of(data_dir: &Path, sha256: &str) -> Option<PathBuf> {
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    Some(root(data_dir).join(&sha256[..2]).join(&sha256[2..]))
}

/// A file name safe to store and to put in a header: no path, no control characters, no
/// quotes, at most 200 characters; `attachment` when nothing is left.
pub fn clean_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_string();
    if cleaned.is_empty() {
        "attachment".to_string()
    } else {
        cleaned
    }
}

/// A `type/subtype` in lower case, or `application/octet-stream` for anything else.
pub fn clean_content_type(raw: &str) -> String {
    let essence = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match essence.split_once('/') {
        Some((t, s)) if token(t) && token(s) => essence,
        _ => "application/octet-stream".to_string(),
    }
}

/// Stores one file's bytes (once per content) and says what its row records.
pub async fn store(
    data_dir: &Path,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<StoredFile> {
    if bytes.len() > MAX_FILE {
        return Err(Error::invalid(
            "attachments",
            "a file is larger than 20 MiB",
        ));
    }
    let sha256 = hex(&Sha256::digest(bytes));
    let path = path_of(data_dir, &sha256).expect("a digest is 64 hex digits");
    if tokio::fs::metadata(&path)
        .await
        .map(|m| m.len() == bytes.len() as u64)
        .unwrap_or(false)
    {
        return Ok(StoredFile {
            sha256,
            filename: clean_filename(filename),
            content_type: clean_content_type(content_type),
            size: bytes.len() as i64,
        });
    }
    let dir = path.parent().expect("a file under a directory");
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    let tmp = dir.join(format!(".{}.{}", &sha256[2..], uuid::Uuid::now_v7()));
    tokio::fs::write(&tmp, bytes).await.map_err(io)?;
    let file = tokio::fs::File::open(&tmp).await.map_err(io)?;
    file.sync_all().await.map_err(io)?;
    tokio::fs::rename(&tmp, &path).await.map_err(io)?;
    Ok(StoredFile {
        sha256,
        filename: clean_filename(filename),
        content_type: clean_content_type(content_type),
        size: bytes.len() as i64,
    })
}

/// The bytes of a stored file.
pub async fn read(data_dir: &Path, sha256: &str) -> Result<Vec<u8>> {
    let path = path_of(data_dir, sha256).ok_or(Error::NotFound)?;
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound),
        Err(e) => Err(io(e)),
    }
}

/// Deletes stored bytes (after the last row naming them went); already gone is fine.
pub async fn remove(data_dir: &Path, sha256: &str) -> Result<()> {
    let Some(path) = path_of(data_dir, sha256) else {
        return Ok(());
    };
    match tokio::fs::remove_file(&path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(e)),
    }
}

fn io(e: std::io::Error) -> Error {
    Error::Internal(anyhow::anyhow!("attachment storage: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types_are_made_safe() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\x\\r\"e\r\nport.pdf"), "report.pdf");
        assert_eq!(clean_filename(".."), "attachment");
        assert_eq!(clean_content_type("Text/HTML; charset=utf-8"), "text/html");
        assert_eq!(clean_content_type("nonsense"), "application/octet-stream");
        assert_eq!(
            clean_content_type("a/b\r\nX: y"),
            "application/octet-stream"
        );
        assert!(path_of(Path::new("/d"), "../x").is_none());
    }

    #[tokio::test]
    async fn the_same_bytes_are_stored_once() {
        let dir = std::env::temp_dir().join(format!("baton-att-{}", uuid::Uuid::now_v7()));
        let a = store(&dir, "a.txt", "text/plain", b"hello").await.unwrap();
        let b = store(&dir, "b.txt", "text/plain", b"hello").await.unwrap();
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(read(&dir, &a.sha256).await.unwrap(), b"hello");
        assert!(store(&dir, "big", "x/y", &vec![0; MAX_FILE + 1])
            .await
            .is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}

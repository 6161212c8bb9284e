//! The manifest of one exported period: what the Parquet file holds and the SHA-256 of every
//! byte range a reader fetches (the footer, each row group, the whole file). It is written
//! after the file, and the database's register of cold periods records the manifest's own
//! SHA-256, so every byte the tier reads back is checked before it is decoded.

use super::columns::hex_sha256;
use crate::error::{ColdError, Error};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use parquet::file::metadata::ParquetMetaData;
use serde::{Deserialize, Serialize};

/// The manifest format this version writes and reads.
pub(crate) const FORMAT: u32 = 1;

/// A byte range of the Parquet file and the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Span {
    pub(crate) offset: u64,
    pub(crate) length: u64,
    pub(crate) sha256: String,
}

impl Span {
    fn of(file: &[u8], offset: u64, length: u64) -> Span {
        Span {
            offset,
            length,
            sha256: hex_sha256(&file[offset as usize..(offset + length) as usize]),
        }
    }

    pub(crate) fn range(&self) -> std::ops::Range<u64> {
        self.offset..self.offset + self.length
    }

    /// `bytes` (read from this span of `path`), or [`ColdError::Checksum`].
    pub(crate) fn verify(&self, path: &str, bytes: Bytes) -> Result<Bytes, Error> {
        verify(path, &self.sha256, bytes)
    }
}

/// `bytes` if they hash to `expected`, else [`ColdError::Checksum`].
pub(crate) fn verify(path: &str, expected: &str, bytes: Bytes) -> Result<Bytes, Error> {
    let actual = hex_sha256(&bytes);
    if actual != expected {
        return Err(Error::Cold(ColdError::Checksum {
            path: path.to_owned(),
            expected: expected.to_owned(),
            actual,
        }));
    }
    Ok(bytes)
}

/// One exported period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format: u32,
    pub(crate) table: String,
    /// The archive partition the rows came from.
    pub(crate) partition: String,
    pub(crate) period_from: DateTime<Utc>,
    pub(crate) period_to: DateTime<Utc>,
    pub(crate) rows: u64,
    pub(crate) schema_fingerprint: String,
    /// The columns the file is sorted by.
    pub(crate) sort_by: Vec<String>,
    /// The Parquet file's path in the store.
    pub(crate) file: String,
    /// The whole file.
    pub(crate) whole: Span,
    /// The footer (the Parquet metadata, without the trailing length and magic).
    pub(crate) footer: Span,
    /// Each row group's column chunks, in order.
    pub(crate) row_groups: Vec<Span>,
    pub(crate) exported_at: DateTime<Utc>,
}

/// What a manifest describes, besides the file.
pub(crate) struct PeriodExport<'a> {
    pub(crate) table: &'a str,
    pub(crate) partition: &'a str,
    pub(crate) period_from: DateTime<Utc>,
    pub(crate) period_to: DateTime<Utc>,
    pub(crate) rows: u64,
    pub(crate) schema_fingerprint: String,
    pub(crate) sort_by: Vec<String>,
}

impl Manifest {
    /// The manifest of the Parquet `file` (at `path`), whose metadata is `metadata`.
    pub(crate) fn describe(
        export: PeriodExport<'_>,
        path: &str,
        file: &[u8],
        metadata: &ParquetMetaData,
    ) -> Result<Manifest, Error> {
        let size = file.len() as u64;
        let unreadable = |reason: &str| {
            Error::Cold(ColdError::Unreadable {
                path: path.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if size < 8 || &file[file.len() - 4..] != b"PAR1" {
            return Err(unreadable("not a Parquet file"));
        }
        let footer_len =
            u32::from_le_bytes(file[file.len() - 8..file.len() - 4].try_into().unwrap()) as u64;
        let footer_offset = size
            .checked_sub(8 + footer_len)
            .ok_or_else(|| unreadable("footer longer than the file"))?;
        let row_groups = metadata
            .row_groups()
            .iter()
            .map(|rg| {
                let (start, end) = rg.columns().iter().fold((u64::MAX, 0), |(lo, hi), c| {
                    let (offset, len) = c.byte_range();
                    (lo.min(offset), hi.max(offset + len))
                });
                Span::of(file, start, end - start)
            })
            .collect();
        Ok(Manifest {
            format: FORMAT,
            table: export.table.to_owned(),
            partition: export.partition.to_owned(),
            period_from: export.period_from,
            period_to: export.period_to,
            rows: export.rows,
            schema_fingerprint: export.schema_fingerprint,
            sort_by: export.sort_by,
            file: path.to_owned(),
            whole: Span::of(file, 0, size),
            footer: Span::of(file, footer_offset, footer_len),
            row_groups,
            exported_at: Utc::now(),
        })
    }

    pub(crate) fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec_pretty(self).expect("a manifest serializes"))
    }

    /// The manifest at `path` from its (verified) bytes.
    pub(crate) fn parse(path: &str, bytes: &[u8]) -> Result<Manifest, Error> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| {
            Error::Cold(ColdError::Unreadable {
                path: path.to_owned(),
                reason: e.to_string(),
            })
        })?;
        if manifest.format != FORMAT {
            return Err(Error::Cold(ColdError::Unreadable {
                path: path.to_owned(),
                reason: format!(
                    "manifest format {} (this dbpat reads {FORMAT})",
                    manifest.format
                ),
            }));
        }
        Ok(manifest)
    }
}

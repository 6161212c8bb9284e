//! Reading an exported period back: the manifest checked against the register, then only the
//! byte ranges a read needs (the footer, the chosen row groups), each checked against the
//! manifest before Parquet decodes it. A range that does not hash to what the manifest says
//! is [`ColdError::Checksum`](crate::ColdError::Checksum): corrupted bytes never become rows.

use super::columns::arrow_error;
use super::manifest::{verify, Manifest};
use super::ColdStore;
use crate::error::{ColdError, Error};
use crate::tiers::registry::ColdPeriod;
use arrow_array::RecordBatch;
use bytes::{Buf, Bytes};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::reader::{ChunkReader, Length};
use std::sync::Arc;

/// The manifest of a registered period, its bytes checked against the register.
pub(crate) async fn manifest(store: &ColdStore, period: &ColdPeriod) -> Result<Manifest, Error> {
    let path = object_store::path::Path::from(period.manifest.as_str());
    let bytes = verify(
        &period.manifest,
        &period.manifest_sha256,
        store.get(&path).await?,
    )?;
    Manifest::parse(&period.manifest, &bytes)
}

/// An opened period file: its checked footer, and the checked byte ranges fetched so far.
pub(crate) struct PeriodFile<'s> {
    store: &'s ColdStore,
    pub(crate) manifest: Manifest,
    pub(crate) metadata: Arc<ParquetMetaData>,
    chunks: Vec<(u64, Bytes)>,
    /// Bytes fetched from the store (footer and row groups).
    pub(crate) bytes_read: u64,
}

impl<'s> PeriodFile<'s> {
    /// Fetches and checks the footer.
    pub(crate) async fn open(store: &'s ColdStore, manifest: Manifest) -> Result<Self, Error> {
        let path = object_store::path::Path::from(manifest.file.as_str());
        let footer = manifest.footer.verify(
            &manifest.file,
            store.get_range(&path, manifest.footer.range()).await?,
        )?;
        let metadata = ParquetMetaDataReader::decode_metadata(&footer)
            .map_err(|e| unreadable(&manifest.file, e))?;
        if metadata.num_row_groups() != manifest.row_groups.len() {
            return Err(unreadable(
                &manifest.file,
                "row groups differ from the manifest's",
            ));
        }
        Ok(PeriodFile {
            store,
            bytes_read: footer.len() as u64,
            manifest,
            metadata: Arc::new(metadata),
            chunks: Vec::new(),
        })
    }

    /// Fetches and checks the row groups `groups`.
    pub(crate) async fn fetch(&mut self, groups: &[usize]) -> Result<(), Error> {
        let path = object_store::path::Path::from(self.manifest.file.as_str());
        for &g in groups {
            let span = &self.manifest.row_groups[g];
            let bytes = span.verify(
                &self.manifest.file,
                self.store.get_range(&path, span.range()).await?,
            )?;
            self.bytes_read += bytes.len() as u64;
            self.chunks.push((span.offset, bytes));
        }
        Ok(())
    }

    /// Decodes the fetched row groups `groups` (in batches of `batch_rows`).
    pub(crate) fn decode(
        &self,
        groups: Vec<usize>,
        batch_rows: usize,
    ) -> Result<Vec<RecordBatch>, Error> {
        let file = &self.manifest.file;
        let chunks = CheckedRanges {
            len: self.manifest.whole.length,
            chunks: self.chunks.clone(),
        };
        let metadata =
            ArrowReaderMetadata::try_new(self.metadata.clone(), ArrowReaderOptions::new())
                .map_err(|e| unreadable(file, e))?;
        ParquetRecordBatchReaderBuilder::new_with_metadata(chunks, metadata)
            .with_row_groups(groups)
            .with_batch_size(batch_rows)
            .build()
            .map_err(|e| unreadable(file, e))?
            .map(|batch| batch.map_err(|e| unreadable(file, e)))
            .collect()
    }
}

/// A whole period file, checked, decoded (for a restore).
pub(crate) async fn read_whole(
    store: &ColdStore,
    manifest: &Manifest,
) -> Result<Vec<RecordBatch>, Error> {
    let path = object_store::path::Path::from(manifest.file.as_str());
    let bytes = verify(
        &manifest.file,
        &manifest.whole.sha256,
        store.get(&path).await?,
    )?;
    ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.with_batch_size(8192).build())
        .map_err(arrow_error)?
        .map(|batch| batch.map_err(|e| unreadable(&manifest.file, e)))
        .collect()
}

fn unreadable(path: &str, err: impl std::fmt::Display) -> Error {
    Error::Cold(ColdError::Unreadable {
        path: path.to_owned(),
        reason: err.to_string(),
    })
}

/// The checked byte ranges of a file, as Parquet's reader asks for them; a read outside them
/// is an error, never unchecked bytes.
struct CheckedRanges {
    len: u64,
    chunks: Vec<(u64, Bytes)>,
}

impl CheckedRanges {
    fn slice(&self, start: u64, length: Option<usize>) -> Result<Bytes, ParquetError> {
        for (offset, bytes) in &self.chunks {
            let end = offset + bytes.len() as u64;
            if *offset <= start && start < end {
                let from = (start - offset) as usize;
                let to = match length {
                    Some(n) if from + n <= bytes.len() => from + n,
                    Some(_) => break,
                    None => bytes.len(),
                };
                return Ok(bytes.slice(from..to));
            }
        }
        Err(ParquetError::General(format!(
            "cold tier: read at byte {start} outside the checked ranges"
        )))
    }
}

impl Length for CheckedRanges {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for CheckedRanges {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(self.slice(start, None)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.slice(start, Some(length))
    }
}

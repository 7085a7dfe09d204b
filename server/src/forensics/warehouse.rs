//! The warehouse export: a tenant's sessions, detections, decisions, outcomes and alerts of one
//! UTC day as Parquet files (Snappy), partitioned the way Athena, Spark and DuckDB read them:
//!
//! ```text
//! {dir}/{table}/tenant={tenant}/day={YYYY-MM-DD}/part-0.parquet
//! ```
//!
//! Each file is written beside its final name and renamed into place, so a reader never sees
//! half a file, and exporting a day again replaces it (idempotent). The columns are
//! [`crate::store::WAREHOUSE`]'s: no names, emails, addresses or link secrets leave the store.
//! Run by `sentientiq export`, by `POST /v1/export`, and daily (yesterday) when
//! `SIQ_EXPORT_DIR` is set.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use super::DAY_MS;
use crate::store::{Cell, CellKind, DashboardStore, StoreError, WarehouseTable, WAREHOUSE};

/// What can go wrong exporting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Encoding Parquet.
    #[error("parquet: {0}")]
    Parquet(String),
}

/// One file written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Written {
    /// The table.
    pub table: &'static str,
    /// Where.
    pub path: PathBuf,
    /// Rows in it.
    pub rows: usize,
}

/// `YYYY-MM-DD` of a day number (days since the epoch, UTC).
pub fn day_name(day: i64) -> String {
    let (y, m, d) = crate::records::format::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number of `YYYY-MM-DD` (UTC), if it is a real date from 1970 on.
pub fn parse_day(d: &str) -> Option<i64> {
    // Exactly `YYYY-MM-DD`: the pattern the OpenAPI document states.
    let b = d.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit()) {
        return None;
    }
    let mut it = d.split('-').map(|p| p.parse::<i64>());
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(dd)), None) = (it.next(), it.next(), it.next(), it.next()) else { return None };
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&dd) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), the inverse of `format::civil_from_days`.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (crate::records::format::civil_from_days(days) == (y, m, dd)).then_some(days)
}

fn batch(table: &WarehouseTable, rows: &[Vec<Cell>]) -> Result<RecordBatch, ExportError> {
    let fields: Vec<Field> = table
        .columns
        .iter()
        .map(|c| {
            let t = match c.2 {
                CellKind::Str => DataType::Utf8,
                CellKind::Int => DataType::Int64,
                CellKind::Float => DataType::Float64,
                CellKind::Bool => DataType::Boolean,
            };
            Field::new(c.1, t, true)
        })
        .collect();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(fields.len());
    for (i, c) in table.columns.iter().enumerate() {
        let cell = |r: &Vec<Cell>| r.get(i).cloned();
        let array: ArrayRef = match c.2 {
            CellKind::Str => {
                let mut b = StringBuilder::new();
                rows.iter().for_each(|r| b.append_option(if let Some(Cell::Str(v)) = cell(r) { v } else { None }));
                Arc::new(b.finish())
            }
            CellKind::Int => {
                let mut b = Int64Builder::new();
                rows.iter().for_each(|r| b.append_option(if let Some(Cell::Int(v)) = cell(r) { v } else { None }));
                Arc::new(b.finish())
            }
            CellKind::Float => {
                let mut b = Float64Builder::new();
                rows.iter().for_each(|r| b.append_option(if let Some(Cell::Float(v)) = cell(r) { v } else { None }));
                Arc::new(b.finish())
            }
            CellKind::Bool => {
                let mut b = BooleanBuilder::new();
                rows.iter().for_each(|r| b.append_option(if let Some(Cell::Bool(v)) = cell(r) { v } else { None }));
                Arc::new(b.finish())
            }
        };
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| ExportError::Parquet(e.to_string()))
}

fn write_file(path: &Path, batch: &RecordBatch) -> Result<(), ExportError> {
    let io = |source| ExportError::Io { path: path.to_path_buf(), source };
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(io)?;
    let tmp = path.with_extension("parquet.partial");
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let pq = |e: parquet::errors::ParquetError| ExportError::Parquet(e.to_string());
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(pq)?;
    w.write(batch).map_err(pq)?;
    w.close().map_err(pq)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Exports `tenant`'s day `day` (days since the epoch, UTC) of every table into `dir`.
pub async fn export_day(store: &dyn DashboardStore, tenant: &str, day: i64, dir: &Path) -> Result<Vec<Written>, ExportError> {
    let (from, to) = (day * DAY_MS, (day + 1) * DAY_MS);
    let mut out = Vec::new();
    for table in WAREHOUSE {
        let rows = store.warehouse_rows(tenant, table, from, to).await?;
        let path = dir.join(table.name).join(format!("tenant={tenant}")).join(format!("day={}", day_name(day))).join("part-0.parquet");
        let b = batch(table, &rows)?;
        let p = path.clone();
        tokio::task::spawn_blocking(move || write_file(&p, &b))
            .await
            .map_err(|e| ExportError::Parquet(format!("the writer stopped: {e}")))??;
        out.push(Written { table: table.name, path, rows: rows.len() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_has_the_tables_columns_and_nulls() {
        let t = &WAREHOUSE[3];
        assert_eq!(t.name, "outcomes");
        let rows = vec![vec![
            Cell::Str(Some("d1".into())),
            Cell::Str(Some("00ff".into())),
            Cell::Str(None),
            Cell::Str(Some("purchase".into())),
            Cell::Bool(Some(true)),
            Cell::Int(Some(5)),
            Cell::Bool(Some(false)),
        ]];
        let b = batch(t, &rows).unwrap();
        assert_eq!((b.num_rows(), b.num_columns()), (1, 7));
        assert_eq!(b.schema().field(6).name(), "verified");
        assert_eq!(b.schema().field(0).name(), "decision_id");
        assert_eq!(b.column(2).null_count(), 1);
        assert_eq!(day_name(20_000), "2024-10-04");
    }
}

//! How each column of a model is stored in the cold tier's Parquet files, read out of
//! PostgreSQL for an export, and bound back into a statement for a restore or a read.
//!
//! Types Arrow holds exactly are stored natively (integers, booleans, floats, text, bytea,
//! DATE as days, TIMESTAMPTZ as UTC microseconds, UUID as 16 bytes), so their Parquet
//! statistics prune reads. NUMERIC, JSONB and every array column are stored as PostgreSQL's
//! own text form of the value (what `COPY` and `pg_dump` write) and cast back from it, which
//! PostgreSQL guarantees gives the same value: a round trip is byte-equal for every type.

use crate::ddl::ident;
use crate::error::{ColdError, Error};
use crate::model::{BaseType, ColumnDef, TableDef};
use crate::query::{days_since_epoch, Scalar};
use arrow_array::builder::{
    ArrayBuilder, BinaryBuilder, BooleanBuilder, Date32Builder, FixedSizeBinaryBuilder,
    Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, FixedSizeBinaryArray, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, Row};
use std::sync::Arc;

/// How one column is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Uuid,
    SmallInt,
    Integer,
    BigInt,
    Boolean,
    Text,
    Real,
    Double,
    Date,
    Timestamp,
    Bytea,
    /// PostgreSQL's text form of the value, cast back with the column's type.
    PgText,
}

impl Codec {
    pub(crate) fn of(column: &ColumnDef) -> Codec {
        if column.sql_type.array {
            return Codec::PgText;
        }
        match column.sql_type.base {
            BaseType::Uuid => Codec::Uuid,
            BaseType::SmallInt => Codec::SmallInt,
            BaseType::Integer => Codec::Integer,
            BaseType::BigInt => Codec::BigInt,
            BaseType::Boolean => Codec::Boolean,
            BaseType::Text => Codec::Text,
            BaseType::Real => Codec::Real,
            BaseType::DoublePrecision => Codec::Double,
            BaseType::Date => Codec::Date,
            BaseType::TimestampTz => Codec::Timestamp,
            BaseType::Bytea => Codec::Bytea,
            BaseType::Numeric { .. } | BaseType::Jsonb => Codec::PgText,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Codec::Uuid => DataType::FixedSizeBinary(16),
            Codec::SmallInt => DataType::Int16,
            Codec::Integer => DataType::Int32,
            Codec::BigInt => DataType::Int64,
            Codec::Boolean => DataType::Boolean,
            Codec::Text | Codec::PgText => DataType::Utf8,
            Codec::Real => DataType::Float32,
            Codec::Double => DataType::Float64,
            Codec::Date => DataType::Date32,
            Codec::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Codec::Bytea => DataType::Binary,
        }
    }

    /// The element type of the array parameter that binds a column of values.
    fn array_type(self) -> &'static str {
        match self {
            Codec::Uuid => "uuid[]",
            Codec::SmallInt => "smallint[]",
            Codec::Integer => "integer[]",
            Codec::BigInt => "bigint[]",
            Codec::Boolean => "boolean[]",
            Codec::Text | Codec::PgText => "text[]",
            Codec::Real => "real[]",
            Codec::Double => "double precision[]",
            Codec::Date => "date[]",
            Codec::Timestamp => "timestamptz[]",
            Codec::Bytea => "bytea[]",
        }
    }
}

/// The model's columns as the cold tier stores them.
#[derive(Debug, Clone)]
pub(crate) struct ColdColumns<'t> {
    pub(crate) table: &'t TableDef<'t>,
    pub(crate) codecs: Vec<Codec>,
}

impl<'t> ColdColumns<'t> {
    pub(crate) fn of(table: &'t TableDef<'t>) -> Self {
        ColdColumns {
            table,
            codecs: table.columns.iter().map(Codec::of).collect(),
        }
    }

    /// The Arrow schema of the files.
    pub(crate) fn schema(&self) -> Arc<Schema> {
        let fields: Vec<Field> = self
            .table
            .columns
            .iter()
            .zip(&self.codecs)
            .map(|(c, codec)| Field::new(c.name, codec.data_type(), c.nullable))
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// A stable digest of what the files hold: each column's name, SQL type, nullability and
    /// storage. A period exported under another digest is not read with this model.
    pub(crate) fn fingerprint(&self) -> String {
        let mut text = String::from("dbpat-cold-1\n");
        for (c, codec) in self.table.columns.iter().zip(&self.codecs) {
            text.push_str(&format!(
                "{} {} {} {:?}\n",
                c.name,
                c.sql_type,
                if c.nullable { "NULL" } else { "NOT NULL" },
                codec
            ));
        }
        hex_sha256(text.as_bytes())[..32].to_owned()
    }

    /// The select list of an export: every column, the text-form ones as `col::text`.
    pub(crate) fn export_list(&self) -> String {
        self.table
            .columns
            .iter()
            .zip(&self.codecs)
            .map(|(c, codec)| match codec {
                Codec::PgText => format!("{}::text", ident(c.name)),
                _ => ident(c.name),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `SELECT <cols, cast back> FROM unnest($first::t1[], ...) AS dbpat_cold(<cols>)`: the
    /// rows bound as one array parameter per column, from placeholder `$first` on.
    pub(crate) fn unnest_select(&self, first: usize) -> String {
        let names: Vec<String> = self.table.columns.iter().map(|c| ident(c.name)).collect();
        let arrays: Vec<String> = self
            .codecs
            .iter()
            .enumerate()
            .map(|(i, codec)| format!("${}::{}", first + i, codec.array_type()))
            .collect();
        let outputs: Vec<String> = self
            .table
            .columns
            .iter()
            .zip(&self.codecs)
            .zip(&names)
            .map(|((c, codec), name)| match codec {
                Codec::PgText => format!("{name}::{} AS {name}", c.sql_type),
                _ => name.clone(),
            })
            .collect();
        format!(
            "SELECT {} FROM unnest({}) AS dbpat_cold({})",
            outputs.join(", "),
            arrays.join(", "),
            names.join(", ")
        )
    }

    /// Builders for one batch of rows.
    pub(crate) fn builders(&self, capacity: usize) -> Vec<Box<dyn ArrayBuilder>> {
        self.codecs
            .iter()
            .map(|codec| -> Box<dyn ArrayBuilder> {
                match codec {
                    Codec::Uuid => Box::new(FixedSizeBinaryBuilder::with_capacity(capacity, 16)),
                    Codec::SmallInt => Box::new(Int16Builder::with_capacity(capacity)),
                    Codec::Integer => Box::new(Int32Builder::with_capacity(capacity)),
                    Codec::BigInt => Box::new(Int64Builder::with_capacity(capacity)),
                    Codec::Boolean => Box::new(BooleanBuilder::with_capacity(capacity)),
                    Codec::Text | Codec::PgText => {
                        Box::new(StringBuilder::with_capacity(capacity, capacity * 16))
                    }
                    Codec::Real => Box::new(Float32Builder::with_capacity(capacity)),
                    Codec::Double => Box::new(Float64Builder::with_capacity(capacity)),
                    Codec::Date => Box::new(Date32Builder::with_capacity(capacity)),
                    Codec::Timestamp => Box::new(
                        TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
                    ),
                    Codec::Bytea => Box::new(BinaryBuilder::with_capacity(capacity, capacity * 16)),
                }
            })
            .collect()
    }

    /// Appends one exported row (its columns in the order of [`ColdColumns::export_list`]).
    pub(crate) fn append(
        &self,
        row: &PgRow,
        builders: &mut [Box<dyn ArrayBuilder>],
    ) -> Result<(), Error> {
        for (i, (codec, builder)) in self.codecs.iter().zip(builders.iter_mut()).enumerate() {
            let any = builder.as_any_mut();
            let b = || -> Result<(), Error> { Err(Error::InvalidQuery("cold tier: builder type")) };
            match codec {
                Codec::Uuid => {
                    let v: Option<uuid::Uuid> = row.try_get(i)?;
                    let Some(bl) = any.downcast_mut::<FixedSizeBinaryBuilder>() else {
                        return b();
                    };
                    match v {
                        Some(v) => bl.append_value(v.as_bytes()).map_err(arrow_error)?,
                        None => bl.append_null(),
                    }
                }
                Codec::SmallInt => {
                    push::<Int16Builder, i16>(row, i, any, |b, v| b.append_option(v))?
                }
                Codec::Integer => {
                    push::<Int32Builder, i32>(row, i, any, |b, v| b.append_option(v))?
                }
                Codec::BigInt => push::<Int64Builder, i64>(row, i, any, |b, v| b.append_option(v))?,
                Codec::Boolean => {
                    push::<BooleanBuilder, bool>(row, i, any, |b, v| b.append_option(v))?
                }
                Codec::Text | Codec::PgText => {
                    push::<StringBuilder, String>(row, i, any, |b, v| b.append_option(v))?
                }
                Codec::Real => push::<Float32Builder, f32>(row, i, any, |b, v| b.append_option(v))?,
                Codec::Double => {
                    push::<Float64Builder, f64>(row, i, any, |b, v| b.append_option(v))?
                }
                Codec::Date => push::<Date32Builder, NaiveDate>(row, i, any, |b, v| {
                    b.append_option(v.map(days_since_epoch))
                })?,
                Codec::Timestamp => {
                    push::<TimestampMicrosecondBuilder, DateTime<Utc>>(row, i, any, |b, v| {
                        b.append_option(v.map(|t| t.timestamp_micros()))
                    })?
                }
                Codec::Bytea => {
                    push::<BinaryBuilder, Vec<u8>>(row, i, any, |b, v| b.append_option(v))?
                }
            }
        }
        Ok(())
    }

    /// The batch of the rows appended so far (the builders are left empty).
    pub(crate) fn finish(
        &self,
        builders: &mut [Box<dyn ArrayBuilder>],
    ) -> Result<RecordBatch, Error> {
        let arrays: Vec<ArrayRef> = builders.iter_mut().map(|b| b.finish()).collect();
        RecordBatch::try_new(self.schema(), arrays).map_err(arrow_error)
    }

    /// Binds the rows `keep` of `batch` as one array parameter per column (see
    /// [`ColdColumns::unnest_select`]).
    pub(crate) fn bind(
        &self,
        batches: &[(RecordBatch, Vec<usize>)],
        args: &mut PgArguments,
    ) -> Result<(), Error> {
        for (i, codec) in self.codecs.iter().enumerate() {
            let columns = batches
                .iter()
                .map(|(b, keep)| (b.column(i).as_ref(), keep.as_slice()));
            let added = match codec {
                Codec::Uuid => args.add(gather::<FixedSizeBinaryArray, _>(columns, |a, r| {
                    uuid::Uuid::from_slice(a.value(r)).ok()
                })?),
                Codec::SmallInt => {
                    args.add(gather::<Int16Array, _>(columns, |a, r| Some(a.value(r)))?)
                }
                Codec::Integer => {
                    args.add(gather::<Int32Array, _>(columns, |a, r| Some(a.value(r)))?)
                }
                Codec::BigInt => {
                    args.add(gather::<Int64Array, _>(columns, |a, r| Some(a.value(r)))?)
                }
                Codec::Boolean => {
                    args.add(gather::<BooleanArray, _>(columns, |a, r| Some(a.value(r)))?)
                }
                Codec::Text | Codec::PgText => args
                    .add(gather::<StringArray, _>(columns, |a, r| {
                        Some(a.value(r).to_owned())
                    })?),
                Codec::Real => {
                    args.add(gather::<Float32Array, _>(columns, |a, r| Some(a.value(r)))?)
                }
                Codec::Double => {
                    args.add(gather::<Float64Array, _>(columns, |a, r| Some(a.value(r)))?)
                }
                Codec::Date => args.add(gather::<Date32Array, _>(columns, |a, r| {
                    NaiveDate::from_ymd_opt(1970, 1, 1).and_then(|e| {
                        e.checked_add_signed(chrono::Duration::days(a.value(r).into()))
                    })
                })?),
                Codec::Timestamp => args
                    .add(gather::<TimestampMicrosecondArray, _>(columns, |a, r| {
                        DateTime::<Utc>::from_timestamp_micros(a.value(r))
                    })?),
                Codec::Bytea => args.add(gather::<BinaryArray, _>(columns, |a, r| {
                    Some(a.value(r).to_vec())
                })?),
            };
            added.map_err(Error::encode)?;
        }
        Ok(())
    }

    /// The value of column `column` at `row` of `batch` in the form filter bounds compare, if
    /// the column's storage has one (`None` for NULL too).
    pub(crate) fn scalar(&self, batch: &RecordBatch, column: usize, row: usize) -> Option<Scalar> {
        let array = batch.column(column).as_any();
        if batch.column(column).is_null(row) {
            return None;
        }
        match self.codecs[column] {
            Codec::SmallInt => array
                .downcast_ref::<Int16Array>()
                .map(|a| Scalar::Int(a.value(row).into())),
            Codec::Integer => array
                .downcast_ref::<Int32Array>()
                .map(|a| Scalar::Int(a.value(row).into())),
            Codec::BigInt => array
                .downcast_ref::<Int64Array>()
                .map(|a| Scalar::Int(a.value(row))),
            Codec::Timestamp => array
                .downcast_ref::<TimestampMicrosecondArray>()
                .map(|a| Scalar::Micros(a.value(row))),
            Codec::Date => array
                .downcast_ref::<Date32Array>()
                .map(|a| Scalar::Days(a.value(row))),
            Codec::Uuid => array
                .downcast_ref::<FixedSizeBinaryArray>()
                .and_then(|a| a.value(row).try_into().ok().map(Scalar::Uuid)),
            Codec::Text => array
                .downcast_ref::<StringArray>()
                .map(|a| Scalar::Text(a.value(row).to_owned())),
            _ => None,
        }
    }
}

/// Appends column `i` of `row`, decoded as `Option<T>`, to the builder `B`.
fn push<B: 'static, T>(
    row: &PgRow,
    i: usize,
    builder: &mut dyn std::any::Any,
    append: impl FnOnce(&mut B, Option<T>),
) -> Result<(), Error>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    let value: Option<T> = row.try_get(i)?;
    let builder = builder.downcast_mut::<B>().ok_or(Error::InvalidQuery(
        "cold tier: a column's builder has another type",
    ))?;
    append(builder, value);
    Ok(())
}

/// The kept rows of several arrays of type `A`, as one vector of optional values.
fn gather<'a, A: Array + 'static, T>(
    columns: impl Iterator<Item = (&'a dyn Array, &'a [usize])>,
    value: impl Fn(&A, usize) -> Option<T>,
) -> Result<Vec<Option<T>>, Error> {
    let mut out = Vec::new();
    for (array, keep) in columns {
        let typed = array
            .as_any()
            .downcast_ref::<A>()
            .ok_or(Error::InvalidQuery(
                "cold tier: a file's column has another type",
            ))?;
        out.extend(keep.iter().map(|&r| {
            if typed.is_null(r) {
                None
            } else {
                value(typed, r)
            }
        }));
    }
    Ok(out)
}

/// An Arrow or Parquet failure while building or reading a file in memory.
pub(crate) fn arrow_error(err: impl std::fmt::Display) -> Error {
    Error::Cold(ColdError::Unreadable {
        path: String::new(),
        reason: err.to_string(),
    })
}

/// SHA-256 of `bytes`, in lowercase hex.
pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

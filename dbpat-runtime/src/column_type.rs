//! [`ColumnType`]: which Rust field types map to which PostgreSQL column types.

use crate::model::{BaseType, SqlType};
use crate::query::value::{UnnestColumn, UnnestScalar};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, Decode, Encode, Postgres, Type};

/// A Rust type that can be stored in a column; the derive reads the SQL type from here.
///
/// Implemented for the supported scalars, `Option<T>` (nullable), `Vec<T>` of scalars (arrays),
/// [`Json<T>`](crate::Json) and `serde_json::Value` (JSONB), and every `#[derive(DbEnum)]` enum
/// (TEXT with a CHECK of its values).
///
/// It is the one bound the derive's generated code puts on a field type: the supertraits are
/// everything the queries need (decoding a row, binding a parameter, filtering, batch
/// inserts), so an unsupported field type fails with this trait's error at the field alone.
///
/// ```
/// use dbpat_runtime::ColumnType;
/// use dbpat_runtime::model::{BaseType, SqlType};
/// assert_eq!(<Option<i64> as ColumnType>::SQL_TYPE, SqlType::scalar(BaseType::BigInt));
/// assert!(<Option<i64> as ColumnType>::NULLABLE);
/// assert_eq!(<Vec<String> as ColumnType>::SQL_TYPE.to_string(), "TEXT[]");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a supported dbpat column type",
    label = "unsupported column type",
    note = "supported: uuid::Uuid, i16, i32, i64, bool, String, rust_decimal::Decimal, \
            chrono::DateTime<Utc>, chrono::NaiveDate, f32, f64, serde_json::Value, dbpat::Json<T>, \
            #[derive(DbEnum)] enums, Vec<u8>, Vec<T> of the scalars above (not of enums or JSON), \
            and Option<T> of any of them (once: no Option<Option<T>>)"
)]
pub trait ColumnType:
    Type<Postgres>
    + for<'r> Decode<'r, Postgres>
    + for<'q> Encode<'q, Postgres>
    + UnnestColumn
    + Send
    + Sync
    + 'static
{
    /// [`NotNull`] for every column type but `Option<T>`, whose nullability is [`Null`]:
    /// `Option<T>` is a column type for a `NotNull` `T`, so `Option<Option<T>>` is not.
    #[doc(hidden)]
    type Nullability;
    /// The type filters compare the column with and bind (its
    /// [`SqlValue::Value`](crate::query::SqlValue::Value)): `T` for both `T` and `Option<T>`.
    type Value: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send + Sync + 'static;
    /// The column's SQL type.
    const SQL_TYPE: SqlType;
    /// Whether the column accepts NULL (`Option<T>`).
    const NULLABLE: bool = false;
    /// The allowed values of an enum column (rendered as a CHECK).
    const ENUM_VALUES: Option<&'static [&'static str]> = None;
    /// For an enum: `(old value, value it becomes)` of the values removed from it, from
    /// `#[dbpat(was = "...")]` on its variants (a migration hint).
    const ENUM_WAS: &'static [(&'static str, &'static str)] = &[];

    // The derive's generated code reaches every capability of a field type through these,
    // written `<T as ColumnType>::...`: an unsupported type is then one `ColumnType` error at
    // the field, which rustc reports once for all uses. (Free functions bounded by
    // `T: ColumnType` would add a "required by a bound in ..." note per function, and rustc
    // would report each as a separate error.)

    /// Decodes column `column` of `row` (`FromRow`).
    #[doc(hidden)]
    fn __decode(row: &PgRow, column: &str) -> Result<Self, sqlx::Error> {
        sqlx::Row::try_get(row, column)
    }

    /// Decodes the column at position `index` of `row` (joins and aggregates decode two
    /// entities, or an entity and more columns, from one row by position).
    #[doc(hidden)]
    fn __decode_at(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        sqlx::Row::try_get(row, index)
    }

    /// Binds the value as the next parameter.
    #[doc(hidden)]
    fn __bind(&self, args: &mut PgArguments) -> Result<(), BoxDynError> {
        args.add(self)
    }

    /// Binds this column of a batch as `UNNEST` parameters (`insert_many`).
    #[doc(hidden)]
    fn __bind_unnest<'a>(
        values: impl ExactSizeIterator<Item = &'a Self>,
        args: &mut PgArguments,
    ) -> Result<(), BoxDynError>
    where
        Self: 'a,
    {
        <Self as UnnestColumn>::bind_unnest(values, args)
    }
}

/// [`ColumnType::Nullability`] of every column type but `Option<T>`.
#[doc(hidden)]
pub enum NotNull {}

/// [`ColumnType::Nullability`] of `Option<T>`.
#[doc(hidden)]
pub enum Null {}

/// A scalar type that may also be the element of an array column (`Vec<T>` → `T[]`).
#[diagnostic::on_unimplemented(
    message = "`Vec<{Self}>` is not a supported dbpat column type",
    label = "unsupported column type",
    note = "arrays (`Vec<T>`) are supported of: uuid::Uuid, i16, i32, i64, bool, String, \
            rust_decimal::Decimal, chrono::DateTime<Utc>, chrono::NaiveDate, f32, f64"
)]
pub trait ArrayElement: ColumnType + UnnestScalar {}

macro_rules! scalar_column_types {
    ($($ty:ty => $base:expr),* $(,)?) => {$(
        impl ColumnType for $ty {
            type Nullability = NotNull;
            type Value = $ty;
            const SQL_TYPE: SqlType = SqlType::scalar($base);
        }
        impl ArrayElement for $ty {}
    )*};
}

scalar_column_types! {
    uuid::Uuid => BaseType::Uuid,
    i16 => BaseType::SmallInt,
    i32 => BaseType::Integer,
    i64 => BaseType::BigInt,
    bool => BaseType::Boolean,
    String => BaseType::Text,
    rust_decimal::Decimal => BaseType::Numeric { precision: 19, scale: 4 },
    chrono::DateTime<chrono::Utc> => BaseType::TimestampTz,
    chrono::NaiveDate => BaseType::Date,
    f32 => BaseType::Real,
    f64 => BaseType::DoublePrecision,
}

impl ColumnType for serde_json::Value {
    type Nullability = NotNull;
    type Value = serde_json::Value;
    const SQL_TYPE: SqlType = SqlType::scalar(BaseType::Jsonb);
}

impl<T> ColumnType for sqlx::types::Json<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    type Nullability = NotNull;
    type Value = sqlx::types::Json<T>;
    const SQL_TYPE: SqlType = SqlType::scalar(BaseType::Jsonb);
}

impl ColumnType for Vec<u8> {
    type Nullability = NotNull;
    type Value = Vec<u8>;
    const SQL_TYPE: SqlType = SqlType::scalar(BaseType::Bytea);
}

impl<T: ArrayElement> ColumnType for Vec<T> {
    type Nullability = NotNull;
    type Value = Vec<T>;
    const SQL_TYPE: SqlType = SqlType::array_of(T::SQL_TYPE.base);
    const ENUM_VALUES: Option<&'static [&'static str]> = None;
}

impl<T: ColumnType<Nullability = NotNull>> ColumnType for Option<T> {
    type Nullability = Null;
    type Value = T::Value;
    const SQL_TYPE: SqlType = T::SQL_TYPE;
    const NULLABLE: bool = true;
    const ENUM_VALUES: Option<&'static [&'static str]> = T::ENUM_VALUES;
    const ENUM_WAS: &'static [(&'static str, &'static str)] = T::ENUM_WAS;
}

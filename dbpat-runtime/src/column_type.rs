//! [`ColumnType`]: which Rust field types map to which PostgreSQL column types.

use crate::model::{BaseType, SqlType};

/// A Rust type that can be stored in a column; the derive reads the SQL type from here.
///
/// Implemented for the supported scalars, `Option<T>` (nullable), `Vec<T>` of scalars (arrays),
/// [`Json<T>`](crate::Json) and `serde_json::Value` (JSONB), and every `#[derive(DbEnum)]` enum
/// (TEXT with a CHECK of its values).
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
            Vec<u8>, Vec<T> of those scalars, Option<T> of any of them, and #[derive(DbEnum)] enums"
)]
pub trait ColumnType {
    /// The column's SQL type.
    const SQL_TYPE: SqlType;
    /// Whether the column accepts NULL (`Option<T>`).
    const NULLABLE: bool = false;
    /// The allowed values of an enum column (rendered as a CHECK).
    const ENUM_VALUES: Option<&'static [&'static str]> = None;
}

/// A scalar type that may also be the element of an array column (`Vec<T>` → `T[]`).
pub trait ArrayElement: ColumnType {}

macro_rules! scalar_column_types {
    ($($ty:ty => $base:expr),* $(,)?) => {$(
        impl ColumnType for $ty {
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
    const SQL_TYPE: SqlType = SqlType::scalar(BaseType::Jsonb);
}

impl<T> ColumnType for sqlx::types::Json<T> {
    const SQL_TYPE: SqlType = SqlType::scalar(BaseType::Jsonb);
}

impl ColumnType for Vec<u8> {
    const SQL_TYPE: SqlType = SqlType::scalar(BaseType::Bytea);
}

impl<T: ArrayElement> ColumnType for Vec<T> {
    const SQL_TYPE: SqlType = SqlType::array_of(T::SQL_TYPE.base);
    const ENUM_VALUES: Option<&'static [&'static str]> = None;
}

impl<T: ColumnType> ColumnType for Option<T> {
    const SQL_TYPE: SqlType = T::SQL_TYPE;
    const NULLABLE: bool = true;
    const ENUM_VALUES: Option<&'static [&'static str]> = T::ENUM_VALUES;
}

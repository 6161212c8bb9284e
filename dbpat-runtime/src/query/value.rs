//! Which Rust values bind to which columns: [`SqlValue`] (a column's comparable type),
//! [`IntoValue`] (what a filter accepts for it) and [`UnnestColumn`] (batch inserts).

use sqlx::encode::Encode;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgHasArrayType};
use sqlx::{Arguments, Postgres, Type};

/// A value that can be bound as a parameter, boxed inside filters and patches.
pub trait BindValue: Send + Sync + 'static {
    /// Encodes the value as the next parameter of `args`.
    fn bind(&self, args: &mut PgArguments) -> Result<(), BoxDynError>;

    /// The value itself, for readers of a filter that compare values outside PostgreSQL (the
    /// cold tier's pruning, module `bounds`).
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<T> BindValue for T
where
    T: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send + Sync + 'static,
{
    fn bind(&self, args: &mut PgArguments) -> Result<(), BoxDynError> {
        args.add(self)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A column's Rust type, seen by filters: `Value` is what it is compared with (`T` for both
/// `T` and `Option<T>` columns).
///
/// Implemented for every [`ColumnType`](crate::ColumnType), whose
/// [`Value`](crate::ColumnType::Value) it is.
pub trait SqlValue {
    /// The type a filter value is converted to and bound as.
    type Value: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send + Sync + 'static;
}

impl<T: crate::ColumnType> SqlValue for T {
    type Value = <T as crate::ColumnType>::Value;
}

/// A Rust value a filter accepts for a column whose [`SqlValue::Value`] is `V`: `V` itself, and
/// `&str`/`&String` for text. Anything else is a compile error, so `Product::CATEGORY.eq(5)`
/// does not build.
#[diagnostic::on_unimplemented(
    message = "a `{V}` column cannot be compared with a `{Self}`",
    label = "expected a value of the column's type `{V}`",
    note = "typed filters compare like with like: convert the value to `{V}` first"
)]
pub trait IntoValue<V> {
    /// Converts into the bound type.
    fn into_value(self) -> V;
}

impl<V> IntoValue<V> for V {
    fn into_value(self) -> V {
        self
    }
}

impl IntoValue<String> for &str {
    fn into_value(self) -> String {
        self.to_owned()
    }
}

impl IntoValue<String> for &String {
    fn into_value(self) -> String {
        self.clone()
    }
}

/// A column value type whose values form a PostgreSQL array parameter (`T[]`).
pub trait UnnestScalar:
    for<'q> Encode<'q, Postgres> + Type<Postgres> + PgHasArrayType + Send + Sync
{
}

impl<T> UnnestScalar for sqlx::types::Json<T> where T: serde::Serialize + Send + Sync {}

/// How one column of a batch is bound for `insert_many`'s `UNNEST`: scalars as one array,
/// array columns flattened with each row's bounds.
///
/// Implemented type by type (no blanket impl over [`UnnestScalar`]), so that a type missing it
/// is reported as the missing [`ColumnType`](crate::ColumnType) it implies, not separately.
pub trait UnnestColumn: Sized {
    /// Binds the column's values of all rows (one parameter for scalars; elements, lower and
    /// upper bounds for arrays).
    fn bind_unnest<'a, I>(values: I, args: &mut PgArguments) -> Result<(), BoxDynError>
    where
        I: ExactSizeIterator<Item = &'a Self>,
        Self: 'a;

    /// Like [`UnnestColumn::bind_unnest`] for the values of an `Option<Self>` column (`None`
    /// binds NULL). `Option<T>` columns bind through this.
    #[doc(hidden)]
    fn bind_unnest_nullable<'a, I>(values: I, args: &mut PgArguments) -> Result<(), BoxDynError>
    where
        I: ExactSizeIterator<Item = Option<&'a Self>>,
        Self: 'a;
}

/// [`UnnestColumn::bind_unnest`] of a scalar: one `T[]` parameter.
#[doc(hidden)]
pub fn unnest_scalars<'a, T: UnnestScalar + 'a>(
    values: impl Iterator<Item = &'a T>,
    args: &mut PgArguments,
) -> Result<(), BoxDynError> {
    let v: Vec<&T> = values.collect();
    args.add(v)
}

/// [`UnnestColumn::bind_unnest_nullable`] of a scalar: one `T[]` parameter with NULLs.
#[doc(hidden)]
pub fn unnest_nullable_scalars<'a, T: UnnestScalar + 'a>(
    values: impl Iterator<Item = Option<&'a T>>,
    args: &mut PgArguments,
) -> Result<(), BoxDynError> {
    let v: Vec<Option<&T>> = values.collect();
    args.add(v)
}

macro_rules! unnest_scalar_impls {
    ([$($gen:ident),*] $ty:ty $(where $($bound:tt)*)?) => {
        impl<$($gen),*> UnnestColumn for $ty $(where $($bound)*)? {
            fn bind_unnest<'a, I>(values: I, args: &mut PgArguments) -> Result<(), BoxDynError>
            where
                I: ExactSizeIterator<Item = &'a Self>,
                Self: 'a,
            {
                unnest_scalars(values, args)
            }

            fn bind_unnest_nullable<'a, I>(
                values: I,
                args: &mut PgArguments,
            ) -> Result<(), BoxDynError>
            where
                I: ExactSizeIterator<Item = Option<&'a Self>>,
                Self: 'a,
            {
                unnest_nullable_scalars(values, args)
            }
        }
    };
}

macro_rules! unnest_scalars {
    ($($ty:ty),* $(,)?) => {$(
        impl UnnestScalar for $ty {}
        unnest_scalar_impls!([] $ty);
    )*};
}

unnest_scalars!(
    uuid::Uuid,
    i16,
    i32,
    i64,
    bool,
    String,
    rust_decimal::Decimal,
    chrono::DateTime<chrono::Utc>,
    chrono::NaiveDate,
    f32,
    f64,
    serde_json::Value,
    Vec<u8>,
);

unnest_scalar_impls!([T] sqlx::types::Json<T> where T: serde::Serialize + Send + Sync);

/// `Option<T>` binds through `T`'s nullable binding. (A nested `Option<Option<T>>` is not a
/// [`ColumnType`](crate::ColumnType); its binding here collapses both `None`s to NULL.)
impl<T: UnnestColumn> UnnestColumn for Option<T> {
    fn bind_unnest<'a, I>(values: I, args: &mut PgArguments) -> Result<(), BoxDynError>
    where
        I: ExactSizeIterator<Item = &'a Self>,
        Self: 'a,
    {
        T::bind_unnest_nullable(values.map(Option::as_ref), args)
    }

    fn bind_unnest_nullable<'a, I>(values: I, args: &mut PgArguments) -> Result<(), BoxDynError>
    where
        I: ExactSizeIterator<Item = Option<&'a Self>>,
        Self: 'a,
    {
        T::bind_unnest_nullable(values.map(|v| v.and_then(Option::as_ref)), args)
    }
}

fn bind_flattened<'a, T: UnnestScalar + 'a>(
    rows: impl ExactSizeIterator<Item = Option<&'a Vec<T>>>,
    args: &mut PgArguments,
) -> Result<(), BoxDynError> {
    let mut elems: Vec<&T> = Vec::new();
    let mut lo: Vec<Option<i32>> = Vec::with_capacity(rows.len());
    let mut hi: Vec<Option<i32>> = Vec::with_capacity(rows.len());
    for row in rows {
        match row {
            Some(v) => {
                let start = i32::try_from(elems.len() + 1)?;
                elems.extend(v.iter());
                lo.push(Some(start));
                hi.push(Some(i32::try_from(elems.len())?));
            }
            None => {
                lo.push(None);
                hi.push(None);
            }
        }
    }
    args.add(elems)?;
    args.add(lo)?;
    args.add(hi)
}

// Bounded by `UnnestScalar`, not `ArrayElement`: `ColumnType for Vec<T>` requires
// `ArrayElement`, and a `Vec<T>` of a type that is not one (say a `DbEnum`) is then reported
// once, as that bound, rather than again for each use of the field.
impl<T: UnnestScalar> UnnestColumn for Vec<T> {
    fn bind_unnest<'a, I>(values: I, args: &mut PgArguments) -> Result<(), BoxDynError>
    where
        I: ExactSizeIterator<Item = &'a Self>,
        Self: 'a,
    {
        bind_flattened(values.map(Some), args)
    }

    fn bind_unnest_nullable<'a, I>(values: I, args: &mut PgArguments) -> Result<(), BoxDynError>
    where
        I: ExactSizeIterator<Item = Option<&'a Self>>,
        Self: 'a,
    {
        bind_flattened(values, args)
    }
}

/// Column types `Patch::add` accepts (`col = col + $n`).
pub trait Numeric {}
impl Numeric for i16 {}
impl Numeric for i32 {}
impl Numeric for i64 {}
impl Numeric for f32 {}
impl Numeric for f64 {}
impl Numeric for rust_decimal::Decimal {}
impl<T: Numeric> Numeric for Option<T> {}

/// JSONB column types (`serde_json::Value`, `Json<T>` and their `Option`s): they get
/// containment (`@>`), `->>` equality and merge (`||`).
pub trait JsonColumn {}
impl JsonColumn for serde_json::Value {}
impl<T> JsonColumn for sqlx::types::Json<T> {}
impl<T: JsonColumn> JsonColumn for Option<T> {}

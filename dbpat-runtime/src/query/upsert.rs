//! Upserts: `INSERT ... ON CONFLICT (<a unique key of the model>) DO NOTHING | DO UPDATE SET
//! ...`, for one row ([`Table::upsert`](crate::Table::upsert)) and for a batch over the
//! one-round-trip `UNNEST` insert ([`Table::upsert_many`](crate::Table::upsert_many)).
//!
//! The conflict target is a [`ConflictTarget`], of which the derive emits exactly one per
//! unique key of the model (`User::PKEY`, `User::EMAIL_KEY`, `Member::TEAM_ID_USER_ID_KEY`),
//! so a target that is not a unique key does not compile. Statement texts come pre-rendered
//! from [`TableSql::upserts`](super::TableSql::upserts) (the `DO UPDATE SET` of chosen columns
//! is appended to the pre-rendered head); every value is bound.

use super::filter::Column;
use super::patch::Direct;
use super::row::TableRow as Table;
use super::sql::UpsertSql;
use super::write::args_with;
use crate::error::{Error, Result};
use crate::model::ColumnRole;
use sqlx::postgres::PgArguments;
use sqlx::{Executor, Postgres};
use std::borrow::Cow;
use std::marker::PhantomData;

/// A unique key of entity `E` an upsert can conflict on: its primary key (`E::PKEY`), a
/// `#[dbpat(unique)]` field (`E::<FIELD>_KEY`, e.g. `User::EMAIL_KEY`) or a struct-level
/// `unique(a, b)` constraint (`E::<A>_<B>_KEY`, e.g. `Member::TEAM_ID_USER_ID_KEY`). The derive
/// emits one constant per key and no other way to make one, so an upsert on a column without
/// a unique constraint does not compile.
pub struct ConflictTarget<E> {
    columns: &'static [&'static str],
    _entity: PhantomData<fn() -> E>,
}

impl<E> Clone for ConflictTarget<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for ConflictTarget<E> {}

impl<E> std::fmt::Debug for ConflictTarget<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConflictTarget({})", self.columns.join(", "))
    }
}

impl<E> ConflictTarget<E> {
    /// The key over these columns (SQL names, in the constraint's order). Emitted by the
    /// derive only, for the model's own unique keys.
    #[doc(hidden)]
    pub const fn new(columns: &'static [&'static str]) -> Self {
        ConflictTarget {
            columns,
            _entity: PhantomData,
        }
    }

    /// The key's SQL column names.
    pub const fn columns(&self) -> &'static [&'static str] {
        self.columns
    }
}

/// What [`Upsert::on`] accepts: only the [`ConflictTarget`] constants of `E` the derive emits.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a unique key of `{E}`",
    label = "expected one of `{E}`'s conflict targets",
    note = "an upsert conflicts on a unique key of the model: `{E}::PKEY`, `{E}::<FIELD>_KEY` for a \
            `#[dbpat(unique)]` field, `{E}::<A>_<B>_KEY` for `unique(a, b)`; declare the \
            constraint in the model to upsert on it"
)]
pub trait IntoConflictTarget<E> {
    /// The target.
    fn into_target(self) -> ConflictTarget<E>;
}

impl<E> IntoConflictTarget<E> for ConflictTarget<E> {
    fn into_target(self) -> ConflictTarget<E> {
        self
    }
}

/// A column of `E` with its Rust type erased, for a list of columns built at run time
/// (`Column::any`, or `From<Column<E, T>>`).
pub struct AnyColumn<E> {
    index: usize,
    _entity: PhantomData<fn() -> E>,
}

impl<E> Clone for AnyColumn<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for AnyColumn<E> {}

impl<E> std::fmt::Debug for AnyColumn<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnyColumn({})", self.index)
    }
}

impl<E, T> From<Column<E, T>> for AnyColumn<E> {
    fn from(c: Column<E, T>) -> Self {
        AnyColumn {
            index: c.index(),
            _entity: PhantomData,
        }
    }
}

impl<E, T> Column<E, T> {
    /// This column with its Rust type erased, for a run-time list of columns
    /// (`upsert(..).on(..).do_update(&[User::NAME.any(), User::STATUS.any()][..])`).
    pub fn any(self) -> AnyColumn<E> {
        self.into()
    }
}

/// The columns a `DO UPDATE` sets from the proposed row: one column of `E`
/// (`User::NAME`), a tuple of them (`(User::NAME, User::STATUS)`, up to 12), or a slice of
/// [`AnyColumn`]. Columns of another entity do not compile.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a list of columns of `{E}`",
    label = "expected columns of `{E}`",
    note = "pass `{E}`'s own column constants: one (`{E}::NAME`), a tuple (`({E}::NAME, {E}::STATUS)`) \
            or a slice of `AnyColumn<{E}>`"
)]
pub trait UpdateColumns<E> {
    /// Appends the positions of the columns.
    fn positions(&self, out: &mut Vec<usize>);
}

impl<E, T> UpdateColumns<E> for Column<E, T> {
    fn positions(&self, out: &mut Vec<usize>) {
        out.push(self.index());
    }
}

impl<E> UpdateColumns<E> for [AnyColumn<E>] {
    fn positions(&self, out: &mut Vec<usize>) {
        out.extend(self.iter().map(|c| c.index));
    }
}

impl<E> UpdateColumns<E> for &[AnyColumn<E>] {
    fn positions(&self, out: &mut Vec<usize>) {
        out.extend(self.iter().map(|c| c.index));
    }
}

impl<E, const N: usize> UpdateColumns<E> for [AnyColumn<E>; N] {
    fn positions(&self, out: &mut Vec<usize>) {
        out.extend(self.iter().map(|c| c.index));
    }
}

macro_rules! tuple_columns {
    ($($t:ident $i:tt),+) => {
        impl<E, $($t),+> UpdateColumns<E> for ($(Column<E, $t>,)+) {
            fn positions(&self, out: &mut Vec<usize>) {
                $( out.push(self.$i.index()); )+
            }
        }
    };
}
tuple_columns!(A 0);
tuple_columns!(A 0, B 1);
tuple_columns!(A 0, B 1, C 2);
tuple_columns!(A 0, B 1, C 2, D 3);
tuple_columns!(A 0, B 1, C 2, D 3, F 4);
tuple_columns!(A 0, B 1, C 2, D 3, F 4, G 5);
tuple_columns!(A 0, B 1, C 2, D 3, F 4, G 5, H 6);
tuple_columns!(A 0, B 1, C 2, D 3, F 4, G 5, H 6, I 7);
tuple_columns!(A 0, B 1, C 2, D 3, F 4, G 5, H 6, I 7, J 8);
tuple_columns!(A 0, B 1, C 2, D 3, F 4, G 5, H 6, I 7, J 8, K 9);
tuple_columns!(A 0, B 1, C 2, D 3, F 4, G 5, H 6, I 7, J 8, K 9, L 10);
tuple_columns!(A 0, B 1, C 2, D 3, F 4, G 5, H 6, I 7, J 8, K 9, L 10, M 11);

/// An upsert before its conflict target, from [`Table::upsert`](crate::Table::upsert) or
/// [`Table::upsert_many`](crate::Table::upsert_many) (`Rows` is `&E` or `&[E]`); name the key
/// with [`Upsert::on`].
///
/// ```no_run
/// # use dbpat_runtime::query::{Column, ConflictTarget};
/// # use dbpat_runtime::Table;
/// # async fn demo<User: Table>(pool: sqlx::PgPool, ann: User, email_key: ConflictTarget<User>,
/// #     name: Column<User, String>) -> dbpat_runtime::Result<()> {
/// // INSERT ... ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name RETURNING ...
/// let stored: User = User::upsert(&pool, &ann).on(email_key).do_update(name).await?;
/// // INSERT ... ON CONFLICT (email) DO NOTHING RETURNING ...: None if the email existed
/// let inserted: Option<User> = User::upsert(&pool, &ann).on(email_key).do_nothing().await?;
/// # let _ = (stored, inserted); Ok(()) }
/// ```
#[must_use = "an upsert does nothing until `.on(key)` and `.do_nothing()` / `.do_update(..)` run it"]
pub struct Upsert<E, X, Rows, Via = Direct> {
    ex: X,
    rows: Rows,
    via: Via,
    _entity: PhantomData<fn() -> E>,
}

/// An upsert with its conflict target: finish it with [`OnConflict::do_nothing`],
/// [`OnConflict::do_update`] or [`OnConflict::do_update_all`], which run it.
#[must_use = "an upsert does nothing until `.do_nothing()` / `.do_update(..)` run it"]
pub struct OnConflict<E, X, Rows, Via = Direct> {
    ex: X,
    rows: Rows,
    via: Via,
    target: ConflictTarget<E>,
}

impl<E: Table, X, Rows, Via> Upsert<E, X, Rows, Via> {
    pub(crate) fn via(ex: X, rows: Rows, via: Via) -> Self {
        Upsert {
            ex,
            rows,
            via,
            _entity: PhantomData,
        }
    }

    /// `ON CONFLICT (<the key's columns>)`: one of `E`'s [`ConflictTarget`] constants.
    pub fn on(self, target: impl IntoConflictTarget<E>) -> OnConflict<E, X, Rows, Via> {
        OnConflict {
            ex: self.ex,
            rows: self.rows,
            via: self.via,
            target: target.into_target(),
        }
    }
}

/// What an upsert does on a conflict.
pub(crate) enum Action {
    Nothing,
    UpdateAll,
    Update(Vec<usize>),
}

/// One statement of an upsert, ready to run.
pub(crate) struct Statement {
    pub(crate) sql: Cow<'static, str>,
    pub(crate) args: PgArguments,
    pub(crate) constraint: &'static str,
}

fn upsert_sql<E: Table>(target: &ConflictTarget<E>) -> Result<&'static UpsertSql> {
    E::sql().upsert(target.columns).ok_or(Error::InvalidQuery(
        "upsert: the conflict target is not a unique key of this model",
    ))
}

/// The statement text: pre-rendered for `DO NOTHING` and `DO UPDATE` of every column; the
/// pre-rendered head plus the chosen `SET` list otherwise. `many` picks the batch statement.
fn text<E: Table>(
    upsert: &'static UpsertSql,
    action: &Action,
    many: bool,
) -> Result<Cow<'static, str>> {
    let sql = E::sql();
    let full = &upsert.full[usize::from(many)];
    Ok(match action {
        Action::Nothing => Cow::Borrowed(full[0].as_str()),
        Action::UpdateAll => Cow::Borrowed(full[1].as_str()),
        Action::Update(columns) => {
            if let Some(&bad) = columns.iter().find(|i| !sql.update_columns.contains(i)) {
                let column = &E::TABLE.columns[bad];
                return Err(Error::InvalidQuery(if column.primary_key {
                    "upsert do_update: the primary key cannot be set"
                } else if column.role != ColumnRole::Plain {
                    "upsert do_update: created_at, updated_at and the version are kept by the \
                     server and cannot be set"
                } else {
                    "upsert do_update: no such column"
                }));
            }
            let mut set: Vec<usize> = Vec::with_capacity(columns.len());
            for &c in columns {
                if !set.contains(&c) {
                    set.push(c);
                }
            }
            let head = if many {
                &upsert.many_head
            } else {
                &upsert.one_head
            };
            let tail = upsert.update_chosen(sql.table, &set, &sql.columns);
            let mut s = String::with_capacity(head.len() + tail.len());
            s.push_str(head);
            s.push_str(&tail);
            Cow::Owned(s)
        }
    })
}

/// The statement upserting one row.
pub(crate) fn one_statement<E: Table>(
    row: &E,
    target: &ConflictTarget<E>,
    action: &Action,
) -> Result<Statement> {
    let upsert = upsert_sql(target)?;
    let mut args = args_with(upsert.insert_columns.len());
    for &i in &upsert.insert_columns {
        row.bind_column(i, &mut args).map_err(Error::encode)?;
    }
    Ok(Statement {
        sql: text::<E>(upsert, action, false)?,
        args,
        constraint: constraint_name(upsert),
    })
}

/// The statement upserting a batch (one `UNNEST` statement).
pub(crate) fn many_statement<E: Table>(
    rows: &[E],
    target: &ConflictTarget<E>,
    action: &Action,
) -> Result<Statement> {
    let upsert = upsert_sql(target)?;
    let mut args = args_with(upsert.insert_columns.len() * 3);
    for &i in &upsert.insert_columns {
        E::bind_unnest(rows, i, &mut args).map_err(Error::encode)?;
    }
    Ok(Statement {
        sql: text::<E>(upsert, action, true)?,
        args,
        constraint: constraint_name(upsert),
    })
}

fn constraint_name(upsert: &'static UpsertSql) -> &'static str {
    upsert.constraint.as_str()
}

/// The error of an upsert statement: PostgreSQL's "ON CONFLICT DO UPDATE command cannot
/// affect row a second time" (a batch with two rows of one key) becomes
/// [`Error::UpsertDuplicateKey`]; the rest is classified like any write.
pub(crate) fn upsert_error<E: Table>(constraint: &'static str, err: sqlx::Error) -> Error {
    let twice = err.as_database_error().is_some_and(|db| {
        db.code().as_deref() == Some("21000")
            && db.message().contains("cannot affect row a second time")
    });
    if twice {
        return Error::UpsertDuplicateKey {
            entity: E::TABLE.entity,
            constraint,
        };
    }
    Error::from_write(&E::TABLE, err)
}

pub(crate) async fn run_one<'e, E: Table, X>(ex: X, st: Statement) -> Result<Option<E>>
where
    X: Executor<'e, Database = Postgres>,
{
    let constraint = st.constraint;
    crate::telemetry::Statement::of::<E>("upsert", "INSERT")
        .run(&st.sql, async {
            sqlx::query_as_with::<_, E, _>(&st.sql, st.args)
                .fetch_optional(ex)
                .await
                .map_err(|e| upsert_error::<E>(constraint, e))
        })
        .await
}

pub(crate) async fn run_many<'e, E: Table, X>(ex: X, st: Statement) -> Result<Vec<E>>
where
    X: Executor<'e, Database = Postgres>,
{
    let constraint = st.constraint;
    crate::telemetry::Statement::of::<E>("upsert_many", "INSERT")
        .run(&st.sql, async {
            sqlx::query_as_with::<_, E, _>(&st.sql, st.args)
                .fetch_all(ex)
                .await
                .map_err(|e| upsert_error::<E>(constraint, e))
        })
        .await
}

/// The row the `DO UPDATE` statement returned (it always returns one).
fn stored<E: Table>(row: Option<E>) -> Result<E> {
    row.ok_or_else(|| Error::NotFound {
        entity: E::TABLE.entity,
        key: String::new(),
    })
}

impl<E: Table, X, Rows, Via> OnConflict<E, X, Rows, Via> {
    /// Splits the upsert into its parts (for the cached handle).
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub(crate) fn into_parts(self) -> (X, Rows, Via, ConflictTarget<E>) {
        (self.ex, self.rows, self.via, self.target)
    }
}

impl<E: Table, X, Via> OnConflict<E, X, &E, Via> {
    /// The statement text `action` would run (for logs and tests; no values). Empty if it
    /// cannot run.
    fn text(&self, action: Action) -> String {
        one_statement(self.rows, &self.target, &action)
            .map(|s| s.sql.into_owned())
            .unwrap_or_default()
    }

    /// The SQL of [`OnConflict::do_nothing`].
    pub fn do_nothing_sql(&self) -> String {
        self.text(Action::Nothing)
    }

    /// The SQL of [`OnConflict::do_update`] with these columns.
    pub fn do_update_sql(&self, columns: impl UpdateColumns<E>) -> String {
        let mut set = Vec::new();
        columns.positions(&mut set);
        self.text(Action::Update(set))
    }
}

impl<E: Table, X> OnConflict<E, X, &E, Direct> {
    /// `... ON CONFLICT (<key>) DO NOTHING RETURNING *`: the row as inserted, or `None` when
    /// a row with the same key existed (it is left as it was).
    pub async fn do_nothing<'e>(self) -> Result<Option<E>>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let st = one_statement(self.rows, &self.target, &Action::Nothing)?;
        run_one(self.ex, st).await
    }

    /// `... ON CONFLICT (<key>) DO UPDATE SET c = EXCLUDED.c, ... RETURNING *` for the chosen
    /// columns (`User::NAME`, or a tuple `(User::NAME, User::STATUS)`): the row as stored, new
    /// or updated. A versioned entity's update also sets `version = version + 1`;
    /// `updated_at` is set by the table's trigger. The key, `created_at`, `updated_at` and the
    /// version cannot be chosen ([`Error::InvalidQuery`]).
    pub async fn do_update<'e>(self, columns: impl UpdateColumns<E>) -> Result<E>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let mut set = Vec::new();
        columns.positions(&mut set);
        let st = one_statement(self.rows, &self.target, &Action::Update(set))?;
        stored(run_one(self.ex, st).await?)
    }

    /// [`OnConflict::do_update`] of every column [`Table::update`](crate::Table::update)
    /// writes (all but the key's columns, the timestamps and the version).
    pub async fn do_update_all<'e>(self) -> Result<E>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let st = one_statement(self.rows, &self.target, &Action::UpdateAll)?;
        stored(run_one(self.ex, st).await?)
    }
}

impl<E: Table, X, Via> OnConflict<E, X, &[E], Via> {
    /// The SQL of [`OnConflict::do_nothing`] for the batch (no values).
    pub fn do_nothing_sql(&self) -> String {
        many_statement(self.rows, &self.target, &Action::Nothing)
            .map(|s| s.sql.into_owned())
            .unwrap_or_default()
    }
}

impl<E: Table, X> OnConflict<E, X, &[E], Direct> {
    /// One statement for the whole batch (`INSERT ... SELECT FROM UNNEST(...) ON CONFLICT
    /// (<key>) DO NOTHING RETURNING *`): the rows inserted; rows whose key existed are left as
    /// they were and are not returned. An empty batch sends nothing.
    pub async fn do_nothing<'e>(self) -> Result<Vec<E>>
    where
        X: Executor<'e, Database = Postgres>,
    {
        if self.rows.is_empty() {
            return Ok(Vec::new());
        }
        let st = many_statement(self.rows, &self.target, &Action::Nothing)?;
        run_many(self.ex, st).await
    }

    /// One statement for the whole batch, `DO UPDATE SET` the chosen columns: every row as
    /// stored, inserted or updated (a versioned entity's updated rows get `version + 1`).
    /// Two rows of the batch with the same key fail with [`Error::UpsertDuplicateKey`] and
    /// nothing is written (PostgreSQL cannot update one row twice in one statement).
    pub async fn do_update<'e>(self, columns: impl UpdateColumns<E>) -> Result<Vec<E>>
    where
        X: Executor<'e, Database = Postgres>,
    {
        if self.rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut set = Vec::new();
        columns.positions(&mut set);
        let st = many_statement(self.rows, &self.target, &Action::Update(set))?;
        run_many(self.ex, st).await
    }

    /// [`OnConflict::do_update`] of every column [`Table::update`](crate::Table::update)
    /// writes.
    pub async fn do_update_all<'e>(self) -> Result<Vec<E>>
    where
        X: Executor<'e, Database = Postgres>,
    {
        if self.rows.is_empty() {
            return Ok(Vec::new());
        }
        let st = many_statement(self.rows, &self.target, &Action::UpdateAll)?;
        run_many(self.ex, st).await
    }
}

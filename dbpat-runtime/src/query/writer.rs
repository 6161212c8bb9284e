//! [`SqlWriter`]: one object that owns a statement's text and its bound values, numbering the
//! placeholders itself (like sqlx's `QueryBuilder`), so text and values can never disagree.
//!
//! Values are bound as they are written; the first value that fails to encode is kept and
//! returned by [`SqlWriter::finish`], so building code needs no `?` at every step and a bad
//! value is a typed [`Error::Encode`], never a panic.

use super::value::BindValue;
use crate::error::{Error, Result};
use sqlx::error::BoxDynError;
use sqlx::postgres::PgArguments;
use std::fmt::Write as _;

/// A statement being written: SQL text, its arguments, and the number of the last placeholder.
pub(crate) struct SqlWriter {
    sql: String,
    args: PgArguments,
    params: usize,
    error: Option<BoxDynError>,
}

impl SqlWriter {
    /// An empty statement.
    pub(crate) fn new() -> Self {
        SqlWriter {
            sql: String::with_capacity(128),
            args: PgArguments::default(),
            params: 0,
            error: None,
        }
    }

    /// A statement starting with `head` (e.g. a pre-rendered `SELECT ... FROM t`).
    pub(crate) fn starting_with(head: &str) -> Self {
        let mut w = SqlWriter::new();
        w.push(head);
        w
    }

    /// Appends SQL text (identifiers from the model, keywords; never a user value).
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    /// Binds `value` as the next parameter and appends its placeholder (`$n`).
    pub(crate) fn push_bind(&mut self, value: &dyn BindValue) -> &mut Self {
        let n = self.bind(|args| value.bind(args));
        self.push_param(n)
    }

    /// Binds the next parameter with `bind` (which must add exactly one value) without writing
    /// text; returns its number, for [`SqlWriter::push_param`] (a parameter may be referenced
    /// more than once).
    pub(crate) fn bind(
        &mut self,
        bind: impl FnOnce(&mut PgArguments) -> std::result::Result<(), BoxDynError>,
    ) -> usize {
        self.bind_many(1, bind)
    }

    /// Binds `count` parameters at once with `bind` (which must add exactly `count` values,
    /// e.g. every column of a composite key); returns the number of the first.
    pub(crate) fn bind_many(
        &mut self,
        count: usize,
        bind: impl FnOnce(&mut PgArguments) -> std::result::Result<(), BoxDynError>,
    ) -> usize {
        let first = self.params + 1;
        self.params += count;
        if self.error.is_none() {
            if let Err(err) = bind(&mut self.args) {
                self.error = Some(err);
            }
        }
        first
    }

    /// Appends the placeholder of parameter `n` (`$n`).
    pub(crate) fn push_param(&mut self, n: usize) -> &mut Self {
        let _ = write!(self.sql, "${n}");
        self
    }

    /// The text written so far.
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    /// The text written so far, for inspection by tests and logs (no values).
    pub(crate) fn into_sql(self) -> String {
        self.sql
    }

    /// The statement and its arguments, or the first value that did not encode.
    pub(crate) fn finish(self) -> Result<(String, PgArguments)> {
        match self.error {
            Some(err) => Err(Error::encode(err)),
            None => Ok((self.sql, self.args)),
        }
    }
}

/// A value that failed before it could be bound (e.g. a JSONB filter value that does not
/// serialize): binding it reports the failure, so the statement fails with [`Error::Encode`].
pub(crate) struct Unencodable(pub(crate) String);

impl BindValue for Unencodable {
    fn bind(&self, _: &mut PgArguments) -> std::result::Result<(), BoxDynError> {
        Err(self.0.clone().into())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A JSONB value as a bound parameter, or the [`Unencodable`] that says why it is none.
pub(crate) fn json_value(value: impl serde::Serialize) -> std::sync::Arc<dyn BindValue> {
    match serde_json::to_value(value) {
        Ok(v) => std::sync::Arc::new(v),
        Err(err) => std::sync::Arc::new(Unencodable(format!(
            "value does not serialize to JSON: {err}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_placeholders_and_keeps_the_first_encode_error() {
        let mut w = SqlWriter::starting_with("SELECT 1 WHERE a = ");
        w.push_bind(&1_i64).push(" AND b = ").push_bind(&"x");
        let n = w.bind(|args| sqlx::Arguments::add(args, 2_i32));
        w.push(" AND c = ")
            .push_param(n)
            .push(" OR c > ")
            .push_param(n);
        assert_eq!(
            w.sql(),
            "SELECT 1 WHERE a = $1 AND b = $2 AND c = $3 OR c > $3"
        );
        assert!(w.finish().is_ok());

        let mut w = SqlWriter::new();
        w.push_bind(&Unencodable("nope".into())).push_bind(&1_i64);
        match w.finish() {
            Err(Error::Encode(e)) => assert_eq!(e.to_string(), "nope"),
            other => panic!("expected an encode error, got {:?}", other.map(|(s, _)| s)),
        }
    }
}

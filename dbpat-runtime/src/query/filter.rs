//! Typed filters: [`Column`] constants emitted by the derive, [`Filter`] trees combined with
//! AND/OR/NOT, and [`Order`] terms. Values are always bound parameters; every identifier comes
//! from the model.

use super::sql::FullTextSql;
use super::value::{BindValue, IntoValue, JsonColumn, SqlValue};
use super::writer::{json_value, SqlWriter};
use crate::ddl::{ident, literal};
use sqlx::postgres::PgHasArrayType;
use std::marker::PhantomData;

#[cfg_attr(not(feature = "cold"), allow(dead_code))]
mod bounds;
#[cfg_attr(not(feature = "cold"), allow(unused_imports))]
pub(crate) use bounds::{days_since_epoch, ColumnBound, Scalar};

/// A column of entity `E` whose Rust type is `T`; the derive emits one per field as an
/// associated constant (`Product::CATEGORY: Column<Product, String>`).
///
/// Filters built from it only accept values of the column's type, so comparing a TEXT column
/// with an integer does not compile.
pub struct Column<E, T> {
    index: usize,
    name: &'static str,
    _marker: PhantomData<fn() -> (E, T)>,
}

impl<E, T> Clone for Column<E, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E, T> Copy for Column<E, T> {}

impl<E, T> std::fmt::Debug for Column<E, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Column({})", self.name)
    }
}

/// A bound value, shared so that filters clone cheaply.
type Boxed = std::sync::Arc<dyn BindValue>;

/// One node of a filter tree.
#[derive(Clone)]
enum Node {
    Compare {
        column: &'static str,
        op: &'static str,
        value: Boxed,
    },
    /// `col = ANY($n)` / `NOT (col = ANY($n))` with one array parameter.
    Any {
        column: &'static str,
        negated: bool,
        values: Boxed,
    },
    Null {
        column: &'static str,
        negated: bool,
    },
    JsonContains {
        column: &'static str,
        value: Boxed,
    },
    JsonField {
        column: &'static str,
        key: &'static str,
        op: &'static str,
        value: Boxed,
    },
    Search {
        head: &'static str,
        query: Boxed,
    },
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// A subtree on one side of a join (its columns qualified by that side's alias).
    Sided(usize, Box<Node>),
}

/// A WHERE condition over entity `E`. Build it from column constants and combine with
/// [`Filter::and`], [`Filter::or`], [`Filter::not`] (or `&`, `|`, `!`).
pub struct Filter<E> {
    node: Node,
    _marker: PhantomData<fn() -> E>,
}

impl<E> Clone for Filter<E> {
    /// A copy of the condition (bound values are shared, not copied).
    fn clone(&self) -> Self {
        Filter::new(self.node.clone())
    }
}

impl<E> std::fmt::Debug for Filter<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Filter({})", self.to_sql())
    }
}

impl<E> Filter<E> {
    fn new(node: Node) -> Self {
        Filter {
            node,
            _marker: PhantomData,
        }
    }

    /// A filter every row passes (`TRUE`), the neutral element of [`Filter::and`].
    pub fn all() -> Self {
        Self::new(Node::And(Vec::new()))
    }

    /// Both conditions.
    pub fn and(self, other: Filter<E>) -> Self {
        match self.node {
            Node::And(mut v) => {
                v.push(other.node);
                Self::new(Node::And(v))
            }
            node => Self::new(Node::And(vec![node, other.node])),
        }
    }

    /// Either condition.
    pub fn or(self, other: Filter<E>) -> Self {
        match self.node {
            Node::Or(mut v) => {
                v.push(other.node);
                Self::new(Node::Or(v))
            }
            node => Self::new(Node::Or(vec![node, other.node])),
        }
    }

    /// The negation.
    #[allow(clippy::should_implement_trait)] // `!f` works too, through `std::ops::Not`
    pub fn not(self) -> Self {
        Self::new(Node::Not(Box::new(self.node)))
    }

    /// Full-text search over the table's full-text index: renders
    /// `<the index's exact to_tsvector(...)> @@ websearch_to_tsquery('<lang>', $n)`, so
    /// PostgreSQL uses the GIN index. The derive exposes it as `Entity::search(query)` on
    /// entities that declare `index(fulltext(...))`.
    #[doc(hidden)]
    pub fn search_index(index: &'static FullTextSql, query: String) -> Self {
        Self::new(Node::Search {
            head: &index.predicate_head,
            query: std::sync::Arc::new(query),
        })
    }

    /// `column = $n` with an already-typed bound value: the foreign-key filters of a
    /// [`Relation`](super::Relation), whose value is the parent's key.
    pub(crate) fn column_eq(column: &'static str, value: Boxed) -> Self {
        Self::new(Node::Compare {
            column,
            op: "=",
            value,
        })
    }

    /// `column = ANY($n)` with one bound array: a [`Relation`](super::Relation)'s eager loads.
    pub(crate) fn column_any(column: &'static str, values: Boxed) -> Self {
        Self::new(Node::Any {
            column,
            negated: false,
            values,
        })
    }

    /// The same condition with its entity erased (a join keeps each side's condition with
    /// the side it qualifies).
    pub(crate) fn erase<F>(self) -> Filter<F> {
        Filter::new(self.node)
    }

    /// Writes the condition into `w`, binding its values.
    pub(crate) fn render(&self, w: &mut SqlWriter) {
        self.node.render(w, None, &[])
    }

    /// Writes the condition with every column qualified by `qualifier` (a table alias of a
    /// join; `sides` holds each side's, for conditions over both), binding its values.
    pub(crate) fn render_qualified(
        &self,
        w: &mut SqlWriter,
        qualifier: Option<&str>,
        sides: &[Option<&str>],
    ) {
        self.node.render(w, qualifier, sides)
    }

    /// The same condition placed on join side `side` (its columns qualified by that side's
    /// alias wherever the condition is written).
    pub(crate) fn on_side<F>(self, side: usize) -> Filter<F> {
        Filter::new(Node::Sided(side, Box::new(self.node)))
    }

    /// Whether the condition holds a full-text search (`Entity::search`), which cannot be
    /// qualified by a table alias.
    pub(crate) fn has_search(&self) -> bool {
        self.node.has_search()
    }

    /// The conditions the filter puts on single columns, for storage PostgreSQL does not scan
    /// (see module `bounds`).
    #[cfg_attr(not(feature = "cold"), allow(dead_code))]
    pub(crate) fn column_bounds(&self) -> Vec<(&'static str, ColumnBound)> {
        bounds::column_bounds(&self.node)
    }

    /// Whether this is the filter every row passes (nothing to write after `WHERE`).
    pub(crate) fn is_all(&self) -> bool {
        matches!(&self.node, Node::And(v) if v.is_empty())
    }

    /// The SQL text of the condition alone (placeholders from `$1`), for tests and logs.
    pub fn to_sql(&self) -> String {
        let mut w = SqlWriter::new();
        self.node.render(&mut w, None, &[]);
        w.into_sql()
    }
}

impl<E> std::ops::BitAnd for Filter<E> {
    type Output = Filter<E>;
    fn bitand(self, rhs: Self) -> Self {
        self.and(rhs)
    }
}

impl<E> std::ops::BitOr for Filter<E> {
    type Output = Filter<E>;
    fn bitor(self, rhs: Self) -> Self {
        self.or(rhs)
    }
}

impl<E> std::ops::Not for Filter<E> {
    type Output = Filter<E>;
    fn not(self) -> Self {
        Filter::not(self)
    }
}

/// Writes a column name, qualified by a table alias when one is given (`t0.id` in a join).
pub(crate) fn push_column(w: &mut SqlWriter, qualifier: Option<&str>, column: &str) {
    if let Some(q) = qualifier {
        w.push(q).push(".");
    }
    w.push(&ident(column));
}

impl Node {
    /// Whether the tree holds a full-text search, whose pre-rendered expression names its
    /// columns unqualified.
    fn has_search(&self) -> bool {
        match self {
            Node::Search { .. } => true,
            Node::And(v) | Node::Or(v) => v.iter().any(Node::has_search),
            Node::Not(n) | Node::Sided(_, n) => n.has_search(),
            _ => false,
        }
    }

    /// `q`: the qualifier of the columns here; `sides`: each join side's, for `Sided` subtrees.
    fn render(&self, w: &mut SqlWriter, q: Option<&str>, sides: &[Option<&str>]) {
        match self {
            Node::Compare { column, op, value } => {
                push_column(w, q, column);
                w.push(" ").push(op).push(" ");
                w.push_bind(value.as_ref());
            }
            Node::Any {
                column,
                negated,
                values,
            } => {
                if *negated {
                    w.push("NOT (");
                }
                push_column(w, q, column);
                w.push(" = ANY(");
                w.push_bind(values.as_ref()).push(")");
                if *negated {
                    w.push(")");
                }
            }
            Node::Null { column, negated } => {
                push_column(w, q, column);
                w.push(if *negated { " IS NOT NULL" } else { " IS NULL" });
            }
            Node::JsonContains { column, value } => {
                push_column(w, q, column);
                w.push(" @> ");
                w.push_bind(value.as_ref());
            }
            Node::JsonField {
                column,
                key,
                op,
                value,
            } => {
                // The key is a `&'static str` from the program, rendered as a literal so an
                // expression index on `(col->>'key')` matches; the value is bound.
                w.push("(");
                push_column(w, q, column);
                w.push("->>")
                    .push(&literal(key))
                    .push(") ")
                    .push(op)
                    .push(" ");
                w.push_bind(value.as_ref());
            }
            Node::Search { head, query } => {
                w.push(head).push_bind(query.as_ref()).push(")");
            }
            Node::And(nodes) | Node::Or(nodes) => {
                let and = matches!(self, Node::And(_));
                match nodes.len() {
                    0 => {
                        w.push(if and { "TRUE" } else { "FALSE" });
                    }
                    1 => nodes[0].render(w, q, sides),
                    _ => {
                        w.push("(");
                        for (i, node) in nodes.iter().enumerate() {
                            if i > 0 {
                                w.push(if and { " AND " } else { " OR " });
                            }
                            node.render(w, q, sides);
                        }
                        w.push(")");
                    }
                }
            }
            Node::Sided(side, node) => {
                node.render(w, sides.get(*side).copied().flatten(), sides);
            }
            Node::Not(node) => {
                w.push("NOT (");
                node.render(w, q, sides);
                w.push(")");
            }
        }
    }
}

impl<E, T> Column<E, T> {
    /// A column at position `index` of the entity's columns, named `name` in SQL.
    #[doc(hidden)]
    pub const fn new(index: usize, name: &'static str) -> Self {
        Column {
            index,
            name,
            _marker: PhantomData,
        }
    }

    /// The SQL column name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The position among the entity's columns (declaration order).
    pub const fn index(&self) -> usize {
        self.index
    }

    /// `col IS NULL`
    pub fn is_null(self) -> Filter<E> {
        Filter::new(Node::Null {
            column: self.name,
            negated: false,
        })
    }

    /// `col IS NOT NULL`
    pub fn is_not_null(self) -> Filter<E> {
        Filter::new(Node::Null {
            column: self.name,
            negated: true,
        })
    }

    /// `ORDER BY col ASC`
    pub fn asc(self) -> Order<E> {
        Order::new(self.index, self.name, false)
    }

    /// `ORDER BY col DESC`
    pub fn desc(self) -> Order<E> {
        Order::new(self.index, self.name, true)
    }
}

impl<E, T: SqlValue> Column<E, T> {
    fn compare(self, op: &'static str, value: T::Value) -> Filter<E> {
        Filter::new(Node::Compare {
            column: self.name,
            op,
            value: std::sync::Arc::new(value),
        })
    }

    /// `col = $n`
    pub fn eq(self, value: impl IntoValue<T::Value>) -> Filter<E> {
        self.compare("=", value.into_value())
    }

    /// `col <> $n`
    pub fn ne(self, value: impl IntoValue<T::Value>) -> Filter<E> {
        self.compare("<>", value.into_value())
    }

    /// `col < $n`
    pub fn lt(self, value: impl IntoValue<T::Value>) -> Filter<E> {
        self.compare("<", value.into_value())
    }

    /// `col <= $n`
    pub fn le(self, value: impl IntoValue<T::Value>) -> Filter<E> {
        self.compare("<=", value.into_value())
    }

    /// `col > $n`
    pub fn gt(self, value: impl IntoValue<T::Value>) -> Filter<E> {
        self.compare(">", value.into_value())
    }

    /// `col >= $n`
    pub fn ge(self, value: impl IntoValue<T::Value>) -> Filter<E> {
        self.compare(">=", value.into_value())
    }

    /// `col = ANY($n)`: IN over one array parameter, whatever the number of values.
    pub fn in_<I>(self, values: I) -> Filter<E>
    where
        I: IntoIterator,
        I::Item: IntoValue<T::Value>,
        T::Value: PgHasArrayType,
    {
        let values: Vec<T::Value> = values.into_iter().map(IntoValue::into_value).collect();
        Filter::new(Node::Any {
            column: self.name,
            negated: false,
            values: std::sync::Arc::new(values),
        })
    }

    /// `NOT (col = ANY($n))`
    pub fn not_in<I>(self, values: I) -> Filter<E>
    where
        I: IntoIterator,
        I::Item: IntoValue<T::Value>,
        T::Value: PgHasArrayType,
    {
        let values: Vec<T::Value> = values.into_iter().map(IntoValue::into_value).collect();
        Filter::new(Node::Any {
            column: self.name,
            negated: true,
            values: std::sync::Arc::new(values),
        })
    }
}

impl<E, T: JsonColumn> Column<E, T> {
    /// `col @> $n::jsonb`: JSONB containment, served by a GIN (`jsonb_path_ops`) index.
    ///
    /// A value that does not serialize to JSON makes the query fail with
    /// [`Error::Encode`](crate::Error::Encode) when it runs.
    pub fn contains(self, value: impl serde::Serialize) -> Filter<E> {
        Filter::new(Node::JsonContains {
            column: self.name,
            value: json_value(value),
        })
    }

    /// The text of one top-level key, `(col->>'key')`, to compare with a string.
    pub fn field(self, key: &'static str) -> JsonField<E> {
        JsonField {
            column: self.name,
            key,
            _marker: PhantomData,
        }
    }
}

/// `(col->>'key')` of a JSONB column; compare it with [`JsonField::eq`].
pub struct JsonField<E> {
    column: &'static str,
    key: &'static str,
    _marker: PhantomData<fn() -> E>,
}

impl<E> JsonField<E> {
    /// `(col->>'key') = $n`
    pub fn eq(self, value: impl Into<String>) -> Filter<E> {
        self.op("=", value.into())
    }

    /// `(col->>'key') <> $n`
    pub fn ne(self, value: impl Into<String>) -> Filter<E> {
        self.op("<>", value.into())
    }

    fn op(self, op: &'static str, value: String) -> Filter<E> {
        Filter::new(Node::JsonField {
            column: self.column,
            key: self.key,
            op,
            value: std::sync::Arc::new(value),
        })
    }
}

/// One ORDER BY term over a column of `E`, from [`Column::asc`] or [`Column::desc`].
pub struct Order<E> {
    pub(crate) index: usize,
    pub(crate) name: &'static str,
    pub(crate) desc: bool,
    _marker: PhantomData<fn() -> E>,
}

impl<E> Clone for Order<E> {
    fn clone(&self) -> Self {
        Order::new(self.index, self.name, self.desc)
    }
}

impl<E> std::fmt::Debug for Order<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}",
            self.name,
            if self.desc { "DESC" } else { "ASC" }
        )
    }
}

impl<E> Order<E> {
    pub(crate) fn new(index: usize, name: &'static str, desc: bool) -> Self {
        Order {
            index,
            name,
            desc,
            _marker: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct P;
    const NAME: Column<P, String> = Column::new(1, "name");
    const STOCK: Column<P, i32> = Column::new(2, "stock");
    const NOTE: Column<P, Option<String>> = Column::new(3, "note");
    const ATTRS: Column<P, serde_json::Value> = Column::new(4, "attributes");
    const ORDER: Column<P, i64> = Column::new(5, "order");

    #[test]
    fn renders_placeholders_in_order() {
        let f = NAME.eq("a") & (STOCK.gt(3) | NOTE.is_null()) & !STOCK.in_([1, 2, 3]);
        assert_eq!(
            f.to_sql(),
            "(name = $1 AND (stock > $2 OR note IS NULL) AND NOT (stock = ANY($3)))"
        );
        let f = ATTRS
            .contains(serde_json::json!({"brand": "Apple"}))
            .and(ATTRS.field("color").eq("black"))
            .and(ORDER.le(5))
            .and(NOTE.eq("x"));
        assert_eq!(
            f.to_sql(),
            "(attributes @> $1 AND (attributes->>'color') = $2 AND \"order\" <= $3 AND note = $4)"
        );
        assert_eq!(Filter::<P>::all().to_sql(), "TRUE");
        assert_eq!(STOCK.not_in(vec![1]).to_sql(), "NOT (stock = ANY($1))");
    }
}

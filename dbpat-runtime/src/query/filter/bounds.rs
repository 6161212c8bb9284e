//! What a filter says about single columns' values, for storage that PostgreSQL does not scan
//! itself: the cold tier skips the periods, Parquet row groups and rows whose values cannot
//! match, before the rest goes to PostgreSQL with the filter.
//!
//! The reading is conservative: only conditions ANDed at the top of the filter count
//! (`col = v`, `col IN (...)`, and `<`, `<=`, `>`, `>=` on numbers, timestamps, dates and
//! UUIDs); anything under OR or NOT, and any other condition, constrains nothing. So a value
//! [`ColumnBound::admits`] may still fail the filter, but a value it rejects always does.
//! Text is compared only for equality: its order depends on the column's collation.

use super::Node;
use chrono::{DateTime, NaiveDate, Utc};
use std::cmp::Ordering;

/// A filter value in a form that storage statistics compare with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scalar {
    /// SMALLINT, INTEGER, BIGINT.
    Int(i64),
    /// TIMESTAMPTZ, in microseconds since the Unix epoch.
    Micros(i64),
    /// DATE, in days since the Unix epoch.
    Days(i32),
    /// UUID, its 16 bytes (PostgreSQL orders UUIDs by them).
    Uuid([u8; 16]),
    /// TEXT (equality only).
    Text(String),
}

impl Scalar {
    /// The value, if the filter compared the column with a type this reading knows.
    fn of(value: &dyn std::any::Any) -> Option<Scalar> {
        if let Some(v) = value.downcast_ref::<i64>() {
            return Some(Scalar::Int(*v));
        }
        if let Some(v) = value.downcast_ref::<i32>() {
            return Some(Scalar::Int(i64::from(*v)));
        }
        if let Some(v) = value.downcast_ref::<i16>() {
            return Some(Scalar::Int(i64::from(*v)));
        }
        if let Some(v) = value.downcast_ref::<DateTime<Utc>>() {
            return Some(Scalar::Micros(v.timestamp_micros()));
        }
        if let Some(v) = value.downcast_ref::<NaiveDate>() {
            return Some(Scalar::Days(days_since_epoch(*v)));
        }
        if let Some(v) = value.downcast_ref::<uuid::Uuid>() {
            return Some(Scalar::Uuid(*v.as_bytes()));
        }
        if let Some(v) = value.downcast_ref::<String>() {
            return Some(Scalar::Text(v.clone()));
        }
        None
    }

    /// The order of two values of the same kind; `None` across kinds, and for text (whose
    /// order is the collation's).
    fn order(&self, other: &Scalar) -> Option<Ordering> {
        match (self, other) {
            (Scalar::Int(a), Scalar::Int(b)) | (Scalar::Micros(a), Scalar::Micros(b)) => {
                Some(a.cmp(b))
            }
            (Scalar::Days(a), Scalar::Days(b)) => Some(a.cmp(b)),
            (Scalar::Uuid(a), Scalar::Uuid(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// Whether `self` lies in `[min, max]`: by order where there is one, and for text by byte
    /// order, which a set of values' equal members respect whatever the collation (an equal
    /// value under a deterministic collation has the same bytes).
    fn within(&self, min: &Scalar, max: &Scalar) -> bool {
        match (self, min, max) {
            (Scalar::Text(v), Scalar::Text(lo), Scalar::Text(hi)) => {
                lo.as_bytes() <= v.as_bytes() && v.as_bytes() <= hi.as_bytes()
            }
            _ => {
                self.order(min) != Some(Ordering::Less)
                    && self.order(max) != Some(Ordering::Greater)
            }
        }
    }
}

/// Days since 1970-01-01 (Arrow's and Parquet's DATE).
pub(crate) fn days_since_epoch(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")).num_days() as i32
}

/// One condition the filter puts on one column's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ColumnBound {
    /// `col = v` or `col IN (...)`: one of these values.
    OneOf(Vec<Scalar>),
    /// `col > v` (or `>=` when inclusive).
    Above(Scalar, bool),
    /// `col < v` (or `<=` when inclusive).
    Below(Scalar, bool),
}

impl ColumnBound {
    /// Whether some value in `[min, max]` can meet the condition (a row group or a period whose
    /// values span that range may hold a matching row).
    pub(crate) fn admits(&self, min: &Scalar, max: &Scalar) -> bool {
        match self {
            ColumnBound::OneOf(values) => values.iter().any(|v| v.within(min, max)),
            ColumnBound::Above(v, inclusive) => match max.order(v) {
                Some(Ordering::Greater) => true,
                Some(Ordering::Equal) => *inclusive,
                Some(Ordering::Less) => false,
                None => true,
            },
            ColumnBound::Below(v, inclusive) => match min.order(v) {
                Some(Ordering::Less) => true,
                Some(Ordering::Equal) => *inclusive,
                Some(Ordering::Greater) => false,
                None => true,
            },
        }
    }

    /// Whether the single value `v` can meet the condition.
    pub(crate) fn admits_value(&self, v: &Scalar) -> bool {
        self.admits(v, v)
    }
}

/// The conditions the filter puts on single columns: `(column, condition)` pairs, all of
/// which a matching row meets.
pub(crate) fn column_bounds(node: &Node) -> Vec<(&'static str, ColumnBound)> {
    let mut out = Vec::new();
    collect(node, &mut out);
    out
}

fn collect(node: &Node, out: &mut Vec<(&'static str, ColumnBound)>) {
    match node {
        Node::And(children) => children.iter().for_each(|c| collect(c, out)),
        Node::Compare { column, op, value } => {
            let Some(v) = Scalar::of(value.as_any()) else {
                return;
            };
            let bound = match (*op, &v) {
                ("=", _) => ColumnBound::OneOf(vec![v]),
                (_, Scalar::Text(_)) => return,
                (">", _) => ColumnBound::Above(v, false),
                (">=", _) => ColumnBound::Above(v, true),
                ("<", _) => ColumnBound::Below(v, false),
                ("<=", _) => ColumnBound::Below(v, true),
                _ => return,
            };
            out.push((column, bound));
        }
        Node::Any {
            column,
            negated: false,
            values,
        } => {
            if let Some(values) = scalars(values.as_any()) {
                out.push((column, ColumnBound::OneOf(values)));
            }
        }
        _ => {}
    }
}

/// The values of an `IN` list, if of a type this reading knows.
fn scalars(values: &dyn std::any::Any) -> Option<Vec<Scalar>> {
    fn each<T: 'static>(values: &dyn std::any::Any) -> Option<Vec<Scalar>> {
        values
            .downcast_ref::<Vec<T>>()
            .map(|v| v.iter().filter_map(|x| Scalar::of(x)).collect())
    }
    each::<i64>(values)
        .or_else(|| each::<i32>(values))
        .or_else(|| each::<i16>(values))
        .or_else(|| each::<DateTime<Utc>>(values))
        .or_else(|| each::<NaiveDate>(values))
        .or_else(|| each::<uuid::Uuid>(values))
        .or_else(|| each::<String>(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_sets_admit_exactly_the_overlapping_spans() {
        let (lo, hi) = (Scalar::Int(10), Scalar::Int(20));
        assert!(ColumnBound::OneOf(vec![Scalar::Int(15)]).admits(&lo, &hi));
        assert!(!ColumnBound::OneOf(vec![Scalar::Int(9), Scalar::Int(21)]).admits(&lo, &hi));
        assert!(ColumnBound::Above(Scalar::Int(20), true).admits(&lo, &hi));
        assert!(!ColumnBound::Above(Scalar::Int(20), false).admits(&lo, &hi));
        assert!(ColumnBound::Below(Scalar::Int(10), true).admits(&lo, &hi));
        assert!(!ColumnBound::Below(Scalar::Int(10), false).admits(&lo, &hi));
        // Text: equality by bytes, never by order.
        let (a, c) = (Scalar::Text("a".into()), Scalar::Text("c".into()));
        assert!(ColumnBound::OneOf(vec![Scalar::Text("b".into())]).admits(&a, &c));
        assert!(!ColumnBound::OneOf(vec![Scalar::Text("d".into())]).admits(&a, &c));
        // Across kinds nothing is pruned.
        assert!(ColumnBound::Above(Scalar::Micros(5), false).admits(&lo, &hi));
    }
}

//! Reads across tiers: the hot table alone (the default), the archive alone, or both as
//! `SELECT cols FROM t WHERE p UNION ALL SELECT cols FROM t_archive WHERE p`.
//!
//! The SQL is rendered from the model with explicit column lists, so both branches have the
//! same shape whatever the physical column order. The predicate text (with `$n` placeholders)
//! is the same in both branches, and PostgreSQL binds each `$n` once for both.

use crate::ddl::{ident, ident_list};
use crate::error::Error;
use crate::model::TableDef;

/// Which tiers a read covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ReadTiers {
    /// The table only (hot and warm rows): the default.
    #[default]
    Hot,
    /// `<table>_archive` only.
    Archive,
    /// Both, as `UNION ALL`.
    All,
}

impl ReadTiers {
    /// The relations to read, in order.
    fn relations(self, table: &TableDef) -> Result<Vec<String>, Error> {
        let archive = || {
            table.archive_table_name().ok_or_else(|| Error::NoArchive {
                table: table.name.to_owned(),
            })
        };
        Ok(match self {
            ReadTiers::Hot => vec![table.name.to_owned()],
            ReadTiers::Archive => vec![archive()?],
            ReadTiers::All => vec![table.name.to_owned(), archive()?],
        })
    }
}

fn column_list(table: &TableDef) -> String {
    let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    ident_list(&names)
}

/// `SELECT cols FROM t [WHERE predicate] [UNION ALL SELECT cols FROM t_archive [WHERE
/// predicate]] [tail]`.
///
/// `predicate` may use `$n` placeholders (they are shared by both branches); `tail` is appended
/// after the union (e.g. `ORDER BY created_at DESC LIMIT $2`, which then orders the union).
pub(crate) fn select_sql(
    table: &TableDef,
    tiers: ReadTiers,
    predicate: Option<&str>,
    tail: Option<&str>,
) -> Result<String, Error> {
    let cols = column_list(table);
    let branches: Vec<String> = tiers
        .relations(table)?
        .iter()
        .map(|rel| match predicate {
            Some(p) => format!("SELECT {cols} FROM {} WHERE {p}", ident(rel)),
            None => format!("SELECT {cols} FROM {}", ident(rel)),
        })
        .collect();
    let mut sql = branches.join(" UNION ALL ");
    if let Some(tail) = tail {
        sql.push(' ');
        sql.push_str(tail);
    }
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    const COLS: &[ColumnDef] = &[
        ColumnDef::new("id", "id", SqlType::scalar(BaseType::BigInt)),
        ColumnDef::new("user", "user", SqlType::scalar(BaseType::Text)),
    ];
    const PLAIN: TableDef = TableDef::new("notes", "Note", COLS, &["id"]);

    #[test]
    fn both_tiers_share_one_predicate() {
        let archived = TableDef {
            archive: true,
            ..PLAIN
        };
        assert_eq!(
            select_sql(
                &archived,
                ReadTiers::All,
                Some("id >= $1"),
                Some("ORDER BY id")
            )
            .unwrap(),
            "SELECT id, \"user\" FROM notes WHERE id >= $1 \
             UNION ALL SELECT id, \"user\" FROM notes_archive WHERE id >= $1 ORDER BY id"
        );
        assert_eq!(
            select_sql(&archived, ReadTiers::default(), None, None).unwrap(),
            "SELECT id, \"user\" FROM notes"
        );
    }

    #[test]
    fn archive_reads_need_an_archive() {
        assert!(matches!(
            select_sql(&PLAIN, ReadTiers::All, None, None),
            Err(Error::NoArchive { .. })
        ));
        assert_eq!(
            select_sql(&PLAIN, ReadTiers::Hot, Some("id = $1"), None).unwrap(),
            "SELECT id, \"user\" FROM notes WHERE id = $1"
        );
        let archived = TableDef {
            archive: true,
            ..PLAIN
        };
        assert_eq!(
            select_sql(&archived, ReadTiers::Archive, None, Some("LIMIT 1")).unwrap(),
            "SELECT id, \"user\" FROM notes_archive LIMIT 1"
        );
    }
}

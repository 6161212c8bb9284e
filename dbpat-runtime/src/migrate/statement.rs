//! One statement of a migration file, and the SQL pieces migration statements are made of.

use crate::ddl::{ident, literal};

/// One statement of a migration file, with the comment lines printed above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The SQL, ending with `;`.
    pub sql: String,
    /// Explanations printed above the statement (`-- ` is added).
    pub comments: Vec<String>,
    /// Why the statement loses data, printed as `-- DESTRUCTIVE: ...`.
    pub destructive: Option<String>,
}

impl Statement {
    /// A statement without comments.
    pub fn new(sql: impl Into<String>) -> Self {
        Statement {
            sql: sql.into(),
            comments: Vec::new(),
            destructive: None,
        }
    }

    /// Marks the statement destructive when `reason` is set.
    pub fn marked(mut self, reason: &Option<String>) -> Self {
        if reason.is_some() {
            self.destructive = reason.clone();
        }
        self
    }

    /// Adds a comment line.
    pub fn comment(mut self, text: impl Into<String>) -> Self {
        self.comments.push(text.into());
        self
    }
}

/// A `DO` block that stops the migration with `message` when `condition` (an SQL boolean)
/// holds, or always without one: the file's transaction rolls back whole.
pub fn raise_if(condition: Option<&str>, message: &str) -> String {
    let raise = format!("RAISE EXCEPTION {};", literal(message));
    match condition {
        Some(c) => format!(
            "DO $dbpat$\nBEGIN\n    IF {c} THEN\n        {raise}\n    END IF;\nEND\n$dbpat$;"
        ),
        None => format!("DO $dbpat$\nBEGIN\n    {raise}\nEND\n$dbpat$;"),
    }
}

/// `ALTER TABLE <table> <action>;`
pub fn alter_table(table: &str, action: &str) -> String {
    format!("ALTER TABLE {} {action};", ident(table))
}

/// `ALTER TABLE <table> ALTER COLUMN <column> <action>;`
pub fn alter_column(table: &str, column: &str, action: &str) -> String {
    alter_table(table, &format!("ALTER COLUMN {} {action}", ident(column)))
}

/// The name of a table's archive table.
pub fn archive_name(table: &str) -> String {
    format!("{table}_archive")
}

/// A `DO` block that drops the archive table's copy of the parent's index (or of the index of a
/// PRIMARY KEY / UNIQUE constraint) `parent_index`.
///
/// `CREATE TABLE <t>_archive (LIKE <t> INCLUDING ALL)` names the copied indexes itself, so the
/// copy is found by its definition: the same `pg_get_indexdef` text after `ON <table>`.
/// Must run before the parent's index is dropped.
pub fn drop_archive_copy(table: &str, parent_index: &str) -> String {
    let archive = archive_name(table);
    let strip = r"'^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ '";
    format!(
        "DO $$\nDECLARE\n    found record;\nBEGIN\n    FOR found IN\n        SELECT a.indexrelid::regclass AS idx, c.conname\n        FROM pg_index a\n        JOIN pg_index p ON p.indexrelid = to_regclass({parent})\n        LEFT JOIN pg_constraint c ON c.conindid = a.indexrelid AND c.conrelid = a.indrelid\n        WHERE a.indrelid = to_regclass({archive_lit})\n          AND a.indisunique = p.indisunique AND a.indisprimary = p.indisprimary\n          AND regexp_replace(pg_get_indexdef(a.indexrelid), {strip}, '')\n            = regexp_replace(pg_get_indexdef(p.indexrelid), {strip}, '')\n    LOOP\n        IF found.conname IS NOT NULL THEN\n            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', {archive_lit}, found.conname);\n        ELSE\n            EXECUTE format('DROP INDEX %s', found.idx);\n        END IF;\n    END LOOP;\nEND\n$$;",
        parent = literal(&ident(parent_index)),
        archive_lit = literal(&ident(&archive)),
    )
}

/// A `DO` block that drops the PRIMARY KEY or UNIQUE constraint of `archive` whose definition
/// is `definition` (as `pg_get_constraintdef` prints it, e.g. `UNIQUE (email)`): the archive's
/// copies are named by PostgreSQL, and this finds one without its parent's constraint.
pub fn drop_archive_key(archive: &str, definition: &str) -> String {
    format!(
        "DO $$\nDECLARE\n    found record;\nBEGIN\n    FOR found IN\n        SELECT conname FROM pg_constraint\n        WHERE conrelid = to_regclass({archive_lit}) AND contype IN ('p', 'u')\n          AND pg_get_constraintdef(oid) = {definition_lit}\n    LOOP\n        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', {archive_lit}, found.conname);\n    END LOOP;\nEND\n$$;",
        archive_lit = literal(&ident(archive)),
        definition_lit = literal(definition),
    )
}

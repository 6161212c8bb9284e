//! Renames between two versions of the models, from the `renamed_from` hints of the new one.
//!
//! A table or column renamed in place keeps its rows, and PostgreSQL rewrites every definition
//! that mentions it (constraints, indexes, the trigger). To compare the old version's
//! definitions with the new one's, the diff rewrites the old definitions with [`Renames`]:
//! what is left different is a real change, and an index or constraint whose rewritten
//! definition equals a new one under another name is only renamed.

use crate::ddl::ident;
use crate::model::TableDef;
use std::collections::BTreeMap;

/// The tables and columns renamed between two versions of the models.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Renames {
    /// Old table name → new table name.
    pub tables: BTreeMap<String, String>,
    /// New table name → (old column name → new column name).
    pub columns: BTreeMap<String, BTreeMap<String, String>>,
}

impl Renames {
    /// The renames the hints of `new` ask for: a `renamed_from` counts when the old models
    /// have the old name and not the new one (so a hint left in place after its migration
    /// does nothing).
    pub fn between(old: &[&TableDef<'_>], new: &[&TableDef<'_>]) -> Self {
        let old_by: BTreeMap<&str, &TableDef> = old.iter().map(|t| (t.name, *t)).collect();
        let mut renames = Renames::default();
        for n in new {
            let o = match n.renamed_from {
                Some(from) if !old_by.contains_key(n.name) => match old_by.get(from) {
                    Some(o) => {
                        renames.tables.insert(from.to_owned(), n.name.to_owned());
                        *o
                    }
                    None => continue,
                },
                _ => match old_by.get(n.name) {
                    Some(o) => *o,
                    None => continue,
                },
            };
            for c in n.columns {
                let Some(from) = c.renamed_from else { continue };
                if o.column(c.name).is_none() && o.column(from).is_some() {
                    renames
                        .columns
                        .entry(n.name.to_owned())
                        .or_default()
                        .insert(from.to_owned(), c.name.to_owned());
                }
            }
        }
        renames
    }

    /// The new name of old table `table`.
    pub fn table<'s>(&'s self, table: &'s str) -> &'s str {
        self.tables.get(table).map_or(table, String::as_str)
    }

    /// The old name of table `new_table` (itself when not renamed).
    pub fn old_table<'s>(&'s self, new_table: &'s str) -> &'s str {
        self.tables
            .iter()
            .find(|(_, to)| to.as_str() == new_table)
            .map_or(new_table, |(from, _)| from.as_str())
    }

    /// The old name of column `column` of the new table `table` (itself when not renamed).
    pub fn old_column<'s>(&'s self, table: &str, column: &'s str) -> &'s str {
        self.columns
            .get(table)
            .and_then(|m| m.iter().find(|(_, to)| to.as_str() == column))
            .map_or(column, |(from, _)| from.as_str())
    }

    /// The new name of the old column `column` of the new table `table` (itself when not
    /// renamed).
    pub fn new_column<'s>(&'s self, table: &str, column: &'s str) -> &'s str {
        self.columns
            .get(table)
            .and_then(|m| m.get(column))
            .map_or(column, String::as_str)
    }

    /// The columns of the new table `table` renamed in this step, `(old, new)`.
    pub fn columns_of(&self, table: &str) -> Vec<(&str, &str)> {
        self.columns
            .get(table)
            .map(|m| m.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect())
            .unwrap_or_default()
    }

    /// Whether nothing is renamed.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.columns.is_empty()
    }

    /// `text`, an old definition of an object of the (new) table `table`, with the renamed
    /// tables and that table's renamed columns replaced by their new names. Identifiers are
    /// matched whole (bare or double-quoted); string literals are left alone.
    pub fn rewrite(&self, table: &str, text: &str) -> String {
        if self.is_empty() {
            return text.to_owned();
        }
        let columns = self.columns.get(table);
        let map = |word: &str| -> Option<&str> {
            columns
                .and_then(|m| m.get(word))
                .or_else(|| self.tables.get(word))
                .map(String::as_str)
        };
        let mut out = String::with_capacity(text.len());
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => {
                    // A string literal, with '' escapes: copied as is.
                    out.push(c);
                    while let Some((_, c)) = chars.next() {
                        out.push(c);
                        if c == '\'' {
                            if chars.peek().map(|&(_, n)| n) == Some('\'') {
                                out.push('\'');
                                chars.next();
                            } else {
                                break;
                            }
                        }
                    }
                }
                '"' => {
                    let mut word = String::new();
                    while let Some((_, c)) = chars.next() {
                        if c == '"' {
                            if chars.peek().map(|&(_, n)| n) == Some('"') {
                                word.push('"');
                                chars.next();
                            } else {
                                break;
                            }
                        } else {
                            word.push(c);
                        }
                    }
                    match map(&word) {
                        Some(new) => out.push_str(&ident(new)),
                        None => out.push_str(&ident(&word)),
                    }
                }
                c if c.is_ascii_alphabetic() || c == '_' => {
                    let mut end = i + c.len_utf8();
                    while let Some(&(j, n)) = chars.peek() {
                        if n.is_ascii_alphanumeric() || n == '_' || n == '$' {
                            end = j + n.len_utf8();
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    let word = &text[i..end];
                    match map(word) {
                        Some(new) => out.push_str(&ident(new)),
                        None => out.push_str(word),
                    }
                }
                c if c.is_ascii_digit() => {
                    // A number (or the digits of `$1`): never an identifier.
                    out.push(c);
                    while let Some(&(_, n)) = chars.peek() {
                        if n.is_ascii_alphanumeric() || n == '_' || n == '.' {
                            out.push(n);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                c => out.push(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_whole_identifiers_only() {
        let mut r = Renames::default();
        r.tables.insert("people".into(), "users".into());
        r.columns.insert(
            "users".into(),
            [("mail".to_owned(), "email".to_owned())].into(),
        );
        assert_eq!(
            r.rewrite(
                "users",
                "CHECK (mail <> 'mail' AND mailbox > 0 AND \"mail\" IS NOT NULL)"
            ),
            "CHECK (email <> 'mail' AND mailbox > 0 AND email IS NOT NULL)"
        );
        assert_eq!(
            r.rewrite(
                "orders",
                "FOREIGN KEY (user_id) REFERENCES people (id) ON DELETE CASCADE"
            ),
            "FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE"
        );
        assert_eq!(
            r.rewrite(
                "users",
                "CREATE INDEX ON people USING btree (mail, lower(mail)) WHERE x = 'it''s mail'"
            ),
            "CREATE INDEX ON users USING btree (email, lower(email)) WHERE x = 'it''s mail'"
        );
        assert_eq!(r.old_column("users", "email"), "mail");
        assert_eq!(r.new_column("users", "mail"), "email");
        assert_eq!(r.new_column("users", "name"), "name");
        assert_eq!(r.old_table("users"), "people");
        assert_eq!(r.table("people"), "users");
    }
}

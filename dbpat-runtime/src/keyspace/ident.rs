//! SQL identifiers supplied by the caller (table, column, sequence names).
//!
//! Values always travel as bind parameters; identifiers cannot, so the few that appear in SQL
//! text are checked against `[a-z_][a-z0-9_]*` (at most 63 bytes, PostgreSQL's limit) and then
//! double-quoted, which also makes reserved words such as `order` or `user` safe.

use super::error::{KeyspaceError, Result};

/// A checked SQL identifier, rendered double-quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident(String);

impl Ident {
    /// Checks `name` against `[a-z_][a-z0-9_]*`, at most 63 bytes.
    pub fn new(name: &str) -> Result<Self> {
        let mut chars = name.chars();
        let first_ok = matches!(chars.next(), Some('a'..='z' | '_'));
        let rest_ok = chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
        if first_ok && rest_ok && name.len() <= 63 {
            Ok(Ident(name.to_owned()))
        } else {
            Err(KeyspaceError::InvalidIdentifier(
                name.chars().take(80).collect(),
            ))
        }
    }

    /// The bare name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name double-quoted for SQL text.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        for ok in ["articles", "view_count", "_x", "t1", "order"] {
            assert_eq!(Ident::new(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "1t",
            "Articles",
            "a-b",
            "a b",
            "a;drop table x",
            "a\"b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(Ident::new(bad), Err(KeyspaceError::InvalidIdentifier(_))),
                "{bad:?}"
            );
        }
        assert_eq!(Ident::new("user").unwrap().quoted(), "\"user\"");
    }
}

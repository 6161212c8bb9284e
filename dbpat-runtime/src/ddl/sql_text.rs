//! Quoting of identifiers and literals. Identifiers come from the model; literals from the
//! model's attributes (defaults, enum values). User data never reaches SQL text.

/// Words PostgreSQL reserves (they cannot be bare column or table names).
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "system_user",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// An identifier as SQL: bare when it is a plain lower-case name, double-quoted otherwise.
///
/// ```
/// use dbpat_runtime::ddl::ident;
/// assert_eq!(ident("users"), "users");
/// assert_eq!(ident("user"), "\"user\"");
/// assert_eq!(ident("Weird\"Name"), "\"Weird\"\"Name\"");
/// ```
pub fn ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && !RESERVED.contains(&name) {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A string literal: single-quoted with quotes doubled.
///
/// ```
/// use dbpat_runtime::ddl::literal;
/// assert_eq!(literal("it's"), "'it''s'");
/// ```
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A comma-separated list of identifiers.
pub fn ident_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `expr` is wholly wrapped in one pair of balanced parentheses.
pub fn is_parenthesized(expr: &str) -> bool {
    let expr = expr.trim();
    if !(expr.starts_with('(') && expr.ends_with(')')) {
        return false;
    }
    let mut depth = 0i32;
    let mut in_quote = false;
    for (i, c) in expr.char_indices() {
        match c {
            '\'' => in_quote = !in_quote,
            '(' if !in_quote => depth += 1,
            ')' if !in_quote => {
                depth -= 1;
                if depth == 0 && i != expr.len() - 1 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parenthesized_needs_one_outer_pair() {
        assert!(is_parenthesized("(metadata->>'role')"));
        assert!(is_parenthesized("((a) + (b))"));
        assert!(!is_parenthesized("(a) + (b)"));
        assert!(!is_parenthesized("lower(email)"));
        assert!(is_parenthesized("(x = ')')"));
    }

    #[test]
    fn identifiers_quote_only_when_needed() {
        assert_eq!(ident("order_items"), "order_items");
        assert_eq!(ident("order"), "\"order\"");
        assert_eq!(ident("9lives"), "\"9lives\"");
        assert_eq!(ident("CamelCase"), "\"CamelCase\"");
        assert_eq!(ident_list(&["a", "user"]), "a, \"user\"");
    }
}

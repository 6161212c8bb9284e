//! Name conversions: snake_case, other enum renames, and the default table name.

/// `UserStatus` → `user_status`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The default table name of an entity: its snake_case name, pluralised in English.
/// `User` → `users`, `Category` → `categories`, `Address` → `addresses`, `OrderItem` → `order_items`.
pub fn default_table_name(struct_name: &str) -> String {
    let snake = snake_case(struct_name);
    if let Some(stem) = snake.strip_suffix('y') {
        if !stem.ends_with(['a', 'e', 'i', 'o', 'u']) {
            return format!("{stem}ies");
        }
    }
    if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|s| snake.ends_with(s))
    {
        return format!("{snake}es");
    }
    format!("{snake}s")
}

/// A lower-case slug of SQL text for generated names: `status = 'active'` → `status_active`.
pub fn slug(sql: &str) -> String {
    sql.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| p.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_")
}

/// Cuts a generated identifier to PostgreSQL's 63-byte limit.
pub fn truncate_ident(mut name: String) -> String {
    if name.len() > 63 {
        name.truncate(63);
        while name.ends_with('_') {
            name.pop();
        }
    }
    name
}

/// `base` + `suffix`, with `base` cut (at a character boundary, without a trailing `_`) so the
/// whole fits PostgreSQL's 63-byte limit and the suffix is kept.
pub fn truncate_ident_keeping(base: &str, suffix: &str) -> String {
    let room = 63usize.saturating_sub(suffix.len());
    let mut cut = base.len().min(room);
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = base[..cut].trim_end_matches('_');
    format!("{head}{suffix}")
}

/// The enum value renames `#[dbpat(rename_all = "...")]` accepts.
pub const RENAME_RULES: &[&str] = &[
    "snake_case",
    "lowercase",
    "UPPERCASE",
    "SCREAMING_SNAKE_CASE",
    "kebab-case",
];

/// Applies a rename rule (one of [`RENAME_RULES`]) to a variant name.
pub fn apply_rename_rule(rule: &str, variant: &str) -> String {
    match rule {
        "lowercase" => variant.to_lowercase(),
        "UPPERCASE" => variant.to_uppercase(),
        "SCREAMING_SNAKE_CASE" => snake_case(variant).to_uppercase(),
        "kebab-case" => snake_case(variant).replace('_', "-"),
        _ => snake_case(variant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(snake_case("UserStatus"), "user_status");
        assert_eq!(snake_case("HTTPRequest"), "http_request");
        assert_eq!(default_table_name("User"), "users");
        assert_eq!(default_table_name("Category"), "categories");
        assert_eq!(default_table_name("Address"), "addresses");
        assert_eq!(default_table_name("Day"), "days");
        assert_eq!(default_table_name("OrderItem"), "order_items");
        assert_eq!(slug("status = 'active'"), "status_active");
        assert_eq!(slug("(metadata->>'role')"), "metadata_role");
        assert_eq!(apply_rename_rule("kebab-case", "OnHold"), "on-hold");
        assert_eq!(truncate_ident_keeping("idx_t_a", "_fk"), "idx_t_a_fk");
        let long = format!("idx_{}_b", "t".repeat(70));
        let cut = truncate_ident_keeping(&long, "_fk2");
        assert_eq!(cut.len(), 63);
        assert!(cut.ends_with("t_fk2"), "{cut}");
    }
}

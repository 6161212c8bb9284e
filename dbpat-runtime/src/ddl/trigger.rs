//! The `updated_at` trigger: one shared function per column name, one trigger per table.

use super::sql_text::ident;
use crate::model::TableDef;

/// The trigger function's name for an `updated_at`-role column: `update_<column>`. For the
/// usual `updated_at` column that is the reference schema's shared `update_updated_at()`.
pub fn trigger_function_name(column: &str) -> String {
    format!("update_{column}")
}

/// `CREATE OR REPLACE FUNCTION update_<column>() ...` setting the column to `NOW()`.
pub fn render_trigger_function(column: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {name}()\nRETURNS TRIGGER AS $$\nBEGIN\n    NEW.{col} = NOW();\n    RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;",
        name = ident(&trigger_function_name(column)),
        col = ident(column),
    )
}

/// The trigger's name: `<table>_<column>`.
pub fn trigger_name(table: &TableDef, column: &str) -> String {
    format!("{}_{column}", table.name)
}

/// `CREATE TRIGGER <table>_updated_at BEFORE UPDATE ...`, if the table has an `updated_at` column.
pub fn render_updated_at_trigger(table: &TableDef) -> Option<String> {
    let column = table.updated_at_column()?;
    Some(format!(
        "CREATE TRIGGER {} BEFORE UPDATE ON {}\n    FOR EACH ROW EXECUTE FUNCTION {}();",
        ident(&trigger_name(table, column.name)),
        ident(table.name),
        ident(&trigger_function_name(column.name)),
    ))
}

//! The patterns document's shop: prints the schema dbpat renders for the example models.
//! `cargo run --example shop`

#[allow(dead_code)] // the rows are written and read by the query and cache examples
mod models;

use dbpat::Entity;

fn main() {
    let tables = [
        &models::User::TABLE,
        &models::Product::TABLE,
        &models::Order::TABLE,
        &models::Account::TABLE,
    ];
    for table in tables {
        let cache = table
            .cache
            .map(|c| format!("cached {} s under `{}:<id>`", c.ttl_secs, c.key_prefix))
            .unwrap_or_else(|| "not cached".to_owned());
        println!(
            "{} ({} columns, {})",
            table.name,
            table.columns.len(),
            cache
        );
    }
    println!();
    print!(
        "{}",
        dbpat::ddl::render_schema(&tables).expect("the shop's models form a schema")
    );
}

//! `cargo run --bin emit-sql`: the DDL of the example shop's models (see examples/shop).
//! In an application this file is two lines: link the models, call `dbpat::emit_sql::main()`.

#[path = "../../examples/shop/models.rs"]
#[allow(dead_code)]
mod models;

fn main() -> std::process::ExitCode {
    dbpat::emit_sql::main()
}

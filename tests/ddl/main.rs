//! The DDL: the catalog the shop models build equals the reference schema, every feature lands as intended, insta snapshots, and the emit-sql binary.

#[path = "../support/mod.rs"]
mod support;

mod catalog;
#[cfg(feature = "cli")]
mod emit_sql_cli;
mod fk_index;
mod schema_snapshots;

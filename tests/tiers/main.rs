//! Partitions and the archive tier on real PostgreSQL: ensure_partitions, archiving (with kills at every step), reads over both tiers.

#[path = "../support/mod.rs"]
mod support;

mod archive;
mod kill;
mod partitions;

//! dbpat runtime: the table model the derive emits, and everything that runs from it.

pub mod keyspace;
pub mod testing;

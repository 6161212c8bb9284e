//! Migrations on real PostgreSQL: `emit-sql migrate` and `check` (destructive refusal, folder
//! and binary checks, drift against a database), and a long model walk whose migrated catalog
//! equals a fresh build at every step.

#[path = "../support/mod.rs"]
mod support;

mod archive_form;
mod backup;
mod check;
mod enum_values;
mod fk_index;
mod lint;
mod partitioned_index;
mod pull;
mod renames;
mod reversible;
mod walk;

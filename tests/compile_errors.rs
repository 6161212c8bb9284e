//! Compile-time rules of `#[derive(Entity)]` and `#[derive(DbEnum)]`: every rule has a
//! `tests/ui/<rule>.rs` that must fail with the error in its `.stderr`, and the models in
//! `tests/ui-pass/` (using every attribute) must compile and run. `query_wrong_type.rs` shows a
//! filter value of the wrong Rust type is a compile error that names the column's type.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test --test compile_errors`
//! and read the diff: each error must point at the offending token and say what to write.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}

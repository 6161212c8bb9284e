//! Compile-time guarantees of the typed query API (trybuild): a filter value of the wrong Rust
//! type is a compile error that names the column's type.

#[test]
fn wrong_filter_types_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/query_wrong_type.rs");
}

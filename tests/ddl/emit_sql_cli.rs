//! The `emit-sql` binary: prints the registered models' DDL, writes it with `--out`, is
//! deterministic, and fails clearly on bad arguments.

use crate::support::shop;

use dbpat::Entity;
use std::process::Command;

fn emit_sql(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_emit-sql"))
        .args(args)
        .output()
        .expect("run emit-sql")
}

fn expected() -> String {
    dbpat::ddl::render_schema(&[
        &shop::User::TABLE,
        &shop::Product::TABLE,
        &shop::Order::TABLE,
        &shop::Account::TABLE,
    ])
    .unwrap()
}

#[test]
fn prints_every_registered_entity() {
    let out = emit_sql(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    // The binary finds the four models through link-time registration alone.
    assert_eq!(stdout, expected());
    for table in ["users", "products", "orders", "accounts"] {
        assert!(
            stdout.contains(&format!("CREATE TABLE {table} (")),
            "{table} missing"
        );
    }
}

#[test]
fn out_writes_the_same_bytes_and_runs_are_identical() {
    let dir = std::env::temp_dir().join(format!("dbpat-emit-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("schema.sql");
    let out = emit_sql(&["--out", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "--out prints nothing to stdout");
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written, String::from_utf8(emit_sql(&[]).stdout).unwrap());
    assert_eq!(written, String::from_utf8(emit_sql(&[]).stdout).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_and_unwritable_output_fail_with_a_message() {
    let out = emit_sql(&["--no-such-flag"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));

    let out = emit_sql(&["--out", "/nonexistent-dir/schema.sql"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("/nonexistent-dir/schema.sql: No such file or directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! PostgreSQL's client programs (`pg_dump`, `pg_restore`) run against a test database, and
//! a restore that replaces a database by a fresh one of the same name.
#![allow(dead_code)]

use dbpat::testing::{self, TestDatabase};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::path::Path;
use std::process::Command;

/// A libpq connection string for the test database on the server itself (pg_dump and
/// pg_restore set session state, which must not reach a pooler in transaction mode; the
/// URL carries sqlx-only parameters).
pub fn libpq(db: &TestDatabase) -> String {
    let options: PgConnectOptions = db.server_url().parse().unwrap();
    format!(
        "host={} port={} user={} dbname={}",
        options.get_host(),
        options.get_port(),
        options.get_username(),
        db.name()
    )
}

/// Runs a PostgreSQL client program, failing with its output (or a hint when it is missing).
pub fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {program}: {e}\nTo fix: run `scripts/services` (it installs \
             postgresql-client), or `apt-get install postgresql-client`"
            )
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `pg_dump --format=custom` of `db` into `file`.
pub fn dump(db: &TestDatabase, file: &Path) {
    let file = file.to_str().unwrap();
    run(
        "pg_dump",
        &["--format=custom", "--file", file, "--dbname", &libpq(db)],
    );
    assert!(
        Path::new(file).metadata().unwrap().len() > 0,
        "{file} is empty"
    );
}

/// `pg_restore` of `file` into `db` in one transaction; `clean` drops the objects first (a
/// restore in place).
pub fn restore(db: &TestDatabase, file: &Path, clean: bool) {
    let target = libpq(db);
    let mut args = vec!["--no-owner", "--exit-on-error", "--single-transaction"];
    if clean {
        args.extend(["--clean", "--if-exists"]);
    }
    args.extend(["--dbname", &target, file.to_str().unwrap()]);
    run("pg_restore", &args);
}

/// Drops `db` (closing every connection to it) and creates an empty database of the same
/// name, as a restore into a recreated database does before `pg_restore`.
pub async fn recreate(db: &TestDatabase) {
    let mut admin = PgConnection::connect(&testing::pg_admin_url())
        .await
        .unwrap();
    // The name comes from TestDatabase (`dbpat_t_<hex>`), an identifier of the test's own.
    for statement in ["DROP DATABASE {} WITH (FORCE)", "CREATE DATABASE {}"] {
        sqlx::raw_sql(&statement.replace("{}", db.name()))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    admin.close().await.ok();
}

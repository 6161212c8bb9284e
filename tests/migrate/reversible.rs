//! Reversible migrations (`emit-sql migrate --reversible`): the walk's nine versions written
//! as sqlx's `.up.sql` / `.down.sql` pairs, on one database holding rows. After every step,
//! `sqlx migrate revert` (sqlx's `Migrator::undo`, which the CLI calls) to the version before
//! the step returns the catalog exactly to the previous step's (names, validity flags and
//! functions included); running the folder again returns it to the step's; and reverting
//! only the step's last file and running it again changes nothing. A step that lost data
//! (dropped a table, a column or an archive, narrowed a type) refuses: its revert fails with
//! the reason and leaves the database and sqlx's bookkeeping as they were.

use super::walk::{insert_rows, kinds, versions};
use crate::support::migrate::*;
use dbpat::migrate::{self, folder::existing_versions, Change, MigrationOutcome, WriteOptions};
use dbpat::testing::TestDatabase;
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_of_the_walk_reverts_to_the_previous_catalog() {
    let folder = tempfile::tempdir().unwrap();
    let dir = match std::env::var_os("MIGRATE_REVERSIBLE_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => folder.path().join("migrations"),
    };
    let live = TestDatabase::new().await;
    let pool = live.pool();
    let mut previous = fingerprint(pool).await;
    let (mut reverted, mut refused) = (Vec::new(), Vec::new());
    let mut guarded_archives = 0;
    let mut reverted_kinds: BTreeSet<&'static str> = BTreeSet::new();

    for (i, version) in versions().iter().enumerate() {
        let step = i + 1;
        let context = format!("step {step} ({})", version.name);
        let target = existing_versions(&dir)
            .unwrap()
            .last()
            .copied()
            .unwrap_or(0);
        let options = WriteOptions {
            allow_destructive: version.destructive,
            // The first step makes the folder reversible; the later ones follow it.
            reversible: step == 1,
        };
        let MigrationOutcome::Written { files, plan } =
            migrate::write_migration(&dir, version.name, &version.tables, options)
                .unwrap_or_else(|e| panic!("{context}: {e}"))
        else {
            panic!("{context}: no migration written");
        };
        assert_eq!(
            files.len(),
            2 * plan.files.len(),
            "{context}: a pair per file"
        );
        for pair in files.chunks(2) {
            let (up, down) = (pair[0].to_string_lossy(), pair[1].to_string_lossy());
            assert!(
                up.ends_with(".up.sql") && down.ends_with(".down.sql"),
                "{up} {down}"
            );
            assert_eq!(
                up.trim_end_matches(".up.sql"),
                down.trim_end_matches(".down.sql")
            );
        }
        apply_folder(&dir, pool).await;
        let after = fingerprint(pool).await;
        let applied = applied_versions(pool).await;

        let irreversible: Vec<String> = plan
            .changes
            .iter()
            .filter_map(|c| c.irreversible())
            .collect();
        if !irreversible.is_empty() {
            let err = revert_folder(&dir, live.url(), target)
                .await
                .expect_err(&format!("{context}: an irreversible step was reverted"));
            let message = format!("{err:?}");
            assert!(
                message.contains("cannot be reverted") && message.contains(&irreversible[0]),
                "{context}: {message}"
            );
            assert_eq!(applied_versions(pool).await, applied, "{context}");
            assert_same_schema(
                &after,
                &fingerprint(pool).await,
                &format!("{context}, refused"),
            );
            for file in &plan.files {
                assert_eq!(
                    file.down.refused, irreversible,
                    "{context}: every down file refuses"
                );
            }
            refused.push(step);
        } else {
            // An archive created for an existing table is dropped only while empty.
            for change in &plan.changes {
                let Change::CreateArchive(t) = change else {
                    continue;
                };
                let archive = format!("{}_archive", t.name);
                sqlx::raw_sql(&format!(
                    "INSERT INTO {archive} SELECT * FROM {} LIMIT 1",
                    t.name
                ))
                .execute(pool)
                .await
                .unwrap();
                let err = revert_folder(&dir, live.url(), target).await.unwrap_err();
                assert!(
                    format!("{err:?}").contains(&format!("{archive} holds archived rows")),
                    "{context}: {err:?}"
                );
                assert_eq!(applied_versions(pool).await, applied, "{context}");
                guarded_archives += 1;
                sqlx::raw_sql(&format!("DELETE FROM {archive}"))
                    .execute(pool)
                    .await
                    .unwrap();
            }
            revert_folder(&dir, live.url(), target)
                .await
                .unwrap_or_else(|e| panic!("{context}: revert failed: {e:?}"));
            assert_same_schema(
                &previous,
                &fingerprint(pool).await,
                &format!("{context}, reverted"),
            );
            assert_eq!(
                applied_versions(pool).await,
                applied
                    .iter()
                    .copied()
                    .filter(|v| *v <= target)
                    .collect::<Vec<_>>()
            );
            apply_folder(&dir, pool).await;
            assert_same_schema(
                &after,
                &fingerprint(pool).await,
                &format!("{context}, again"),
            );
            // Only the step's last file, then again.
            if plan.files.len() > 1 {
                let last = *applied.last().unwrap();
                revert_folder(&dir, live.url(), last - 1).await.unwrap();
                assert_eq!(
                    applied_versions(pool).await.last(),
                    applied.iter().rev().nth(1)
                );
                apply_folder(&dir, pool).await;
                assert_same_schema(
                    &after,
                    &fingerprint(pool).await,
                    &format!("{context}, last file reverted and run again"),
                );
            }
            reverted_kinds.extend(plan.changes.iter().flat_map(kinds));
            reverted.push(step);
        }
        let drift = migrate::check_database(live.url(), &version.tables)
            .await
            .unwrap();
        assert!(drift.is_empty(), "{context}: drift reported: {drift:#?}");
        insert_rows(step, &live).await;
        previous = after;
        eprintln!(
            "{context}: {} file pair(s), reverted: {}",
            plan.files.len(),
            irreversible.is_empty()
        );
    }
    eprintln!("reverted steps {reverted:?}, refused steps {refused:?}");
    assert_eq!(reverted, [1, 2, 3, 5, 6, 7]);
    assert_eq!(refused, [4, 8, 9]);
    assert!(
        guarded_archives > 0,
        "no step created an archive for an existing table"
    );
    drop_all(vec![live]);
}

mod keys {
    use dbpat::model::*;

    const ID: ColumnDef =
        ColumnDef::new("id", "id", SqlType::scalar(BaseType::BigInt)).primary_key();
    const ID_IDENTITY: ColumnDef = ID.generated(Generated::Identity);
    const CODE: ColumnDef = ColumnDef::new("code", "code", SqlType::scalar(BaseType::Text));

    /// `id` without identity, keyed by `id`, with an archive (which copies the key).
    pub static V1: TableDef = TableDef {
        archive: true,
        ..TableDef::new("tickets", "Ticket", &[ID, CODE], &["id"])
    };
    /// `id` an identity column, keyed by `(id, code)`.
    pub static V2: TableDef = TableDef {
        archive: true,
        ..TableDef::new("tickets", "Ticket", &[ID_IDENTITY, CODE], &["id", "code"])
    };
}

/// Identity and primary keys, which the walk does not change: adding identity to a column
/// holding rows starts its sequence after them (the next insert does not collide); a key
/// change moves the archive's PostgreSQL-named copy with it; and both revert exactly, a
/// dropped identity coming back past the rows written meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_and_primary_key_changes_revert() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    let reversible = WriteOptions {
        reversible: true,
        ..WriteOptions::default()
    };
    let db = TestDatabase::new().await;
    let pool = db.pool();
    let insert =
        |sql: &'static str| async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await };
    migrate::write_migration(&dir, "init", &[&keys::V1], reversible).unwrap();
    apply_folder(&dir, pool).await;
    sqlx::raw_sql("INSERT INTO tickets (id, code) VALUES (1, 'a'), (2, 'b'), (7, 'c')")
        .execute(pool)
        .await
        .unwrap();
    let v1 = fingerprint(pool).await;
    let init = *applied_versions(pool).await.last().unwrap();

    migrate::write_migration(&dir, "identity and key", &[&keys::V2], reversible).unwrap();
    apply_folder(&dir, pool).await;
    let v2 = fingerprint(pool).await;
    let fresh = full_ddl_database(&[&keys::V2]).await;
    assert_same_schema(
        &fingerprint(fresh.pool()).await,
        &v2,
        "identity and key, migrated",
    );
    let next = insert("INSERT INTO tickets (code) VALUES ('d') RETURNING id")
        .await
        .unwrap();
    assert_eq!(next, 8, "the sequence starts after the rows");

    revert_folder(&dir, db.url(), init).await.unwrap();
    assert_same_schema(&v1, &fingerprint(pool).await, "identity and key reverted");
    apply_folder(&dir, pool).await;
    assert_same_schema(&v2, &fingerprint(pool).await, "identity and key again");
    let two = *applied_versions(pool).await.last().unwrap();

    // And back: identity dropped, then reverted while rows were written without it.
    migrate::write_migration(&dir, "plain id", &[&keys::V1], reversible).unwrap();
    apply_folder(&dir, pool).await;
    sqlx::raw_sql("INSERT INTO tickets (id, code) VALUES (20, 'e')")
        .execute(pool)
        .await
        .unwrap();
    revert_folder(&dir, db.url(), two).await.unwrap();
    assert_same_schema(&v2, &fingerprint(pool).await, "plain id reverted");
    let next = insert("INSERT INTO tickets (code) VALUES ('f') RETURNING id")
        .await
        .unwrap();
    assert_eq!(
        next, 21,
        "the identity comes back past the rows written meanwhile"
    );
    drop_all(vec![db, fresh]);
}

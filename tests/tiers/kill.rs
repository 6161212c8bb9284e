//! Crash safety of `archive`: the archiving backend is terminated (`pg_terminate_backend`) at
//! several points, between steps, inside the open transaction and in the middle of a statement.
//! After each kill, and after the final re-run, both tiers together hold exactly the original
//! rows (count, distinct keys and an md5 of every row). Both forms of the archive: partitioned
//! like the table (whole partitions are detached and attached) and unpartitioned (an archive
//! created before archives were partitioned: whole partitions are copied).

use crate::support::tiers as tiers_support;

use dbpat::tiers::{ArchiveEvent, ArchiveHook, ArchiveOptions, ArchiveStep};
use dbpat::Error;
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tiers_support::{both_tiers, count, load_orders, orders, shop_db, utc};

/// Where to kill the archiver.
#[derive(Clone, Copy, Debug)]
enum KillPoint {
    /// Right after the `nth` event whose step matches.
    After(fn(&ArchiveStep) -> bool, usize),
    /// While a statement starting with this text is running (polled in `pg_stat_activity`).
    During(&'static str),
}

async fn terminate(pool: &PgPool, pid: i32) {
    let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 10000)")
        .bind(pid)
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(done, "backend {pid} did not terminate");
}

fn killer(pool: PgPool, point: KillPoint, killed: Arc<AtomicBool>) -> ArchiveHook {
    let seen = Arc::new(AtomicUsize::new(0));
    Arc::new(move |event: ArchiveEvent| {
        let (pool, killed, seen) = (pool.clone(), killed.clone(), seen.clone());
        Box::pin(async move {
            match point {
                KillPoint::After(matches, nth) => {
                    if matches(&event.step) && seen.fetch_add(1, Ordering::SeqCst) + 1 == nth {
                        terminate(&pool, event.backend_pid).await;
                        killed.store(true, Ordering::SeqCst);
                    }
                }
                KillPoint::During(prefix) => {
                    if event.step != ArchiveStep::Locked {
                        return;
                    }
                    // Poll from another session; kill as soon as the statement is running.
                    tokio::spawn(async move {
                        let deadline = Instant::now() + Duration::from_secs(20);
                        while Instant::now() < deadline {
                            let running: bool = sqlx::query_scalar(
                                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                                 WHERE pid = $1 AND state = 'active' AND query LIKE $2)",
                            )
                            .bind(event.backend_pid)
                            .bind(format!("{prefix}%"))
                            .fetch_one(&pool)
                            .await
                            .unwrap();
                            if running {
                                // Let it get well into its rows (the slow trigger makes each
                                // row take a millisecond), then kill it.
                                tokio::time::sleep(Duration::from_millis(150)).await;
                                // Flag first: the archiver may see its error before
                                // `pg_terminate_backend` returns here.
                                killed.store(true, Ordering::SeqCst);
                                terminate(&pool, event.backend_pid).await;
                                return;
                            }
                        }
                    });
                }
            }
        })
    })
}

fn copied(s: &ArchiveStep) -> bool {
    matches!(s, ArchiveStep::PartitionCopied { .. })
}
fn dropped(s: &ArchiveStep) -> bool {
    matches!(s, ArchiveStep::PartitionDropped { .. })
}
fn moved(s: &ArchiveStep) -> bool {
    matches!(s, ArchiveStep::PartitionMoved { .. })
}
fn batch(s: &ArchiveStep) -> bool {
    matches!(s, ArchiveStep::BatchMoved { .. })
}
fn locked(s: &ArchiveStep) -> bool {
    matches!(s, ArchiveStep::Locked)
}
fn bounded(s: &ArchiveStep) -> bool {
    matches!(s, ArchiveStep::PartitionBounded { .. })
}
fn detaching(s: &ArchiveStep) -> bool {
    matches!(s, ArchiveStep::PartitionDetaching { .. })
}
fn attached(s: &ArchiveStep) -> bool {
    matches!(s, ArchiveStep::PartitionAttached { .. })
}
fn archive_partition(s: &ArchiveStep) -> bool {
    matches!(s, ArchiveStep::ArchivePartitionCreated { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_archive_loses_and_duplicates_nothing_and_a_rerun_finishes() {
    let points = [
        KillPoint::After(locked, 1),  // holding the lock, nothing moved
        KillPoint::After(copied, 1),  // q1 copied into the archive, transaction open
        KillPoint::After(dropped, 1), // q1 detached and dropped, not yet committed
        KillPoint::After(moved, 1),   // q1 committed, q2 not started
        KillPoint::During("INSERT INTO orders_archive"), // mid-copy of q2
        KillPoint::After(batch, 2),   // q2, q3 moved, two batches of q4 committed
        KillPoint::During("WITH moved AS"), // mid-batch
    ];
    // Kills inside a transaction rolled it back (q1 stayed attached until its move committed);
    // later runs made progress: 2024 q1..q4 + 2025 q1, q2 from the DDL, then q1, q2 and q3 went.
    kill_and_rerun(false, &points, &[6, 6, 6, 5, 5, 3, 3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_zero_copy_archive_loses_and_duplicates_nothing_and_a_rerun_finishes() {
    let points = [
        KillPoint::After(locked, 1),            // holding the lock, nothing moved
        KillPoint::After(bounded, 1),           // q1's bounds CHECK committed, q1 still attached
        KillPoint::After(detaching, 1),         // q1 counted under its SHARE lock, transaction open
        KillPoint::After(attached, 1),          // q1 detached and attached, not yet committed
        KillPoint::After(moved, 1),             // q1 committed, q2 not started
        KillPoint::After(archive_partition, 1), // q2, q3 attached, q4's archive partition made
        KillPoint::After(batch, 2),             // two batches of q4 committed
        KillPoint::During("WITH moved AS"),     // mid-batch
    ];
    kill_and_rerun(true, &points, &[6, 6, 6, 6, 5, 3, 3, 3]).await;
}

/// Kills the archiver at each of `points` in turn (checking both tiers after each), then runs
/// it to the end; `hot` is the number of partitions left in the table after each kill.
/// `partitioned_archive: false` replaces the archive by an unpartitioned one first.
async fn kill_and_rerun(partitioned_archive: bool, points: &[KillPoint], hot: &[usize]) {
    let (db, user) = shop_db().await;
    let pool = db.pool();
    if !partitioned_archive {
        sqlx::raw_sql(
            "DROP TABLE orders_archive; CREATE TABLE orders_archive (LIKE orders INCLUDING ALL)",
        )
        .execute(pool)
        .await
        .unwrap();
    }
    orders()
        .ensure_partitions_at(pool, utc(2024, 1, 1), 3)
        .await
        .unwrap();
    for q in 0..4u32 {
        let to = if q == 3 {
            utc(2025, 1, 1)
        } else {
            utc(2024, 4 + 3 * q, 1)
        };
        load_orders(pool, user, utc(2024, 1 + 3 * q, 1), to, 5_000).await;
    }
    let cutoff = utc(2024, 11, 15);
    let original = both_tiers(pool).await;
    let old = count(
        pool,
        "SELECT count(*) FROM orders WHERE created_at < '2024-11-15'",
    )
    .await;
    assert_eq!((original.0, original.1), (20_000, 20_000));

    // A row trigger on the archive that sleeps 1 ms per row, so a statement that fills the
    // archive lasts long enough to be killed in its middle.
    sqlx::raw_sql(
        "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN PERFORM pg_sleep(0.001); RETURN NEW; END $$",
    )
    .execute(pool)
    .await
    .unwrap();
    let mut hot_partitions = Vec::new();
    for &point in points {
        let slow = matches!(point, KillPoint::During(_));
        if slow {
            sqlx::raw_sql(
                "CREATE TRIGGER slow BEFORE INSERT ON orders_archive
                 FOR EACH ROW EXECUTE FUNCTION slow_row()",
            )
            .execute(pool)
            .await
            .unwrap();
        }
        let killed = Arc::new(AtomicBool::new(false));
        let options = ArchiveOptions {
            batch_size: 400,
            hook: Some(killer(pool.clone(), point, killed.clone())),
            ..ArchiveOptions::default()
        };
        let result = orders().archive_with(pool, cutoff, &options).await;
        if slow {
            sqlx::raw_sql("DROP TRIGGER slow ON orders_archive")
                .execute(pool)
                .await
                .unwrap();
        }
        assert!(
            killed.load(Ordering::SeqCst),
            "{point:?} was never reached: {result:?}"
        );
        assert!(
            matches!(result, Err(Error::Database(_))),
            "{point:?}: {result:?}"
        );
        // The archiving session is gone, and with it its transaction and its lock.
        assert_eq!(
            count(
                pool,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'dbpat-archive:%' AND datname = current_database()"
            )
            .await,
            0,
            "{point:?}"
        );
        assert_eq!(both_tiers(pool).await, original, "after a kill {point:?}");
        let names: Vec<String> = orders()
            .partitions(pool)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        hot_partitions.push((format!("{point:?}"), names.len()));
    }
    let counts: Vec<usize> = hot_partitions.iter().map(|(_, n)| *n).collect();
    assert_eq!(counts, hot, "{hot_partitions:?}");

    let report = orders()
        .archive_with(
            pool,
            cutoff,
            &ArchiveOptions {
                batch_size: 400,
                ..ArchiveOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(report.rows > 0);
    assert_eq!(both_tiers(pool).await, original);
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM orders WHERE created_at < '2024-11-15'"
        )
        .await,
        0
    );
    assert_eq!(
        count(pool, "SELECT count(*) FROM orders_archive").await,
        old
    );
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relname LIKE 'orders_2024_q%'"
        )
        .await,
        1
    );
    // No bounds CHECK is left on any partition of either tier.
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM pg_constraint WHERE conname = 'dbpat_tiers_bounds'"
        )
        .await,
        0
    );
}

//! The consistency contract: a slow reader never puts back a value older than a committed
//! write (deterministic race), and no read that starts after a commit returns an older version
//! (randomized history over several handles, readers and writers).

use crate::support::cache as cache_common;

use cache_common::*;
use dbpat::cache::Decoded;
use dbpat::model::CachePolicy;
use rand::Rng;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

// The cache-aside race: the reader misses and loads v1, a writer commits v2 and invalidates,
// then the reader tries to set v1. A test hook pauses the reader between its load and its set.
on_both!(
#[tokio::test]
slow_reader_cannot_put_back_an_old_value(on) {
    let redis = TestKeys::new(on).await;
    let db = database(1).await;
    let pool = db.pool().clone();
    let mut raw = raw_on(on).await;
    for (n, policy) in [POLICY, WRITE_THROUGH].into_iter().enumerate() {
        let items = items_on(on, &format!("{}p{n}:", redis.prefix()), db.pool(), policy).await;
        let (loaded_tx, loaded_rx) = oneshot::channel::<()>();
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let pause = Arc::new(Mutex::new(Some((loaded_tx, release_rx))));
        items.set_after_load_hook(Some(Arc::new(move |_key| {
            let pause = pause.clone();
            Box::pin(async move {
                let taken = pause.lock().unwrap().take();
                if let Some((loaded, release)) = taken {
                    let _ = loaded.send(());
                    let _ = release.await;
                }
            })
        })));
        let before = sqlx::query_scalar::<_, i64>("SELECT version FROM items WHERE id = 1")
            .fetch_one(&pool)
            .await
            .unwrap();

        let reader = tokio::spawn({
            let items = items.clone();
            async move { items.find(&1).await }
        });
        loaded_rx.await.expect("reader reached the window");
        let name = format!("v-after-{n}");
        let committed = items
            .write_with(&1, || update_name(&pool, 1, &name))
            .await
            .unwrap();
        assert_eq!(committed.version, before + 1);
        release_tx.send(()).unwrap();
        let old = reader.await.unwrap().unwrap().unwrap();
        // The reader started before the commit, so it may return v1 — but must not cache it.
        assert_eq!(old.version, before);

        let cached = raw_get(&mut raw, &items.key(&1)).await;
        if let Some(bytes) = &cached {
            let codec_value: Option<Item> = match items.decode_value(bytes) {
                Decoded::Value(v) => Some(v),
                other => panic!("unexpected cache entry {other:?}"),
            };
            assert_eq!(codec_value.unwrap().version, committed.version);
        }
        let m = items.metrics();
        assert_eq!(m.fills_rejected, 1, "{policy:?}: {m:?}");
        assert_eq!(m.fills, 0, "{m:?}");
        assert_eq!(items.find(&1).await.unwrap().unwrap(), committed);
        items.set_after_load_hook(None);
    }
});

#[derive(Debug, Clone, Copy)]
struct Commit {
    id: i64,
    version: i64,
    at: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Read {
    id: i64,
    version: i64,
    started: Instant,
}

async fn history(
    on: On,
    policy: CachePolicy,
    prefix: String,
    run_for: Duration,
) -> (usize, usize, usize) {
    const HOT: i64 = 3;
    let db = database(HOT).await;
    let pool = db.pool().clone();
    let handles = [
        handle_on(on, config(&prefix)).await,
        handle_on(on, config(&prefix)).await,
        handle_on(on, config(&prefix)).await,
    ];
    let caches: Vec<_> = handles
        .iter()
        .map(|h| {
            let mut source = PgItems::new(&pool);
            source.random_delay = Duration::from_millis(3);
            h.with_source(policy, source).unwrap()
        })
        .collect();
    let commits = Arc::new(Mutex::new(Vec::<Commit>::new()));
    let reads = Arc::new(Mutex::new(Vec::<Read>::new()));
    let deadline = Instant::now() + run_for;
    let mut tasks = Vec::new();
    for w in 0..3 {
        let items = caches[w % caches.len()].clone();
        let (pool, commits) = (pool.clone(), commits.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let id = rand::rng().random_range(1..=HOT);
                let name = format!("w{w}");
                let row = items
                    .write_with(&id, || async {
                        let row = update_name(&pool, id, &name).await?;
                        // The UPDATE has committed (autocommit) when it returns.
                        commits.lock().unwrap().push(Commit {
                            id,
                            version: row.version,
                            at: Instant::now(),
                        });
                        Ok::<_, dbpat::Error>(row)
                    })
                    .await
                    .unwrap();
                assert_eq!(row.id, id);
                let pause = rand::rng().random_range(0..4);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }));
    }
    for r in 0..6 {
        let items = caches[r % caches.len()].clone();
        let reads = reads.clone();
        tasks.push(tokio::spawn(async move {
            let mut local = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                if r == 5 {
                    let all: Vec<i64> = (1..=HOT).collect();
                    for item in items.find_many(&all).await.unwrap().into_iter().flatten() {
                        local.push(Read {
                            id: item.id,
                            version: item.version,
                            started,
                        });
                    }
                } else {
                    let id = rand::rng().random_range(1..=HOT);
                    let item = items.find(&id).await.unwrap().unwrap();
                    local.push(Read {
                        id,
                        version: item.version,
                        started,
                    });
                }
                if rand::rng().random_bool(0.5) {
                    tokio::task::yield_now().await;
                }
            }
            reads.lock().unwrap().extend(local);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let commits = commits.lock().unwrap().clone();
    let reads = reads.lock().unwrap().clone();
    let mut stale = 0;
    let mut constrained = 0;
    for read in &reads {
        let newest_before = commits
            .iter()
            .filter(|c| c.id == read.id && c.at < read.started)
            .map(|c| c.version)
            .max();
        if let Some(v) = newest_before {
            constrained += 1;
            if read.version < v {
                stale += 1;
                eprintln!(
                    "stale read: {read:?} saw v{} after v{v} committed",
                    read.version
                );
            }
        }
    }
    let metrics: Vec<_> = handles.iter().map(|h| h.metrics()).collect();
    eprintln!(
        "history {:?}: {} commits, {} reads checked ({} after at least one commit), {} stale",
        policy.write,
        commits.len(),
        reads.len(),
        constrained,
        stale
    );
    for m in &metrics {
        eprintln!("  {m:?}");
    }
    assert!(metrics.iter().all(|m| m.redis_errors == 0));
    (reads.len(), constrained, stale)
}

// Several readers and writers on three hot keys through three independent handles: after
// every committed write, no read that started after the commit returns an older version.
on_both!(
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
randomized_history_has_no_stale_reads(on) {
    let redis = TestKeys::new(on).await;
    let mut total = (0, 0, 0);
    for (n, policy) in [POLICY, WRITE_THROUGH].into_iter().enumerate() {
        let (reads, constrained, stale) = history(
            on,
            policy,
            format!("{}h{n}:", redis.prefix()),
            Duration::from_millis(2500),
        )
        .await;
        total = (total.0 + reads, total.1 + constrained, total.2 + stale);
    }
    eprintln!(
        "randomized history: {} reads checked, {} stale reads",
        total.0, total.2
    );
    assert!(total.1 > 1000, "too few constrained reads: {total:?}");
    assert_eq!(total.2, 0, "stale reads");
});

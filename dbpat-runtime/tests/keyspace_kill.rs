//! The keyspace blocks across `kill -9` (issue 17): a queue consumer and a counter flusher,
//! each an OS process of its own, killed with SIGKILL while they work.
//!
//! A `harness = false` test: `main` is the orchestrator and, with `--worker <role> ...`, a
//! worker process (the orchestrator spawns its own executable). Each scenario takes its own
//! Redis key prefix (`TestRedis`) and, for the flusher, its own database (`TestDatabase`).
//!
//! `cargo test -p dbpat-runtime --test keyspace_kill` runs both scenarios and prints their
//! figures; a name argument (`-- queue`) runs only the scenarios whose name contains it, and
//! `--list` lists them as libtest does.

use dbpat_runtime::keyspace::{
    Counter, CounterFlusher, FlushTarget, IdType, KeyBuilder, StreamQueue,
};
use dbpat_runtime::testing::{redis_url, TestDatabase, TestRedis};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Job {
    n: u32,
}

/// Messages in the queue scenario; the doomed consumer receives [`TAKEN`] of them and
/// acknowledges [`ACKED`] before it is killed.
const MESSAGES: u32 = 20;
const TAKEN: usize = 5;
const ACKED: usize = 2;
/// The visibility timeout after which the survivor claims the dead consumer's messages.
const VISIBILITY: Duration = Duration::from_millis(500);

/// Increments in the flusher scenario, over articles 1..=3, and the fewest flusher kills.
const INCREMENTS: i64 = 3000;
const MIN_KILLS: usize = 10;

const SCENARIOS: [&str; 2] = [
    "queue_consumer_killed_holding_unacked_messages",
    "counter_flusher_killed_repeatedly_while_flushing",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--worker") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(worker(&args[1..]));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        for name in SCENARIOS {
            println!("{name}: test");
        }
        return;
    }
    if args.iter().any(|a| a == "--ignored") {
        return; // nothing here is ignored
    }
    let filters: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    for name in SCENARIOS {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f)) {
            continue;
        }
        println!("scenario {name}");
        // A failed assert panics, and the process exits non-zero: the test fails.
        rt.block_on(async {
            match name {
                "queue_consumer_killed_holding_unacked_messages" => queue_consumer_killed().await,
                _ => counter_flusher_killed().await,
            }
        });
        println!("scenario {name} ... ok");
    }
}

/// A worker process; killed (SIGKILL) when dropped, so a failed assert leaves none behind.
struct Worker {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Worker {
    fn spawn(args: &[&str]) -> Worker {
        let mut child = Command::new(std::env::current_exe().expect("own executable"))
            .arg("--worker")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("worker process started");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Worker { child, lines }
    }

    /// The lines the worker writes before `marker`.
    fn read_until(&self, marker: &str) -> Vec<String> {
        let mut before = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("the worker did not write {marker:?}: {e}"));
            if line == marker {
                return before;
            }
            before.push(line);
        }
    }

    /// `kill -9`, then every line the worker wrote that was not read yet.
    fn kill_9(mut self) -> Vec<String> {
        self.child.kill().expect("SIGKILL sent");
        let status = self.child.wait().expect("worker reaped");
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
        self.lines.iter().collect()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn worker(args: &[String]) {
    let client = redis::Client::open(redis_url()).expect("redis url");
    let conn = redis::aio::ConnectionManager::new(client)
        .await
        .expect("Redis reachable");
    match args {
        [role, prefix] if role == "consumer" => {
            let keys = KeyBuilder::with_prefix(prefix).expect("prefix");
            let q: StreamQueue<Job> =
                StreamQueue::new(conn, &keys, "emails", "senders").expect("queue");
            let doomed = q.consumer("doomed").expect("consumer");
            let got = doomed
                .receive(TAKEN, Some(Duration::from_secs(2)))
                .await
                .expect("receive");
            assert_eq!(got.len(), TAKEN);
            for (i, d) in got.iter().enumerate() {
                if i < ACKED {
                    assert!(doomed.ack(d).await.expect("ack"));
                    println!("acked {}", d.id);
                } else {
                    println!("holding {}", d.id);
                }
            }
            println!("ready");
            // "Processing" the held messages until killed.
            std::future::pending::<()>().await;
        }
        [role, prefix, db_url] if role == "flusher" => {
            let pool = sqlx::PgPool::connect(db_url)
                .await
                .expect("PostgreSQL reachable");
            let keys = KeyBuilder::with_prefix(prefix).expect("prefix");
            let views = Counter::new(conn, keys, "article", "views")
                .expect("counter")
                .with_pending();
            let flusher = CounterFlusher::new(views, pool, target());
            println!("ready");
            loop {
                match flusher.flush().await {
                    Ok(r) => println!(
                        "flush {} {} {} {}",
                        r.flushed,
                        r.total_delta,
                        r.already_applied,
                        r.failed.len()
                    ),
                    Err(e) => println!("error {e}"),
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        other => panic!("unknown worker arguments {other:?}"),
    }
}

fn target() -> FlushTarget {
    FlushTarget::new("articles", "view_count", "id", IdType::BigInt).expect("flush target")
}

fn ids_after(lines: &[String], tag: &str) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(tag))
        .map(str::to_owned)
        .collect()
}

/// A consumer process receives 5 messages, acknowledges 2 and is killed with SIGKILL while it
/// holds the other 3: another consumer claims exactly those 3 after the visibility timeout,
/// and every one of the 20 messages ends acknowledged.
async fn queue_consumer_killed() {
    let redis = TestRedis::new().await;
    let keys = KeyBuilder::with_prefix(redis.prefix()).unwrap();
    let q: StreamQueue<Job> =
        StreamQueue::new(redis.connection(), &keys, "emails", "senders").unwrap();
    q.ensure_group().await.unwrap();
    let mut all = BTreeMap::new();
    for n in 0..MESSAGES {
        all.insert(q.enqueue(&Job { n }).await.unwrap(), n);
    }

    let doomed = Worker::spawn(&["consumer", redis.prefix()]);
    let lines = doomed.read_until("ready");
    let acked = ids_after(&lines, "acked ");
    let held = ids_after(&lines, "holding ");
    assert_eq!(
        (acked.len(), held.len()),
        (ACKED, TAKEN - ACKED),
        "{lines:?}"
    );
    assert_eq!(q.pending_count().await.unwrap(), (TAKEN - ACKED) as u64);
    let rest = doomed.kill_9();
    assert!(rest.is_empty(), "{rest:?}");
    let killed_at = Instant::now();

    let survivor = q.consumer("survivor").unwrap();
    let mut done: BTreeSet<String> = acked.clone();
    let fresh = survivor.receive(100, None).await.unwrap();
    assert_eq!(fresh.len(), MESSAGES as usize - TAKEN);
    for d in &fresh {
        assert!(survivor.ack(d).await.unwrap());
        assert!(done.insert(d.id.clone()), "{} delivered twice", d.id);
    }
    tokio::time::sleep(VISIBILITY.saturating_sub(killed_at.elapsed())).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let claimed = survivor.claim_stale(VISIBILITY, 100).await.unwrap();
    let claimed_ids: BTreeSet<String> = claimed.iter().map(|d| d.id.clone()).collect();
    assert_eq!(
        claimed_ids, held,
        "exactly the killed consumer's unacknowledged messages"
    );
    for d in &claimed {
        assert_eq!(d.message.n, all[&d.id]);
        assert_eq!(q.delivery_count(&d.id).await.unwrap(), 2);
        assert!(survivor.ack(d).await.unwrap());
        done.insert(d.id.clone());
    }
    assert_eq!(done, all.keys().cloned().collect::<BTreeSet<_>>());
    assert_eq!(q.pending_count().await.unwrap(), 0);
    println!(
        "queue: {MESSAGES} messages; consumer process took {TAKEN}, acked {ACKED}, killed (SIGKILL) \
         holding {}; survivor received {} new and claimed {} after {VISIBILITY:?} \
         (delivery count 2); acknowledged {} of {MESSAGES}, pending 0",
        held.len(),
        fresh.len(),
        claimed.len(),
        done.len()
    );
    redis.cleanup().await;
}

/// Flusher processes flush continuously while this process increments; each is killed with
/// SIGKILL after a random 5..80 ms and replaced, at least [`MIN_KILLS`] times. Afterwards
/// PostgreSQL holds exactly every increment, once.
async fn counter_flusher_killed() {
    let db = TestDatabase::new().await;
    sqlx::raw_sql(
        "CREATE TABLE articles (id BIGINT PRIMARY KEY, view_count BIGINT NOT NULL DEFAULT 0);
         INSERT INTO articles (id) VALUES (1), (2), (3);",
    )
    .execute(db.pool())
    .await
    .unwrap();
    CounterFlusher::ensure_ledger(db.pool()).await.unwrap();
    let redis = TestRedis::new().await;
    let keys = KeyBuilder::with_prefix(redis.prefix()).unwrap();
    let views = Counter::new(redis.connection(), keys, "article", "views")
        .unwrap()
        .with_pending();

    let writer = {
        let views = views.clone();
        tokio::spawn(async move {
            for i in 0..INCREMENTS {
                views.incr(&(i % 3 + 1).to_string()).await.unwrap();
                if i % 20 == 19 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        })
    };
    let (mut kills, mut flushes, mut written, mut already, mut errors) = (0, 0, 0i64, 0, 0);
    while (!writer.is_finished() || kills < MIN_KILLS) && kills < 500 {
        let w = Worker::spawn(&["flusher", redis.prefix(), db.url()]);
        w.read_until("ready");
        let pause = rand::rng().random_range(5..80);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        for line in w.kill_9() {
            let f: Vec<&str> = line.split(' ').collect();
            match f.as_slice() {
                ["flush", n, delta, again, failed] => {
                    flushes += 1;
                    let n: usize = n.parse().unwrap();
                    if n > 0 {
                        written += delta.parse::<i64>().unwrap();
                    }
                    already += again.parse::<usize>().unwrap();
                    errors += failed.parse::<usize>().unwrap();
                }
                _ => errors += 1,
            }
        }
        kills += 1;
    }
    writer.await.unwrap();

    let flusher = CounterFlusher::new(views.clone(), db.pool().clone(), target());
    let mut final_written = 0;
    for _ in 0..3 {
        let r = flusher.flush().await.unwrap();
        assert!(r.failed.is_empty(), "{r:?}");
        final_written += r.total_delta;
        already += r.already_applied;
    }
    let total: i64 = sqlx::query_scalar("SELECT sum(view_count)::BIGINT FROM articles")
        .fetch_one(db.pool())
        .await
        .unwrap();
    println!(
        "counter: {INCREMENTS} increments; {kills} flusher processes killed (SIGKILL) after \
         5..80 ms each; {flushes} flush rounds reported by them, writing {written} (plus any \
         written by a round the kill cut short); in-flight deltas found already applied (a \
         kill between COMMIT and cleanup): {already}; per-id flush errors {errors}; final \
         flush wrote {final_written}; PostgreSQL total {total}"
    );
    assert!(kills >= MIN_KILLS);
    assert!(flushes > 0, "the killed flushers did flush");
    assert_eq!(
        total, INCREMENTS,
        "every increment in PostgreSQL exactly once"
    );
    for id in 1..=3 {
        let sid = id.to_string();
        let in_db: i64 = sqlx::query_scalar("SELECT view_count FROM articles WHERE id = $1")
            .bind(id)
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(in_db, views.get(&sid).await.unwrap(), "article {id}");
        assert_eq!(views.unflushed(&sid).await.unwrap(), 0);
    }
    redis.cleanup().await;
}

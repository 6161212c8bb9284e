//! Leaderboards on sorted sets, against the real Redis.

use crate::support::{keys, pttl};
use crate::support::{Backend, TestConn};
use dbpat_runtime::keyspace::{Entry, KeyspaceError, Leaderboard};
use std::time::Duration;

fn names(entries: &[Entry]) -> Vec<(u64, &str)> {
    entries
        .iter()
        .map(|e| (e.rank, e.member.as_str()))
        .collect()
}

on_each_deployment!(#[tokio::test] fn ranks_top_n_and_around_me);
async fn ranks_top_n_and_around_me<C: TestConn>(redis: Backend<C>) {
    let board = Leaderboard::new(redis.connection(), &keys(&redis), "weekly").unwrap();
    assert_eq!(
        board.key(),
        format!("{}leaderboard:weekly:scores", redis.prefix())
    );
    // p0 .. p9 with scores 0, 10, ..., 90: p9 is first.
    for i in 0..10 {
        board
            .set_score(&format!("p{i}"), f64::from(i * 10))
            .await
            .unwrap();
    }
    assert_eq!(board.len().await.unwrap(), 10);
    let top = board.top(3).await.unwrap();
    assert_eq!(names(&top), vec![(1, "p9"), (2, "p8"), (3, "p7")]);
    assert_eq!(top[0].score, 90.0);
    assert!(board.top(0).await.unwrap().is_empty());
    assert_eq!(board.top(100).await.unwrap().len(), 10);
    assert_eq!(board.rank("p9").await.unwrap(), Some(1));
    assert_eq!(board.rank("p0").await.unwrap(), Some(10));
    assert_eq!(board.rank("nobody").await.unwrap(), None);

    let mid = board.around("p5", 2).await.unwrap();
    assert_eq!(
        names(&mid),
        vec![(3, "p7"), (4, "p6"), (5, "p5"), (6, "p4"), (7, "p3")]
    );
    let first = board.around("p9", 2).await.unwrap();
    assert_eq!(names(&first), vec![(1, "p9"), (2, "p8"), (3, "p7")]);
    let last = board.around("p0", 2).await.unwrap();
    assert_eq!(names(&last), vec![(8, "p2"), (9, "p1"), (10, "p0")]);
    assert!(board.around("nobody", 2).await.unwrap().is_empty());

    // Increments move a member up; the new score is returned.
    assert_eq!(board.incr("p0", 95.0).await.unwrap(), 95.0);
    assert_eq!(board.rank("p0").await.unwrap(), Some(1));
    assert_eq!(board.score("p0").await.unwrap(), Some(95.0));
    assert_eq!(board.incr("newcomer", 1.5).await.unwrap(), 1.5);
    // Ties: same score, ordered by member descending.
    board.set_score("a", 50.0).await.unwrap();
    let tie = board.around("p5", 0).await.unwrap();
    assert_eq!(tie.len(), 1);
    assert_eq!(
        board.rank("p5").await.unwrap().unwrap() + 1,
        board.rank("a").await.unwrap().unwrap()
    );

    assert!(board.remove("p0").await.unwrap());
    assert!(!board.remove("p0").await.unwrap());
    assert!(matches!(
        board.incr("x", f64::NAN).await,
        Err(KeyspaceError::InvalidArgument(_))
    ));
    assert!(matches!(
        board.set_score("x", f64::INFINITY).await,
        Err(KeyspaceError::InvalidArgument(_))
    ));
    assert_eq!(
        pttl(&mut redis.connection(), board.key()).await,
        -1,
        "no TTL by default"
    );
}

on_each_deployment!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] fn concurrent_increments_and_optional_ttl);
async fn concurrent_increments_and_optional_ttl<C: TestConn>(redis: Backend<C>) {
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let b = Leaderboard::new(redis.own_connection().await, &keys(&redis), "race").unwrap();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                b.incr(if i % 2 == 0 { "even" } else { "odd" }, 1.0)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let board = Leaderboard::new(redis.connection(), &keys(&redis), "race")
        .unwrap()
        .with_ttl(Duration::from_secs(3600));
    assert_eq!(board.score("even").await.unwrap(), Some(400.0));
    assert_eq!(board.score("odd").await.unwrap(), Some(400.0));
    board.incr("odd", 1.0).await.unwrap();
    let ms = pttl(&mut redis.connection(), board.key()).await;
    assert!((3_500_000..=3_600_000).contains(&ms), "{ms}");
    assert_eq!(board.top(1).await.unwrap()[0].member, "odd");
}

on_each_deployment!(#[tokio::test] fn out_of_range_counts_mean_the_whole_board);
async fn out_of_range_counts_mean_the_whole_board<C: TestConn>(redis: Backend<C>) {
    let board = Leaderboard::new(redis.connection(), &keys(&redis), "huge").unwrap();
    for (m, s) in [("a", 3.0), ("b", 2.0), ("c", 1.0)] {
        board.set_score(m, s).await.unwrap();
    }
    let all = vec![(1, "a"), (2, "b"), (3, "c")];
    assert_eq!(names(&board.top(u64::MAX).await.unwrap()), all);
    assert_eq!(names(&board.around("b", u64::MAX).await.unwrap()), all);
    assert_eq!(
        names(&board.around("a", 1 << 40).await.unwrap()),
        vec![(1, "a"), (2, "b"), (3, "c")]
    );
}

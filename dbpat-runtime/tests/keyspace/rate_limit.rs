//! Fixed- and sliding-window rate limits, against the real Redis.

use crate::support::{keys, pttl, Backend, TestConn};
use dbpat_runtime::keyspace::{
    Decision, FixedWindow, KeyBuilder, KeyspaceConnection, KeyspaceError, SlidingWindow,
};
use std::sync::Arc;
use std::time::Duration;

const CLIENTS: usize = 8;
const REQUESTS_PER_CLIENT: usize = 50;
const LIMIT: u64 = 100;

#[derive(Clone, Copy)]
enum Kind {
    Fixed,
    Sliding,
}

enum Limiter<C> {
    Fixed(FixedWindow<C>),
    Sliding(SlidingWindow<C>),
}

impl<C: KeyspaceConnection> Limiter<C> {
    fn new(kind: Kind, conn: C, keys: KeyBuilder, limit: u64) -> Self {
        match kind {
            Kind::Fixed => Limiter::Fixed(FixedWindow::new(conn, keys, "api", limit).unwrap()),
            Kind::Sliding => {
                Limiter::Sliding(SlidingWindow::new(conn, keys, "api", limit).unwrap())
            }
        }
    }

    fn window(self, w: Duration) -> Self {
        match self {
            Limiter::Fixed(l) => Limiter::Fixed(l.with_window(w).unwrap()),
            Limiter::Sliding(l) => Limiter::Sliding(l.with_window(w).unwrap()),
        }
    }

    async fn check(&self, subject: &str) -> Decision {
        match self {
            Limiter::Fixed(l) => l.check(subject).await.unwrap(),
            Limiter::Sliding(l) => l.check(subject).await.unwrap(),
        }
    }
}

/// CLIENTS clients on their own connections, released together by a barrier, each firing
/// REQUESTS_PER_CLIENT requests for the same subject. Returns every decision.
async fn hammer<C: TestConn>(kind: Kind, redis: &Backend<C>) -> Vec<Decision> {
    let barrier = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let limiter = Limiter::new(kind, redis.own_connection().await, keys(redis), LIMIT);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut out = Vec::new();
            for _ in 0..REQUESTS_PER_CLIENT {
                out.push(limiter.check("user-42").await);
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

fn assert_exact_quota(kind: &str, deployment: &str, decisions: &[Decision]) {
    let admitted = decisions.iter().filter(|d| d.allowed).count() as u64;
    let refused = decisions.len() as u64 - admitted;
    println!(
        "{kind} [{deployment}]: limit {LIMIT}, {} requests from {CLIENTS} clients, admitted {admitted}, refused {refused}",
        decisions.len()
    );
    assert_eq!(admitted, LIMIT, "{kind}: exactly the quota is admitted");
    assert_eq!(refused, (CLIENTS * REQUESTS_PER_CLIENT) as u64 - LIMIT);
    // Every admitted request saw a distinct remaining count: LIMIT-1 down to 0.
    let mut remaining: Vec<u64> = decisions
        .iter()
        .filter(|d| d.allowed)
        .map(|d| d.remaining)
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, (0..LIMIT).collect::<Vec<_>>(), "{kind}");
    for d in decisions.iter().filter(|d| !d.allowed) {
        assert_eq!(d.remaining, 0);
        let r = d.retry_after.expect("refusals carry retry-after");
        assert!(
            r > Duration::ZERO && r <= Duration::from_secs(60),
            "{kind}: {r:?}"
        );
    }
    assert!(decisions.iter().all(|d| d.limit == LIMIT));
}

on_each_deployment!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] fn fixed_window_admits_exactly_its_quota_under_8_concurrent_clients);
async fn fixed_window_admits_exactly_its_quota_under_8_concurrent_clients<C: TestConn>(
    redis: Backend<C>,
) {
    let decisions = hammer(Kind::Fixed, &redis).await;
    assert_exact_quota("fixed window", redis.deployment(), &decisions);
    let key = FixedWindow::new(redis.connection(), keys(&redis), "api", LIMIT)
        .unwrap()
        .key("user-42")
        .unwrap();
    assert_eq!(key, format!("{}ratelimit:user-42:api", redis.prefix()));
    let ms = pttl(&mut redis.connection(), &key).await;
    assert!(
        (50_000..=60_000).contains(&ms),
        "the patterns document's 60 s window, got {ms}"
    );
}

on_each_deployment!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] fn sliding_window_admits_exactly_its_quota_under_8_concurrent_clients);
async fn sliding_window_admits_exactly_its_quota_under_8_concurrent_clients<C: TestConn>(
    redis: Backend<C>,
) {
    let decisions = hammer(Kind::Sliding, &redis).await;
    assert_exact_quota("sliding window", redis.deployment(), &decisions);
    let key = SlidingWindow::new(redis.connection(), keys(&redis), "api", LIMIT)
        .unwrap()
        .key("user-42")
        .unwrap();
    let logged: u64 = redis::cmd("ZCARD")
        .arg(&key)
        .query_async(&mut redis.connection())
        .await
        .unwrap();
    assert_eq!(logged, LIMIT, "refused requests are not logged");
}

on_each_deployment!(#[tokio::test] fn windows_reopen_after_retry_after);
async fn windows_reopen_after_retry_after<C: TestConn>(redis: Backend<C>) {
    for kind in [Kind::Fixed, Kind::Sliding] {
        let l = Limiter::new(kind, redis.connection(), keys(&redis), 3)
            .window(Duration::from_millis(300));
        let subject = match kind {
            Kind::Fixed => "fixed",
            Kind::Sliding => "sliding",
        };
        for expected_remaining in [2, 1, 0] {
            let d = l.check(subject).await;
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
        }
        let refused = l.check(subject).await;
        assert!(!refused.allowed);
        let wait = refused.retry_after.unwrap();
        assert!(wait <= Duration::from_millis(300), "{wait:?}");
        // Another subject has its own quota.
        assert!(l.check("someone-else").await.allowed);
        tokio::time::sleep(wait + Duration::from_millis(30)).await;
        assert!(
            l.check(subject).await.allowed,
            "window reopened after retry-after"
        );
    }
}

on_each_deployment!(#[tokio::test] fn sliding_window_has_no_boundary_burst);
async fn sliding_window_has_no_boundary_burst<C: TestConn>(redis: Backend<C>) {
    // Limit 2 per 400 ms. Requests at ~0 ms and ~250 ms; at ~450 ms the first has left the
    // window but the second has not, so exactly one more is admitted.
    let l = SlidingWindow::new(redis.connection(), keys(&redis), "api", 2)
        .unwrap()
        .with_window(Duration::from_millis(400))
        .unwrap();
    assert!(l.check("s").await.unwrap().allowed);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(l.check("s").await.unwrap().allowed);
    let refused = l.check("s").await.unwrap();
    assert!(!refused.allowed);
    assert!(refused.retry_after.unwrap() <= Duration::from_millis(150));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(l.check("s").await.unwrap().allowed);
    assert!(!l.check("s").await.unwrap().allowed);
}

on_each_deployment!(#[tokio::test] fn bad_configuration_is_an_error);
async fn bad_configuration_is_an_error<C: TestConn>(redis: Backend<C>) {
    assert!(matches!(
        FixedWindow::new(redis.connection(), keys(&redis), "api", 0),
        Err(KeyspaceError::InvalidArgument(_))
    ));
    assert!(
        SlidingWindow::new(redis.connection(), keys(&redis), "api", 1)
            .unwrap()
            .with_window(Duration::ZERO)
            .is_err()
    );
    let l = FixedWindow::new(redis.connection(), keys(&redis), "api", 1).unwrap();
    assert!(matches!(
        l.check("a b").await,
        Err(KeyspaceError::InvalidKeyPart { .. })
    ));
}

on_each_deployment!(#[tokio::test] fn an_overlong_window_is_clamped_and_still_expires);
async fn an_overlong_window_is_clamped_and_still_expires<C: TestConn>(redis: Backend<C>) {
    let mut conn = redis.connection();
    let fixed = FixedWindow::new(redis.connection(), keys(&redis), "forever", 2)
        .unwrap()
        .with_window(Duration::MAX)
        .unwrap();
    let sliding = SlidingWindow::new(redis.connection(), keys(&redis), "forever-log", 2)
        .unwrap()
        .with_window(Duration::MAX)
        .unwrap();
    for _ in 0..2 {
        assert!(fixed.check("u").await.unwrap().allowed);
        assert!(sliding.check("u").await.unwrap().allowed);
    }
    assert!(!fixed.check("u").await.unwrap().allowed);
    let refused = sliding.check("u").await.unwrap();
    assert!(!refused.allowed);
    assert!(refused.retry_after.unwrap() > Duration::from_secs(86_400 * 365));
    for key in [fixed.key("u").unwrap(), sliding.key("u").unwrap()] {
        let ms = pttl(&mut conn, &key).await;
        assert!(
            ms > 3_000_000_000_000,
            "{key}: the key keeps an expiry, got {ms}"
        );
    }
}

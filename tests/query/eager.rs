//! Eager loads along relations on the real PostgreSQL: the children (and grandchildren) of many
//! parents and the parents of many children, each compared with the same hand-written SQL on
//! the same seeded data, and each counted: the statements sqlx sends (every one is logged at
//! the `sqlx::query` target; `support::trace` hands this thread's to a counter) are one per relation
//! whatever the number of rows. Through the cache (feature `cache`): parents and children
//! served from Redis on the second load, identical rows.

use super::relations::{Member, Score, Team};
use crate::support::trace::{capture_on_this_thread, Sink, SinkGuard};
use chrono::DateTime;
use dbpat::{Entity, Table};
use dbpat_runtime::testing::TestDatabase;
use rust_decimal::Decimal;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts the statements sqlx executes on this thread (its `sqlx::query` events; the tests
/// run on a current-thread runtime, so every query of the test is polled here).
#[derive(Clone, Default)]
pub struct Statements(Arc<AtomicUsize>);

impl Statements {
    /// Counts from now on, on this thread, until the guard drops.
    pub fn count() -> (Self, SinkGuard) {
        let s = Statements::default();
        let guard = capture_on_this_thread(Arc::new(s.clone()));
        (s, guard)
    }

    /// Statements so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Statements that `f` runs.
    pub async fn during<T>(&self, f: impl std::future::Future<Output = T>) -> (T, usize) {
        let before = self.get();
        let out = f.await;
        (out, self.get() - before)
    }
}

impl Sink for Statements {
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn db() -> TestDatabase {
    let db = TestDatabase::new().await;
    let schema = dbpat::ddl::render_schema(&[&Team::TABLE, &Member::TABLE, &Score::TABLE])
        .expect("schema renders");
    sqlx::raw_sql(&schema)
        .execute(db.pool())
        .await
        .expect("schema applies");
    db
}

/// `teams` teams; team `t` has `t % 7` members (so some have none); member `m` is mentored by
/// the member before it in its team (the first one by nobody) and has `m % 3` scores.
async fn seed(pool: &PgPool, teams: usize) -> (Vec<Team>, Vec<Member>, Vec<Score>) {
    let teams = Team::insert_many(
        pool,
        &(0..teams)
            .map(|t| Team {
                id: 0,
                name: format!("team {t}"),
            })
            .collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    let mut members = Vec::new();
    for (t, team) in teams.iter().enumerate() {
        let mut mentor: Option<i64> = None;
        for m in 0..(t % 7) {
            let row = Member::insert(
                pool,
                &Member {
                    id: 0,
                    team_id: team.id,
                    mentor_id: mentor,
                    name: format!("member {t}.{m}"),
                },
            )
            .await
            .unwrap();
            mentor = Some(row.id);
            members.push(row);
        }
    }
    let mut scores = Vec::new();
    let mut n = 0;
    for m in &members {
        for _ in 0..(m.id % 3) {
            n += 1;
            scores.push(Score {
                member_id_key: n,
                created_at: DateTime::from_timestamp(1_700_000_000 + n, 0).unwrap(),
                member_id: m.id,
                points: Decimal::new(n * 25, 2),
            });
        }
    }
    let scores = Score::insert_many(pool, &scores).await.unwrap();
    (teams, members, scores)
}

/// `SELECT id, <fk> FROM <table> WHERE <fk> = ANY($1) ORDER BY id`, by hand, grouped by the
/// foreign key: the ids of each parent's children.
async fn child_ids_by_hand(
    pool: &PgPool,
    table: &str,
    fk: &str,
    parents: &[i64],
) -> BTreeMap<i64, Vec<i64>> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "SELECT id, {fk} FROM {table} WHERE {fk} = ANY($1) ORDER BY id"
    ))
    .bind(parents)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut by_parent: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (id, parent) in rows {
        by_parent.entry(parent).or_default().push(id);
    }
    by_parent
}

fn ids<T>(rows: &[T], id: impl Fn(&T) -> i64) -> Vec<i64> {
    rows.iter().map(id).collect()
}

#[tokio::test]
async fn children_of_many_parents_are_one_statement_and_equal_hand_written_sql() {
    let db = db().await;
    let pool = db.pool();
    let (teams, members, _) = seed(pool, 40).await;
    let expected = child_ids_by_hand(pool, "rel_members", "team_id", &ids(&teams, |t| t.id)).await;
    let (counter, _guard) = Statements::count();

    for n in [1, 5, 40] {
        let page = &teams[..n];
        let (groups, statements) = counter.during(Member::TEAM.load_children(pool, page)).await;
        let groups = groups.unwrap();
        assert_eq!(statements, 1, "{n} parents: one statement");
        assert_eq!(groups.len(), n, "aligned with the parents");
        for (team, group) in page.iter().zip(&groups) {
            let want = expected.get(&team.id).cloned().unwrap_or_default();
            assert_eq!(ids(group, |m| m.id), want, "team {}", team.id);
            assert!(group.iter().all(|m| m.team_id == team.id));
        }
    }
    // Whole rows, equal to the ones inserted; a team without members gets an empty Vec.
    let groups = Member::TEAM.load_children(pool, &teams).await.unwrap();
    let flat: Vec<Member> = groups.iter().flatten().cloned().collect();
    let mut inserted = members.clone();
    inserted.sort_by_key(|m| (m.team_id, m.id));
    assert_eq!(flat, inserted);
    assert!(groups[0].is_empty() && groups[7].is_empty());
    assert_eq!(groups[6].len(), 6);

    // A parent given twice gets its children twice; no parent, no statement.
    let twice = [teams[3].clone(), teams[0].clone(), teams[3].clone()];
    let (groups, statements) = counter
        .during(Member::TEAM.load_children(pool, &twice))
        .await;
    let groups = groups.unwrap();
    assert_eq!(statements, 1);
    assert_eq!(groups[0], groups[2]);
    assert_eq!(groups[0].len(), 3);
    assert!(groups[1].is_empty());
    let (none, statements) = counter.during(Member::TEAM.load_children(pool, &[])).await;
    assert!(none.unwrap().is_empty());
    assert_eq!(statements, 0);

    // The table's form is the same load.
    let (by_table, statements) = counter
        .during(Member::load_children(pool, Member::TEAM, &teams))
        .await;
    assert_eq!(statements, 1);
    assert_eq!(by_table.unwrap().iter().flatten().count(), members.len());
}

#[tokio::test]
async fn the_n_plus_one_loop_it_replaces_takes_one_statement_per_parent() {
    let db = db().await;
    let pool = db.pool();
    let (teams, _, _) = seed(pool, 30).await;
    let (counter, _guard) = Statements::count();
    let (eager, eager_statements) = counter
        .during(Member::TEAM.load_children(pool, &teams))
        .await;
    let (looped, loop_statements) = counter
        .during(async {
            let mut out = Vec::new();
            for team in &teams {
                out.push(
                    Member::TEAM
                        .children_of(team)
                        .order_by(Member::ID.asc())
                        .fetch_all(pool)
                        .await
                        .unwrap(),
                );
            }
            out
        })
        .await;
    assert_eq!(eager.unwrap(), looped, "same rows, same grouping");
    assert_eq!((eager_statements, loop_statements), (1, 30));
}

#[tokio::test]
async fn parents_of_many_children_are_one_statement_and_a_self_reference_works() {
    let db = db().await;
    let pool = db.pool();
    let (teams, members, _) = seed(pool, 20).await;
    let (counter, _guard) = Statements::count();

    let (parents, statements) = counter
        .during(Member::TEAM.load_parents(pool, &members))
        .await;
    assert_eq!(statements, 1);
    let parents = parents.unwrap();
    assert_eq!(parents.len(), members.len());
    for (m, team) in members.iter().zip(&parents) {
        let by_hand: Team = sqlx::query_as("SELECT id, name FROM rel_teams WHERE id = $1")
            .bind(m.team_id)
            .fetch_one(pool)
            .await
            .map(|(id, name)| Team { id, name })
            .unwrap();
        assert_eq!(team.as_ref(), Some(&by_hand));
        assert!(teams.contains(&by_hand));
    }

    // Self-reference with NULLs: the first member of each team has no mentor.
    let (mentors, statements) = counter
        .during(Member::MENTOR.load_parents(pool, &members))
        .await;
    assert_eq!(statements, 1);
    let mentors = mentors.unwrap();
    for (m, mentor) in members.iter().zip(&mentors) {
        let by_hand: Option<i64> = sqlx::query_scalar(
            "SELECT p.id FROM rel_members c JOIN rel_members p ON p.id = c.mentor_id WHERE c.id = $1",
        )
        .bind(m.id)
        .fetch_optional(pool)
        .await
        .unwrap();
        assert_eq!(mentor.as_ref().map(|p| p.id), by_hand);
        assert_eq!(mentor.as_ref().map(|p| p.id), m.mentor_id);
    }
    assert!(mentors.iter().any(Option::is_none) && mentors.iter().any(Option::is_some));

    // Only NULL foreign keys: no statement at all.
    let first: Vec<Member> = members
        .iter()
        .filter(|m| m.mentor_id.is_none())
        .cloned()
        .collect();
    let (none, statements) = counter
        .during(Member::MENTOR.load_parents(pool, &first))
        .await;
    assert_eq!(statements, 0);
    assert!(none.unwrap().iter().all(Option::is_none));

    // Paired, and in the table's form.
    let pairs = Member::TEAM
        .with_parents(pool, members.clone())
        .await
        .unwrap();
    assert!(pairs
        .iter()
        .all(|(m, t)| t.as_ref().map(|t| t.id) == Some(m.team_id)));
    let by_table = Team::load_parents(pool, Member::TEAM, &members)
        .await
        .unwrap();
    assert_eq!(by_table, parents);
}

#[tokio::test]
async fn grandchildren_take_one_statement_per_level() {
    let db = db().await;
    let pool = db.pool();
    let (teams, members, scores) = seed(pool, 25).await;
    let (counter, _guard) = Statements::count();

    let (tree, statements) = counter
        .during(async {
            let teams = Member::TEAM.with_children(pool, teams.clone()).await?;
            Score::MEMBER.with_children_nested(pool, teams).await
        })
        .await;
    assert_eq!(statements, 2, "one per relation: members, then scores");
    let tree = tree.unwrap();

    // The same tree by hand.
    let members_by_team =
        child_ids_by_hand(pool, "rel_members", "team_id", &ids(&teams, |t| t.id)).await;
    let score_rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT member_id_key, member_id FROM rel_scores WHERE member_id = ANY($1) ORDER BY member_id_key, created_at",
    )
    .bind(ids(&members, |m| m.id))
    .fetch_all(pool)
    .await
    .unwrap();
    let mut scores_by_member: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (key, member) in score_rows {
        scores_by_member.entry(member).or_default().push(key);
    }
    assert_eq!(tree.len(), teams.len());
    let mut seen_scores = 0;
    for ((team, team_members), given) in tree.iter().zip(&teams) {
        assert_eq!(team, given);
        let want = members_by_team.get(&team.id).cloned().unwrap_or_default();
        assert_eq!(ids(team_members, |(m, _)| m.id), want);
        for (member, member_scores) in team_members {
            let want = scores_by_member
                .get(&member.id)
                .cloned()
                .unwrap_or_default();
            assert_eq!(ids(member_scores, |s| s.member_id_key), want);
            seen_scores += member_scores.len();
        }
    }
    assert_eq!(seen_scores, scores.len());
    assert!(seen_scores > 0);

    // The flat form: the second level over a flattened iterator of the first.
    let (levels, statements) = counter
        .during(async {
            let members = Member::TEAM.load_children(pool, &teams).await?;
            let scores = Score::MEMBER
                .load_children(pool, members.iter().flatten())
                .await?;
            Ok::<_, dbpat::Error>((members, scores))
        })
        .await;
    assert_eq!(statements, 2);
    let (level1, level2) = levels.unwrap();
    assert_eq!(level2.len(), level1.iter().flatten().count());
    assert_eq!(level2.iter().flatten().count(), scores.len());
}

#[tokio::test]
async fn load_children_with_filters_and_orders_within_each_parent() {
    let db = db().await;
    let pool = db.pool();
    let (teams, _, _) = seed(pool, 14).await;
    let (counter, _guard) = Statements::count();
    let (groups, statements) = counter
        .during(Member::TEAM.load_children_with(pool, &teams, |q| {
            q.filter(Member::MENTOR_ID.is_not_null())
                .order_by(Member::NAME.desc())
        }))
        .await;
    assert_eq!(statements, 1);
    let groups = groups.unwrap();
    for (team, group) in teams.iter().zip(&groups) {
        let want: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM rel_members WHERE team_id = ANY($1) AND mentor_id IS NOT NULL AND team_id = $2 ORDER BY name DESC",
        )
        .bind(ids(&teams, |t| t.id))
        .bind(team.id)
        .fetch_all(pool)
        .await
        .unwrap();
        let got: Vec<String> = group.iter().map(|m| m.name.clone()).collect();
        assert_eq!(got, want, "team {}", team.id);
    }
    assert!(groups.iter().any(|g| g.len() > 1));
}

#[tokio::test]
async fn seventy_thousand_parents_bind_one_array() {
    let db = db().await;
    let pool = db.pool();
    let (teams, members, _) = seed(pool, 8).await;
    // 70,000 parents without rows (more than the 65,535 parameters a statement can bind as
    // separate values), then the real ones.
    let mut parents: Vec<Team> = (0..70_000)
        .map(|i| Team {
            id: 1_000_000 + i,
            name: String::new(),
        })
        .collect();
    parents.extend(teams.iter().cloned());
    let (counter, _guard) = Statements::count();
    let (groups, statements) = counter
        .during(Member::TEAM.load_children(pool, &parents))
        .await;
    assert_eq!(statements, 1);
    let groups = groups.unwrap();
    assert_eq!(groups.len(), 70_008);
    assert!(groups[..70_000].iter().all(Vec::is_empty));
    assert_eq!(groups.iter().flatten().count(), members.len());

    // And the other way: 70,000 children whose foreign keys are all distinct.
    let children: Vec<Member> = (0..70_000)
        .map(|i| Member {
            id: 0,
            team_id: if i < 8 {
                teams[i as usize].id
            } else {
                1_000_000 + i
            },
            mentor_id: None,
            name: String::new(),
        })
        .collect();
    let (parents, statements) = counter
        .during(Member::TEAM.load_parents(pool, &children))
        .await;
    assert_eq!(statements, 1);
    let parents = parents.unwrap();
    assert_eq!(parents.iter().flatten().count(), 8);
    assert_eq!(parents[3].as_ref(), Some(&teams[3]));
}

#[tokio::test]
async fn eager_futures_are_send() {
    fn send<T: Send>(_: T) {}
    let db = db().await;
    let pool = db.pool().clone();
    let teams: Vec<Team> = Vec::new();
    let members: Vec<Member> = Vec::new();
    send(Member::TEAM.load_children(&pool, &teams));
    send(Member::TEAM.load_parents(&pool, &members));
    send(Member::TEAM.with_children(&pool, teams.clone()));
    send(Member::load_children(&pool, Member::TEAM, &teams));
}

#[cfg(feature = "cache")]
mod cached {
    //! Eager loads through the entity cache: the second load is answered by Redis.

    use super::Statements;
    use crate::support::query::{shop_db, user};
    use crate::support::shop::{Order, OrderStatus, User};
    use dbpat::cache::{Cache, CacheConfig};
    use dbpat::testing::TestRedis;
    use dbpat::tiers::Tiers;
    use dbpat::{Entity, Table};
    use rust_decimal::Decimal;
    use serde::{Deserialize, Serialize};
    use uuid::Uuid;

    async fn cache_for(redis: &TestRedis) -> Cache {
        let client = dbpat::cache::redis::Client::open(dbpat::testing::redis_url()).unwrap();
        let mut config = CacheConfig::new(redis.prefix());
        config.restart_grace = std::time::Duration::ZERO;
        Cache::connect(client, config).await
    }

    #[tokio::test]
    async fn parents_load_through_the_cache_and_come_from_redis_the_second_time() {
        let db = shop_db().await;
        let pool = db.pool();
        Tiers::new(&Order::TABLE)
            .ensure_partitions(pool, 1)
            .await
            .unwrap();
        let redis = TestRedis::new().await;
        let cache = cache_for(&redis).await;
        let users = cache.entity::<User>();
        let mut people = Vec::new();
        for i in 0..6 {
            people.push(
                User::insert(pool, &user(&format!("u{i}@example.com")))
                    .await
                    .unwrap(),
            );
        }
        let orders: Vec<Order> = people
            .iter()
            .flat_map(|u| {
                (0..3).map(|n| Order {
                    id: Uuid::nil(),
                    user_id: u.id,
                    status: OrderStatus::Pending,
                    total: Decimal::new(100 + n, 2),
                    created_at: chrono::DateTime::UNIX_EPOCH,
                })
            })
            .collect();
        let orders = Order::insert_many(pool, &orders).await.unwrap();
        let emails = |rows: &[Option<User>]| -> Vec<Option<String>> {
            rows.iter()
                .map(|u| u.as_ref().map(|u| u.email.clone()))
                .collect()
        };
        let (counter, _guard) = Statements::count();

        let uncached = User::load_parents(pool, Order::USER, &orders)
            .await
            .unwrap();
        let before = users.metrics();
        let (first, statements) = counter
            .during(users.load_parents(pool, Order::USER, &orders))
            .await;
        let first = first.unwrap();
        let after_first = users.metrics();
        assert_eq!(statements, 1, "the misses: one query");
        assert_eq!(after_first.hits, before.hits);
        assert_eq!(after_first.misses - before.misses, 6, "six distinct users");
        assert_eq!(emails(&first), emails(&uncached));

        let (second, statements) = counter
            .during(users.load_parents(pool, Order::USER, &orders))
            .await;
        let second = second.unwrap();
        assert_eq!(statements, 0, "every parent from Redis");
        assert_eq!(users.metrics().hits - after_first.hits, 6);
        assert_eq!(emails(&second), emails(&uncached));
        for (o, u) in orders.iter().zip(&second) {
            let u = u.as_ref().expect("every order has its user");
            let by_hand: (Uuid, String, String) =
                sqlx::query_as("SELECT id, email, name FROM users WHERE id = $1")
                    .bind(o.user_id)
                    .fetch_one(pool)
                    .await
                    .unwrap();
            assert_eq!((u.id, u.email.clone(), u.name.clone()), by_hand);
        }
        redis.cleanup().await;
    }

    /// A cached parent and a cached child, for the children's path.
    #[derive(Debug, Clone, PartialEq, Entity, Serialize, Deserialize)]
    #[dbpat(table = "eager_clubs", cache(ttl = "5m"))]
    pub struct Club {
        #[dbpat(primary_key)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Debug, Clone, PartialEq, Entity, Serialize, Deserialize)]
    #[dbpat(table = "eager_players", cache(ttl = "5m"))]
    pub struct Player {
        #[dbpat(primary_key)]
        pub id: i64,
        #[dbpat(references(Club, on_delete = cascade))]
        pub club_id: i64,
        pub name: String,
    }

    #[tokio::test]
    async fn children_load_through_the_cache_with_one_key_query() {
        let db = dbpat::testing::TestDatabase::new().await;
        let pool = db.pool();
        let schema = dbpat::ddl::render_schema(&[&Club::TABLE, &Player::TABLE]).unwrap();
        sqlx::raw_sql(&schema).execute(pool).await.unwrap();
        let clubs = Club::insert_many(
            pool,
            &(0..5)
                .map(|i| Club {
                    id: 0,
                    name: format!("club {i}"),
                })
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
        let players: Vec<Player> = clubs
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                (0..i).map(move |p| Player {
                    id: 0,
                    club_id: c.id,
                    name: format!("player {i}.{p}"),
                })
            })
            .collect();
        let players = Player::insert_many(pool, &players).await.unwrap();
        let redis = TestRedis::new().await;
        let cache = cache_for(&redis).await;
        let cached = cache.entity::<Player>();
        let (counter, _guard) = Statements::count();

        let uncached = Player::load_children(pool, Player::CLUB, &clubs)
            .await
            .unwrap();
        let (first, statements) = counter
            .during(cached.load_children(pool, Player::CLUB, &clubs))
            .await;
        assert_eq!(statements, 2, "the key query and the misses");
        assert_eq!(first.unwrap(), uncached);

        let hits = cached.metrics().hits;
        let (second, statements) = counter
            .during(cached.load_children(pool, Player::CLUB, &clubs))
            .await;
        assert_eq!(statements, 1, "the key query only");
        assert_eq!(cached.metrics().hits - hits, players.len() as u64);
        let second = second.unwrap();
        assert_eq!(second, uncached);
        assert!(second[0].is_empty());
        assert_eq!(second[4].len(), 4);

        // The cached loads' futures are `Send` (they run inside `tokio::spawn`).
        fn send<T: Send>(_: &T) {}
        let clubs_cached = cache.entity::<Club>();
        send(&cached.load_children(pool, Player::CLUB, &clubs));
        send(&clubs_cached.load_parents(pool, Player::CLUB, &players));
        send(&cached.with_children(pool, Player::CLUB, clubs.clone()));

        // Parents through the cache too, and the paired form.
        let owners = clubs_cached
            .load_parents(pool, Player::CLUB, &players)
            .await
            .unwrap();
        assert_eq!(
            owners,
            Club::load_parents(pool, Player::CLUB, &players)
                .await
                .unwrap()
        );
        let paired = cached
            .with_children(pool, Player::CLUB, clubs.clone())
            .await
            .unwrap();
        assert_eq!(
            paired,
            Player::with_children(pool, Player::CLUB, clubs)
                .await
                .unwrap()
        );
        redis.cleanup().await;
    }
}

/// The example of `docs/relations.md` on the shop's own `User` / `Order` (partitioned, composite key).
#[tokio::test]
async fn the_shop_loads_like_the_readme_says() {
    use crate::support::query::{shop_db, user};
    use crate::support::shop::{Order, OrderStatus, User};
    use uuid::Uuid;

    let db = shop_db().await;
    let pool = db.pool();
    dbpat::tiers::Tiers::new(&Order::TABLE)
        .ensure_partitions(pool, 1)
        .await
        .unwrap();
    for i in 0..4 {
        let u = User::insert(pool, &user(&format!("r{i}@example.com")))
            .await
            .unwrap();
        let orders: Vec<Order> = (0..i)
            .map(|n| Order {
                id: Uuid::nil(),
                user_id: u.id,
                status: [OrderStatus::Paid, OrderStatus::Pending][n % 2],
                total: Decimal::new(100 * n as i64, 2),
                created_at: DateTime::UNIX_EPOCH,
            })
            .collect();
        Order::insert_many(pool, &orders).await.unwrap();
    }
    let (counter, _guard) = Statements::count();
    let users = User::query()
        .order_by(User::CREATED_AT.desc())
        .limit(100)
        .fetch_all(pool)
        .await
        .unwrap();
    let (orders, statements) = counter
        .during(Order::USER.load_children(pool, &users))
        .await;
    let orders = orders.unwrap();
    assert_eq!(statements, 1);
    let owners = Order::USER
        .load_parents(pool, orders.iter().flatten())
        .await
        .unwrap();
    let paid = Order::USER
        .load_children_with(pool, &users, |q| {
            q.filter(Order::STATUS.eq(OrderStatus::Paid))
                .order_by(Order::CREATED_AT.desc())
        })
        .await
        .unwrap();
    let pages = Order::USER
        .with_children(pool, users.clone())
        .await
        .unwrap();

    for ((u, group), (paged_user, paged)) in users.iter().zip(&orders).zip(&pages) {
        let by_hand: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM orders WHERE user_id = ANY($1) AND user_id = $2 ORDER BY id, created_at",
        )
        .bind(users.iter().map(|u| u.id).collect::<Vec<_>>())
        .bind(u.id)
        .fetch_all(pool)
        .await
        .unwrap();
        assert_eq!(group.iter().map(|o| o.id).collect::<Vec<_>>(), by_hand);
        assert_eq!(paged_user.id, u.id);
        assert_eq!(paged.iter().map(|o| o.id).collect::<Vec<_>>(), by_hand);
    }
    assert_eq!(owners.len(), 6);
    assert!(orders
        .iter()
        .flatten()
        .zip(&owners)
        .all(|(o, u)| u.as_ref().map(|u| u.id) == Some(o.user_id)));
    let paid_by_hand: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'paid'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(paid.iter().flatten().count() as i64, paid_by_hand);
    assert!(paid.iter().flatten().all(|o| o.status == OrderStatus::Paid));
}

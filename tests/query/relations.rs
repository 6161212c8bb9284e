//! Relations from foreign keys on the real PostgreSQL: the derive's relation constants and
//! `BelongsTo`, navigated both ways (parent of a child; children of a parent as a `Select`),
//! for a plain foreign key, two foreign keys to one parent, a nullable self-reference and a
//! child with a composite key; each compared with the same hand-written SQL.

use chrono::{DateTime, Utc};
use dbpat::{BelongsTo, Entity, Relation, Table, TableRow};
use dbpat_runtime::testing::TestDatabase;
use rust_decimal::Decimal;
use sqlx::PgPool;

/// A parent with an identity key.
#[derive(Debug, Clone, PartialEq, Entity)]
#[dbpat(table = "rel_teams")]
pub struct Team {
    #[dbpat(primary_key)]
    pub id: i64,
    pub name: String,
}

/// A child of `Team`, and of itself through a nullable `mentor_id`.
#[derive(Debug, Clone, PartialEq, Entity)]
#[dbpat(table = "rel_members")]
pub struct Member {
    #[dbpat(primary_key)]
    pub id: i64,
    #[dbpat(references(Team, on_delete = cascade))]
    pub team_id: i64,
    #[dbpat(references(Self, on_delete = set_null))]
    pub mentor_id: Option<i64>,
    pub name: String,
}

/// Two foreign keys to one parent: no `BelongsTo<Team>`, each relation named.
#[derive(Debug, Clone, PartialEq, Entity)]
#[dbpat(table = "rel_matches")]
pub struct Match {
    #[dbpat(primary_key)]
    pub id: i64,
    #[dbpat(references(Team, on_delete = cascade))]
    pub home_id: i64,
    #[dbpat(references(Team, on_delete = cascade))]
    pub away_id: i64,
    /// A foreign key whose field does not end in `_id`: its relation is `WINNER_REL`.
    #[dbpat(references(Team, on_delete = set_null))]
    pub winner: Option<i64>,
}

/// A child with a composite primary key.
#[derive(Debug, Clone, PartialEq, Entity)]
#[dbpat(table = "rel_scores")]
pub struct Score {
    #[dbpat(primary_key)]
    pub member_id_key: i64,
    #[dbpat(primary_key, created_at)]
    pub created_at: DateTime<Utc>,
    #[dbpat(references(Member, on_delete = cascade))]
    pub member_id: i64,
    #[dbpat(money)]
    pub points: Decimal,
}

async fn db() -> TestDatabase {
    let db = TestDatabase::new().await;
    let schema =
        dbpat::ddl::render_schema(&[&Team::TABLE, &Member::TABLE, &Match::TABLE, &Score::TABLE])
            .expect("schema renders");
    sqlx::raw_sql(&schema)
        .execute(db.pool())
        .await
        .expect("schema applies");
    db
}

async fn team(pool: &PgPool, name: &str) -> Team {
    Team::insert(
        pool,
        &Team {
            id: 0,
            name: name.into(),
        },
    )
    .await
    .unwrap()
}

async fn member(pool: &PgPool, team: &Team, mentor: Option<&Member>, name: &str) -> Member {
    Member::insert(
        pool,
        &Member {
            id: 0,
            team_id: team.id,
            mentor_id: mentor.map(|m| m.id),
            name: name.into(),
        },
    )
    .await
    .unwrap()
}

/// The ids of `table` rows whose `column` is `value`, by hand-written SQL.
async fn ids_where(pool: &PgPool, table: &str, column: &str, value: i64) -> Vec<i64> {
    sqlx::query_scalar(&format!(
        "SELECT id FROM {table} WHERE {column} = $1 ORDER BY id"
    ))
    .bind(value)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[test]
fn relation_constants_name_their_columns() {
    assert_eq!(Member::TEAM.field(), "team_id");
    assert_eq!(Member::TEAM.column_name(), "team_id");
    assert_eq!(Member::TEAM.column_index(), Member::TEAM_ID.index());
    assert_eq!(Member::TEAM.parent_column(), "id");
    assert_eq!(Member::MENTOR.column_name(), "mentor_id");
    assert_eq!(Match::HOME.column_name(), "home_id");
    assert_eq!(Match::AWAY.column_name(), "away_id");
    assert_eq!(Match::WINNER_REL.column_name(), "winner");
    assert_eq!(Score::MEMBER.column_name(), "member_id");
    // `BelongsTo` is the single foreign key to the parent.
    assert_eq!(
        <Member as BelongsTo<Team>>::RELATION.column_name(),
        "team_id"
    );
    assert_eq!(
        <Member as BelongsTo<Member>>::RELATION.column_name(),
        "mentor_id"
    );
    assert_eq!(
        format!("{:?}", Member::TEAM),
        "Relation(rel_members.team_id -> rel_teams.id)"
    );
    let sql = Member::TEAM
        .children_of(&Team {
            id: 7,
            name: String::new(),
        })
        .to_sql();
    assert_eq!(sql, format!("{} WHERE team_id = $1", Member::sql().select));
}

#[tokio::test]
async fn parent_and_children_both_ways() {
    let db = db().await;
    let pool = db.pool();
    let red = team(pool, "red").await;
    let blue = team(pool, "blue").await;
    let ada = member(pool, &red, None, "ada").await;
    let bob = member(pool, &red, Some(&ada), "bob").await;
    let cy = member(pool, &red, Some(&ada), "cy").await;
    let dee = member(pool, &blue, Some(&bob), "dee").await;

    // Parent of a child.
    assert_eq!(
        Member::TEAM.parent_of(pool, &bob).await.unwrap(),
        Some(red.clone())
    );
    assert_eq!(
        Member::TEAM.parent_of(pool, &dee).await.unwrap(),
        Some(blue.clone())
    );
    // A NULL foreign key has no parent (and costs no query).
    assert_eq!(Member::MENTOR.parent_key(&ada), None);
    assert_eq!(Member::MENTOR.parent_of(pool, &ada).await.unwrap(), None);
    assert_eq!(
        Member::MENTOR.parent_of(pool, &dee).await.unwrap(),
        Some(bob.clone())
    );

    // Children of a parent, three spellings, equal to the hand-written query.
    for parent in [&red, &blue] {
        let expected = ids_where(pool, "rel_members", "team_id", parent.id).await;
        let by_relation: Vec<i64> = Member::TEAM
            .children_of(parent)
            .order_by(Member::ID.asc())
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect();
        let by_trait: Vec<i64> = Member::belonging_to(parent)
            .order_by(Member::ID.asc())
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect();
        let by_parent: Vec<i64> = parent
            .children::<Member>()
            .order_by(Member::ID.asc())
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(by_relation, expected);
        assert_eq!(by_trait, expected);
        assert_eq!(by_parent, expected);
    }
    assert_eq!(red.children::<Member>().count(pool).await.unwrap(), 3);

    // The self-reference: ada mentors bob and cy; the children compose with filters.
    let mentees = Member::MENTOR
        .children_of(&ada)
        .filter(Member::NAME.ne("cy"))
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(mentees, vec![bob.clone()]);
    assert_eq!(
        Member::MENTOR.children_of(&ada).count(pool).await.unwrap(),
        ids_where(pool, "rel_members", "mentor_id", ada.id)
            .await
            .len() as i64
    );
    let _ = cy;
}

#[tokio::test]
async fn several_foreign_keys_to_one_parent_are_told_apart() {
    let db = db().await;
    let pool = db.pool();
    let red = team(pool, "red").await;
    let blue = team(pool, "blue").await;
    let green = team(pool, "green").await;
    let game = |home: &Team, away: &Team, winner: Option<&Team>| Match {
        id: 0,
        home_id: home.id,
        away_id: away.id,
        winner: winner.map(|t| t.id),
    };
    let rows = Match::insert_many(
        pool,
        &[
            game(&red, &blue, Some(&red)),
            game(&blue, &red, None),
            game(&red, &green, Some(&green)),
        ],
    )
    .await
    .unwrap();

    let home_of_red = Match::HOME.children_of(&red).count(pool).await.unwrap();
    let away_of_red = Match::AWAY.children_of(&red).count(pool).await.unwrap();
    let won_by_green = Match::WINNER_REL
        .children_of(&green)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(
        home_of_red,
        ids_where(pool, "rel_matches", "home_id", red.id)
            .await
            .len() as i64
    );
    assert_eq!(
        away_of_red,
        ids_where(pool, "rel_matches", "away_id", red.id)
            .await
            .len() as i64
    );
    assert_eq!((home_of_red, away_of_red), (2, 1));
    assert_eq!(won_by_green, vec![rows[2].clone()]);
    assert_eq!(
        Match::AWAY.parent_of(pool, &rows[0]).await.unwrap(),
        Some(blue)
    );
    assert_eq!(
        Match::WINNER_REL.parent_of(pool, &rows[1]).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_child_with_a_composite_key_navigates_too() {
    let db = db().await;
    let pool = db.pool();
    let red = team(pool, "red").await;
    let ada = member(pool, &red, None, "ada").await;
    let bob = member(pool, &red, None, "bob").await;
    let score = |m: &Member, n: i64| Score {
        member_id_key: n,
        created_at: DateTime::from_timestamp(1_700_000_000 + n, 0).unwrap(),
        member_id: m.id,
        points: Decimal::new(n * 150, 2),
    };
    Score::insert_many(pool, &[score(&ada, 1), score(&ada, 2), score(&bob, 3)])
        .await
        .unwrap();
    let ada_scores = ada
        .children::<Score>()
        .order_by(Score::MEMBER_ID_KEY.asc())
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(
        ada_scores
            .iter()
            .map(|s| s.member_id_key)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(
        Score::MEMBER.parent_of(pool, &ada_scores[1]).await.unwrap(),
        Some(ada)
    );
    let _: Relation<Score, Member> = Score::MEMBER;
}

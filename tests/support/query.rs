//! Shared setup of the query tests: a fresh database with the shop's schema (plus a `gadgets`
//! table that exercises every column kind), and row builders.

#![allow(dead_code)]

use super::shop::{Account, Product, User, UserMetadata, UserStatus};
use chrono::{DateTime, NaiveDate, Utc};
use dbpat::{DbEnum, Entity, Json};
use dbpat_runtime::testing::TestDatabase;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, DbEnum)]
pub enum GadgetKind {
    Widget,
    Gizmo,
    DooHickey,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub color: String,
    pub size: u32,
}

/// Every kind of column the row mapping supports, nullable and not.
#[derive(Debug, Clone, PartialEq, Entity)]
#[dbpat(table = "gadgets")]
pub struct Gadget {
    #[dbpat(primary_key)]
    pub id: i64,
    #[dbpat(unique)]
    pub code: String,
    pub kind: GadgetKind,
    pub alt_kind: Option<GadgetKind>,
    pub spec: Json<Spec>,
    pub extra: Option<serde_json::Value>,
    #[dbpat(money)]
    pub price: Decimal,
    pub discount: Option<Decimal>,
    pub tags: Vec<String>,
    pub scores: Option<Vec<i64>>,
    pub note: Option<String>,
    pub ratio: f64,
    pub active: bool,
    pub small: i16,
    pub day: NaiveDate,
    pub seen_at: Option<DateTime<Utc>>,
    pub blob: Vec<u8>,
    pub ref_id: Option<Uuid>,
    #[dbpat(version)]
    pub version: i64,
    #[dbpat(created_at)]
    pub created_at: DateTime<Utc>,
}

/// A membership of a user in a team: a `unique(a, b)` key beside the primary key, a version,
/// `updated_at` and a cache policy (upserts and filtered writes, directly and cached).
#[derive(Debug, Clone, PartialEq, Entity, Serialize, Deserialize)]
#[dbpat(table = "memberships", unique(team_id, user_id), cache(ttl = "15m"))]
pub struct Membership {
    #[dbpat(primary_key)]
    pub id: Uuid,
    pub team_id: Uuid,
    pub user_id: Uuid,
    pub role: String,
    pub note: Option<String>,
    pub score: i64,
    #[dbpat(version)]
    pub version: i32,
    #[dbpat(created_at)]
    pub created_at: DateTime<Utc>,
    #[dbpat(updated_at)]
    pub updated_at: DateTime<Utc>,
}

pub fn membership(team_id: Uuid, user_id: Uuid, role: &str, score: i64) -> Membership {
    Membership {
        id: Uuid::nil(),
        team_id,
        user_id,
        role: role.to_owned(),
        note: Some(format!("{role} {score}")),
        score,
        version: 0,
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
    }
}

pub fn gadget(n: i64) -> Gadget {
    Gadget {
        id: 0,
        code: format!("G-{n:05}"),
        kind: [GadgetKind::Widget, GadgetKind::Gizmo, GadgetKind::DooHickey][(n % 3) as usize],
        alt_kind: (n % 2 == 0).then_some(GadgetKind::Gizmo),
        spec: Json(Spec {
            color: ["red", "green"][(n % 2) as usize].to_owned(),
            size: n as u32,
        }),
        extra: (n % 2 == 1).then(|| serde_json::json!({"n": n, "nested": {"ok": true}})),
        price: Decimal::new(1999 + n, 2),
        discount: (n % 4 == 0).then(|| Decimal::new(5, 1)),
        tags: (0..(n % 3))
            .map(|i| format!("t{i}, \"quoted\" {{}}"))
            .collect(),
        scores: (n % 2 == 0).then(|| (0..(n % 4)).collect()),
        note: (n % 5 != 0).then(|| format!("note {n}")),
        ratio: n as f64 / 8.0,
        active: n % 2 == 0,
        small: n as i16,
        day: NaiveDate::from_ymd_opt(2025, 1, 1 + (n % 28) as u32).unwrap(),
        seen_at: (n % 3 == 0).then(|| DateTime::from_timestamp(1_700_000_000 + n, 0).unwrap()),
        blob: vec![n as u8, 0, 255],
        ref_id: (n % 2 == 0).then(|| Uuid::from_u128(n as u128)),
        version: 0,
        created_at: DateTime::UNIX_EPOCH,
    }
}

/// A fresh database with the shop's tables and `gadgets`.
pub async fn shop_db() -> TestDatabase {
    let db = TestDatabase::new().await;
    let schema = dbpat::ddl::render_schema(&[
        &User::TABLE,
        &Product::TABLE,
        &Account::TABLE,
        &super::shop::Order::TABLE,
        &Gadget::TABLE,
        &Membership::TABLE,
    ])
    .expect("schema renders");
    sqlx::raw_sql(&schema)
        .execute(db.pool())
        .await
        .expect("schema applies");
    db
}

pub fn user(email: &str) -> User {
    User {
        id: Uuid::nil(),
        email: email.to_owned(),
        name: format!("User {email}"),
        status: UserStatus::Active,
        metadata: Json(UserMetadata::default()),
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
    }
}

pub fn product(name: &str, category: &str, price: i64, attributes: serde_json::Value) -> Product {
    Product {
        id: Uuid::nil(),
        name: name.to_owned(),
        description: format!("{name} in {category}"),
        price: Decimal::new(price, 2),
        category: category.to_owned(),
        attributes,
        stock: 10,
        version: 0,
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
    }
}

pub fn account(user_id: Uuid, balance: i64) -> Account {
    Account {
        id: Uuid::nil(),
        user_id,
        balance: Decimal::new(balance, 0),
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
    }
}

//! The patterns document's shop as dbpat models: users, products, orders (partitioned by quarter, with an
//! archive table for the cold tier) and accounts. `cargo run --bin emit-sql` prints their DDL,
//! which reproduces `seed_schema.sql`.

use chrono::{DateTime, Utc};
use dbpat::{DbEnum, Entity, Json};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A user's account state: TEXT + CHECK (status IN ('active', 'inactive', 'suspended')).
#[derive(Debug, Clone, Copy, PartialEq, Eq, DbEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Inactive,
    Suspended,
}

/// Free-form user attributes kept in JSONB.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Users are cached (cache-aside, 15 min): cached entities derive serde and `Clone`.
#[derive(Debug, Clone, Entity, Serialize, Deserialize)]
#[dbpat(table = "users", cache(ttl = "15m", negative_ttl = "60s"))]
#[dbpat(index(email, where = "status = 'active'"))]
#[dbpat(index(gin(metadata)))]
#[dbpat(index(expr = "(metadata->>'role')"))]
#[dbpat(index(created_at desc))]
pub struct User {
    #[dbpat(primary_key)]
    pub id: Uuid,
    #[dbpat(unique)]
    pub email: String,
    pub name: String,
    #[dbpat(default = "active")]
    pub status: UserStatus,
    #[dbpat(default = "{}")]
    pub metadata: Json<UserMetadata>,
    #[dbpat(created_at)]
    pub created_at: DateTime<Utc>,
    #[dbpat(updated_at)]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Entity, Serialize, Deserialize)]
#[dbpat(table = "products", cache(ttl = "15m"))]
#[dbpat(index(category))]
#[dbpat(index(gin(attributes)))]
#[dbpat(index(fulltext(name, description), language = "english"))]
pub struct Product {
    #[dbpat(primary_key)]
    pub id: Uuid,
    pub name: String,
    #[dbpat(default = "")]
    pub description: String,
    #[dbpat(money)]
    pub price: Decimal,
    pub category: String,
    #[dbpat(default = "{}")]
    pub attributes: serde_json::Value,
    #[dbpat(default = 0, check = "stock >= 0")]
    pub stock: i32,
    #[dbpat(version)]
    pub version: i32,
    #[dbpat(created_at)]
    pub created_at: DateTime<Utc>,
    #[dbpat(updated_at)]
    pub updated_at: DateTime<Utc>,
}

/// An order's lifecycle: TEXT + CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')).
#[derive(Debug, Clone, Copy, PartialEq, Eq, DbEnum)]
pub enum OrderStatus {
    Pending,
    Paid,
    Shipped,
    Cancelled,
}

/// Orders: hot rows in quarterly partitions, cold rows in `orders_archive`.
#[derive(Debug, Clone, Entity)]
#[dbpat(table = "orders", archive)]
#[dbpat(partition(by = created_at, interval = quarter, from = "2025-01-01", count = 2))]
#[dbpat(index(user_id, created_at desc))]
pub struct Order {
    #[dbpat(primary_key)]
    pub id: Uuid,
    #[dbpat(references(User, on_delete = cascade))]
    pub user_id: Uuid,
    #[dbpat(default = "pending")]
    pub status: OrderStatus,
    #[dbpat(money)]
    pub total: Decimal,
    #[dbpat(primary_key, created_at)]
    pub created_at: DateTime<Utc>,
}

/// Money moves between accounts; the balance can never go negative.
#[derive(Debug, Clone, Entity)]
#[dbpat(table = "accounts")]
#[dbpat(index(user_id))]
pub struct Account {
    #[dbpat(primary_key)]
    pub id: Uuid,
    #[dbpat(references(User, on_delete = restrict))]
    pub user_id: Uuid,
    #[dbpat(money, default = 0, check = "balance >= 0")]
    pub balance: Decimal,
    #[dbpat(created_at)]
    pub created_at: DateTime<Utc>,
    #[dbpat(updated_at)]
    pub updated_at: DateTime<Utc>,
}

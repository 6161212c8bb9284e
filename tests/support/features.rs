//! Models that together use every DDL feature of the derive; shared by the snapshot test and
//! the catalog test so both check the same definitions.
#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, Utc};
use dbpat::{DbEnum, Entity, Json};
use rust_decimal::Decimal;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, DbEnum, serde::Serialize, serde::Deserialize)]
#[dbpat(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    Low,
    High,
    #[dbpat(rename = "urgent!")]
    Urgent,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    pub theme: String,
}

/// Every supported column type; an i64 identity key.
#[derive(Entity)]
#[dbpat(table = "type_matrix")]
pub struct TypeMatrix {
    #[dbpat(primary_key)]
    pub id: i64,
    pub uuid_col: Uuid,
    pub small: i16,
    pub int: i32,
    pub big: i64,
    pub flag: bool,
    pub label: String,
    pub amount: Decimal,
    #[dbpat(numeric(precision = 10, scale = 2))]
    pub rate: Decimal,
    pub at: DateTime<Utc>,
    pub day: NaiveDate,
    pub ratio: f64,
    pub ratio32: f32,
    pub doc: serde_json::Value,
    pub settings: Json<Settings>,
    pub blob: Vec<u8>,
    pub tags: Vec<String>,
    pub scores: Vec<i32>,
    pub maybe_text: Option<String>,
    pub maybe_at: Option<DateTime<Utc>>,
    pub maybe_tags: Option<Vec<Uuid>>,
    pub priority: Priority,
    pub maybe_priority: Option<Priority>,
    #[dbpat(sql_type = "bigint")]
    pub explicit: i64,
}

/// Defaults, uniques, checks, renamed columns, a custom `updated_at` column name and a version.
#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[dbpat(
    table = "tenants",
    cache(
        ttl = "1h30m",
        negative_ttl = "30s",
        prefix = "tenant",
        write_through,
        hash_tag
    )
)]
#[dbpat(unique(region, slug, name = "tenants_region_slug_key"))]
#[dbpat(check = "char_length(slug) BETWEEN 3 AND 40")]
#[dbpat(check(name = "tenants_seats_le_limit", expr = "seats <= seat_limit"))]
#[dbpat(index(slug))]
#[dbpat(extension = "pgcrypto")]
pub struct Tenant {
    #[dbpat(primary_key)]
    pub id: Uuid,
    #[dbpat(unique)]
    pub slug: String,
    #[dbpat(default = "eu")]
    pub region: String,
    #[dbpat(default = 1, check = "seats > 0")]
    pub seats: i32,
    #[dbpat(default = 10)]
    pub seat_limit: i32,
    #[dbpat(default = -1)]
    pub offset_minutes: i32,
    #[dbpat(default = 0.5)]
    pub share: f64,
    #[dbpat(default = true)]
    pub active: bool,
    #[dbpat(default = "HIGH")]
    pub priority: Priority,
    #[dbpat(default_sql = "CURRENT_DATE")]
    pub since: NaiveDate,
    #[dbpat(column = "display_name", default = "it's")]
    pub title: String,
    #[dbpat(version)]
    pub version: i64,
    #[dbpat(created_at)]
    pub created_at: DateTime<Utc>,
    #[dbpat(updated_at)]
    pub modified_at: DateTime<Utc>,
}

/// Foreign keys with every ON DELETE action, a natural composite key and every index kind.
// clippy's duplicated_attributes misreads one field named in two index attributes as a
// duplicate (rust-clippy#12923); docs/models.md says so too.
#[allow(clippy::duplicated_attributes)]
#[derive(Entity)]
#[dbpat(table = "memberships")]
#[dbpat(index(tenant_id, joined_at desc))]
#[dbpat(index(tenant_id, where = "role <> 'guest'"))]
#[dbpat(index(unique, invited_by, tenant_id, name = "memberships_inviter_tenant"))]
#[dbpat(index(gin(profile)))]
#[dbpat(index(gin(labels)))]
#[dbpat(index(expr = "lower(role)"))]
#[dbpat(index(fulltext(role, note), language = "simple"))]
#[dbpat(index(tenant_id, user_ref))]
pub struct Membership {
    #[dbpat(primary_key, references(Tenant, on_delete = cascade))]
    pub tenant_id: Uuid,
    #[dbpat(primary_key, no_default)]
    pub user_ref: Uuid,
    #[dbpat(references(TypeMatrix, on_delete = set_null))]
    pub matrix_id: Option<i64>,
    #[dbpat(references(Tenant, on_delete = restrict))]
    pub billing_tenant: Uuid,
    #[dbpat(references(Tenant, on_delete = no_action))]
    pub invited_by: Option<Uuid>,
    #[dbpat(default = 0, references(TypeMatrix, on_delete = set_default))]
    pub fallback_matrix: i64,
    #[dbpat(default = "member")]
    pub role: String,
    pub note: Option<String>,
    #[dbpat(default = "{}")]
    pub profile: serde_json::Value,
    pub labels: Vec<String>,
    #[dbpat(created_at)]
    pub joined_at: DateTime<Utc>,
}

/// Monthly range partitions with an archive, and a self-reference.
#[derive(Entity)]
#[dbpat(table = "events", archive)]
#[dbpat(partition(by = happened_at, interval = month, from = "2024-11-01", count = 3))]
pub struct Event {
    #[dbpat(primary_key)]
    pub id: i64,
    #[dbpat(primary_key)]
    pub happened_at: DateTime<Utc>,
    pub kind: String,
}

/// All feature models.
pub fn tables() -> Vec<&'static dbpat::model::TableDef<'static>> {
    vec![
        &<TypeMatrix as Entity>::TABLE,
        &<Tenant as Entity>::TABLE,
        &<Membership as Entity>::TABLE,
        &<Event as Entity>::TABLE,
    ]
}

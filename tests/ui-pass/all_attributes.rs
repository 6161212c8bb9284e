//! One model using every attribute of the grammar; it must compile, and its model must say
//! what the attributes asked for.

use chrono::{DateTime, NaiveDate, Utc};
use dbpat::model::{BaseType, CacheWrite, DefaultValue, Generated, IndexKind, OnDelete, SqlType};
use dbpat::{DbEnum, Entity};
use rust_decimal::Decimal;

#[derive(Clone, DbEnum, serde::Serialize, serde::Deserialize)]
#[dbpat(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(dead_code)]
enum Tier {
    Free,
    #[dbpat(rename = "pro_plus")]
    ProPlus,
    EnterpriseGold,
}

// A cached entity derives serde and Clone (the cached value is the serialized row).
#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[allow(dead_code)]
#[dbpat(table = "customers", extension = "pg_trgm")]
#[dbpat(cache(
    ttl = "1h30m",
    negative_ttl = 30,
    prefix = "cust",
    write_through,
    hash_tag
))]
#[dbpat(index(email, where = "tier <> 'FREE'"))]
#[dbpat(index(name = "customers_recent", created_at desc, id asc))]
#[dbpat(index(unique, region, display_name))]
#[dbpat(index(gin(profile)))]
#[dbpat(index(gin(tags)))]
#[dbpat(index(gin(labels, ops = "array_ops"), name = "customers_labels_gin"))]
#[dbpat(index(expr = "(lower(email))", unique))]
#[dbpat(index(fulltext(display_name, bio), language = "simple"))]
#[dbpat(unique(region, external_ref, name = "customers_region_ref_key"))]
#[dbpat(unique(email, region))]
#[dbpat(check = "credit_limit >= 0")]
#[dbpat(check(name = "customers_born_check", expr = "born_on > '1900-01-01'"))]
struct Customer {
    #[dbpat(primary_key)]
    id: i64,
    #[dbpat(unique)]
    email: String,
    display_name: String,
    #[dbpat(default = "")]
    bio: String,
    region: String,
    #[dbpat(column = "ext_ref")]
    external_ref: String,
    #[dbpat(default = "pro_plus")]
    tier: Tier,
    profile: serde_json::Value,
    #[dbpat(default_sql = "'{}'")]
    tags: Vec<String>,
    labels: Vec<String>,
    #[dbpat(
        numeric(precision = 12, scale = 2),
        default = 0,
        check = "credit_limit <= 1000000"
    )]
    credit_limit: Decimal,
    #[dbpat(money)]
    balance: Decimal,
    #[dbpat(sql_type = "numeric(10,4)")]
    discount: Decimal,
    #[dbpat(sql_type = "text")]
    nickname: Option<String>,
    #[dbpat(default = 0.5)]
    score: f64,
    born_on: Option<NaiveDate>,
    #[dbpat(references(Self, on_delete = set_null))]
    referred_by: Option<i64>,
    #[dbpat(references(Self, on_delete = set_null, no_index))]
    merged_into: Option<i64>,
    #[dbpat(version)]
    version: i64,
    #[dbpat(created_at)]
    created_at: DateTime<Utc>,
    #[dbpat(updated_at)]
    updated_at: DateTime<Utc>,
}

fn main() {
    let t = <Customer as Entity>::TABLE;
    assert_eq!(t.name, "customers");
    assert_eq!(t.entity, "Customer");
    assert_eq!(t.primary_key, ["id"]);
    assert_eq!(t.extensions, ["pg_trgm"]);

    let id = t.column("id").unwrap();
    assert_eq!(id.sql_type, SqlType::scalar(BaseType::BigInt));
    assert_eq!(id.generated, Some(Generated::Identity));

    assert!(t.column("external_ref").is_none());
    assert_eq!(t.column("ext_ref").unwrap().field, "external_ref");

    let tier = t.column("tier").unwrap();
    assert_eq!(
        tier.enum_values,
        Some(&["FREE", "pro_plus", "ENTERPRISE_GOLD"][..])
    );
    assert_eq!(tier.default, Some(DefaultValue::Text("pro_plus")));
    assert_eq!(Tier::ProPlus.as_str(), "pro_plus");

    assert_eq!(t.column("tags").unwrap().sql_type.to_string(), "TEXT[]");
    assert_eq!(
        t.column("tags").unwrap().default,
        Some(DefaultValue::Expr("'{}'"))
    );
    assert_eq!(
        t.column("credit_limit").unwrap().sql_type.to_string(),
        "NUMERIC(12,2)"
    );
    assert_eq!(
        t.column("balance").unwrap().sql_type.to_string(),
        "NUMERIC(19,4)"
    );
    assert_eq!(
        t.column("discount").unwrap().sql_type.to_string(),
        "NUMERIC(10,4)"
    );
    assert!(t.column("nickname").unwrap().nullable);
    assert_eq!(
        t.column("score").unwrap().sql_type.to_string(),
        "DOUBLE PRECISION"
    );
    assert_eq!(t.column("born_on").unwrap().sql_type.to_string(), "DATE");

    let fk = t.column("referred_by").unwrap().references.unwrap();
    assert_eq!((fk.table, fk.column), ("customers", "id"));
    assert_eq!(fk.on_delete, OnDelete::SetNull);
    assert!(t.column("referred_by").unwrap().nullable);

    assert!(t.version_column().is_some());
    assert!(t.updated_at_column().is_some());

    let cache = t.cache.unwrap();
    assert_eq!(cache.key_prefix, "cust");
    assert_eq!((cache.ttl_secs, cache.negative_ttl_secs), (5400, 30));
    assert_eq!(cache.write, CacheWrite::WriteThrough);
    assert!(cache.hash_tag);

    // The eight declared indexes, then the foreign-key index of `referred_by` (`merged_into`
    // opted out).
    assert_eq!(t.indexes.len(), 9);
    assert_eq!(t.indexes[8].name, "idx_customers_referred_by");
    assert!(t
        .indexes
        .iter()
        .all(|i| !i.name.contains("merged_into")));
    assert!(t.indexes.iter().any(|i| i.name == "customers_recent"));
    assert!(t.indexes.iter().any(|i| i.kind
        == IndexKind::Gin {
            column: "profile",
            opclass: Some("jsonb_path_ops")
        }));
    assert!(t.indexes.iter().any(|i| matches!(
        i.kind,
        IndexKind::FullText {
            language: "simple",
            ..
        }
    )));
    assert_eq!(t.uniques.len(), 3);
    assert!(t.uniques.iter().any(|u| u.columns == ["region", "ext_ref"]));
    assert!(t.checks.iter().any(|c| c.name == "customers_born_check"));
    assert!(t.partition.is_none());
}

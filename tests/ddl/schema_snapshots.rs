//! Snapshots of the DDL the derive + renderer produce for every feature (insta).
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always cargo test --test ddl_snapshots`
//! and read the diff): a changed snapshot is a changed schema for every user.

use crate::support::features;
use crate::support::shop;

use dbpat::ddl::{render_schema, render_table_statements};
use dbpat::model::{CacheWrite, ColumnRole, TableDef};
use dbpat::Entity;

fn table_sql(table: &TableDef) -> String {
    render_table_statements(table).join("\n")
}

#[test]
fn shop_schema() {
    let sql = render_schema(&[
        &shop::User::TABLE,
        &shop::Product::TABLE,
        &shop::Order::TABLE,
        &shop::Account::TABLE,
    ])
    .unwrap();
    insta::assert_snapshot!(sql);
}

#[test]
fn every_column_type() {
    insta::assert_snapshot!(table_sql(&features::TypeMatrix::TABLE));
}

#[test]
fn defaults_uniques_checks_version_and_custom_updated_at() {
    insta::assert_snapshot!(table_sql(&features::Tenant::TABLE));
}

#[test]
fn foreign_keys_and_every_index_kind() {
    insta::assert_snapshot!(table_sql(&features::Membership::TABLE));
}

#[test]
fn monthly_partitions_and_archive() {
    insta::assert_snapshot!(table_sql(&features::Event::TABLE));
}

#[test]
fn feature_schema_orders_tables_by_foreign_keys() {
    let sql = render_schema(&features::tables()).unwrap();
    insta::assert_snapshot!(sql);
    let pos = |t: &str| sql.find(&format!("CREATE TABLE {t} (")).unwrap();
    assert!(pos("tenants") < pos("memberships"));
    assert!(pos("type_matrix") < pos("memberships"));
}

#[test]
fn rendering_is_deterministic_whatever_the_input_order() {
    let mut tables = features::tables();
    let first = render_schema(&tables).unwrap();
    tables.reverse();
    assert_eq!(first, render_schema(&tables).unwrap());
}

#[test]
fn unique_column_is_not_indexed_twice() {
    // `index(slug)` repeats the index of `#[dbpat(unique)] slug`; `index(tenant_id, user_ref)`
    // repeats the primary key's. Both stay in the model but are not emitted.
    let t = &features::Tenant::TABLE;
    assert!(t.indexes.iter().any(|i| i.name == "idx_tenants_slug"));
    assert!(!table_sql(t).contains("idx_tenants_slug"));
    let m = table_sql(&features::Membership::TABLE);
    assert!(!m.contains("idx_memberships_tenant_id_user_ref"));
    assert!(m.contains("idx_memberships_tenant_id_joined_at"));
}

#[test]
fn model_records_cache_policy_version_and_roles() {
    let t = features::Tenant::TABLE;
    let cache = t.cache.expect("tenant is cached");
    assert_eq!(cache.key_prefix, "tenant");
    assert_eq!(cache.ttl_secs, 5400);
    assert_eq!(cache.negative_ttl_secs, 30);
    assert_eq!(cache.write, CacheWrite::WriteThrough);
    assert!(cache.hash_tag);
    assert_eq!(t.version_column().unwrap().name, "version");
    assert_eq!(t.updated_at_column().unwrap().name, "modified_at");
    assert_eq!(t.column("created_at").unwrap().role, ColumnRole::CreatedAt);
    assert_eq!(t.column("display_name").unwrap().field, "title");

    let user = shop::User::TABLE.cache.expect("users are cached");
    assert_eq!(
        (user.key_prefix, user.ttl_secs, user.negative_ttl_secs),
        ("user", 900, 60)
    );
    assert_eq!(user.write, CacheWrite::Invalidate);
    assert!(shop::Order::TABLE.cache.is_none());
}

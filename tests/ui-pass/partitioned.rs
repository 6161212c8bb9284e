//! A monthly partitioned table with a composite key, a foreign key and JSONB, plus a text
//! primary key without a generated default.

use chrono::{DateTime, Utc};
use dbpat::model::{OnDelete, PartitionInterval};
use dbpat::{Entity, Json};
use uuid::Uuid;

#[derive(Entity)]
#[allow(dead_code)]
#[dbpat(table = "tenants")]
struct Tenant {
    #[dbpat(primary_key, no_default)]
    id: Uuid,
    name: String,
}

#[derive(Entity)]
#[allow(dead_code)]
#[dbpat(archive, partition(by = occurred_at, interval = month, from = "2025-01", count = 3))]
#[dbpat(index(tenant_id, occurred_at desc))]
struct AuditEvent {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(primary_key)]
    occurred_at: DateTime<Utc>,
    #[dbpat(references(Tenant, on_delete = cascade))]
    tenant_id: Uuid,
    payload: Json<serde_json::Value>,
    attempts: i16,
    ratio: f32,
    raw: Vec<u8>,
    done: bool,
}

fn main() {
    let t = <AuditEvent as Entity>::TABLE;
    assert_eq!(t.name, "audit_events");
    assert_eq!(t.primary_key, ["id", "occurred_at"]);
    assert!(t.archive);
    let p = t.partition.unwrap();
    assert_eq!(p.column, "occurred_at");
    assert_eq!(p.interval, PartitionInterval::Month);
    assert_eq!((p.first, p.count), ((2025, 1), 3));
    let fk = t.column("tenant_id").unwrap().references.unwrap();
    assert_eq!(
        (fk.table, fk.column, fk.on_delete),
        ("tenants", "id", OnDelete::Cascade)
    );
    assert_eq!(t.column("payload").unwrap().sql_type.to_string(), "JSONB");
    assert_eq!(t.column("raw").unwrap().sql_type.to_string(), "BYTEA");

    let tenants = <Tenant as Entity>::TABLE;
    assert_eq!(tenants.column("id").unwrap().default, None);
}

//! Asking the cache for the handle of an entity that has no `#[dbpat(cache(...))]` policy does
//! not compile (it is not an `Option` at run time).
use dbpat::cache::Cache;
use dbpat::Entity;
use uuid::Uuid;

#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
struct AuditEntry {
    #[dbpat(primary_key)]
    id: Uuid,
}

fn handle(cache: &Cache) {
    let _entries = cache.entity::<AuditEntry>();
}

fn main() {}

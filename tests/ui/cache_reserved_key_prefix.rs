use dbpat::Entity;
use uuid::Uuid;

// `lease:<entity>:<id>`, `writers:...`, `subkeys:...` (and `dataset:...`) are the cache's own
// keys: an entity named so would share them (`lease:user:x` = the lease of user `x`).
#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[dbpat(cache(ttl = "15m", prefix = "writers"))]
struct Session {
    #[dbpat(primary_key)]
    id: Uuid,
}

// The default prefix is the struct name in snake_case.
#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[dbpat(cache(ttl = "15m"))]
struct Lease {
    #[dbpat(primary_key)]
    id: Uuid,
}

// Not reserved: another segment.
#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[dbpat(cache(ttl = "15m", prefix = "lease_entry"))]
struct Subkeys {
    #[dbpat(primary_key)]
    id: Uuid,
}

fn main() {}

use dbpat::Entity;
use uuid::Uuid;

#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[dbpat(cache(ttl = "15 minutes", negative_ttl = "0s"))]
struct Session {
    #[dbpat(primary_key)]
    id: Uuid,
}

#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[dbpat(cache(ttl = "1h30"))]
struct Profile {
    #[dbpat(primary_key)]
    id: Uuid,
}

fn main() {}

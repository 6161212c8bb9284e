use dbpat::Entity;
use uuid::Uuid;

#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[dbpat(cache)]
struct Session {
    #[dbpat(primary_key)]
    id: Uuid,
}

#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[dbpat(cache(negative_ttl = "60s", write_through))]
struct Profile {
    #[dbpat(primary_key)]
    id: Uuid,
}

fn main() {}

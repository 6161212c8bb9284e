use dbpat::Entity;
use uuid::Uuid;

#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[dbpat(tabel = "sessions")]
#[dbpat(cache(tll = "15m"))]
#[dbpat(partition(by = created_at, intervall = month, from = "2025-01"))]
struct Session {
    #[dbpat(primary_key)]
    id: Uuid,
}

fn main() {}

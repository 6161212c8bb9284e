use dbpat::Entity;
use uuid::Uuid;

#[derive(Clone, Entity)]
#[dbpat(cache(ttl = "15m"))]
struct Session {
    #[dbpat(primary_key)]
    id: Uuid,
}

fn main() {}

use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
#[dbpat(cache)]
struct Session {
    #[dbpat(primary_key)]
    id: Uuid,
}

#[derive(Entity)]
#[dbpat(cache(negative_ttl = "60s", write_through))]
struct Profile {
    #[dbpat(primary_key)]
    id: Uuid,
}

fn main() {}

use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
#[dbpat(sharded)]
struct Session {
    #[dbpat(primary_key, encrypted)]
    id: Uuid,
    #[dbpat(nullable = true)]
    note: String,
}

fn main() {}

use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
struct Survey {
    #[dbpat(primary_key)]
    id: Uuid,
    score: Option<Option<i32>>,
}

fn main() {}

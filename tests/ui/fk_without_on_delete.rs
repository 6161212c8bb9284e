use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
struct User {
    #[dbpat(primary_key)]
    id: Uuid,
}

#[derive(Entity)]
struct Order {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(references(User))]
    user_id: Uuid,
}

fn main() {}

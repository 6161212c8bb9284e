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
    id: i64,
    #[dbpat(references(User, on_delete = cascade))]
    user_id: i64,
}

fn main() {}

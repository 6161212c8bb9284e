use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
struct Product {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(version)]
    version: String,
}

#[derive(Entity)]
struct Price {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(version)]
    version: Option<i64>,
}

fn main() {}

use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
#[dbpat(index(gin(title)))]
struct Page {
    #[dbpat(primary_key)]
    id: Uuid,
    title: String,
}

fn main() {}

use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
#[dbpat(index(fulltext(title, views)))]
struct Page {
    #[dbpat(primary_key)]
    id: Uuid,
    title: String,
    views: i64,
}

fn main() {}

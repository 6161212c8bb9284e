use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
#[dbpat(index(owner, created))]
#[dbpat(index(gin(settings)))]
#[dbpat(index(fulltext(title, summary)))]
#[dbpat(unique(owner_id, slug))]
#[dbpat(partition(by = published, interval = month, from = "2025-01"))]
struct Post {
    #[dbpat(primary_key)]
    id: Uuid,
    owner_id: Uuid,
    title: String,
}

fn main() {}

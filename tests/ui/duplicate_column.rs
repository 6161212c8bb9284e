use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
struct Person {
    #[dbpat(primary_key)]
    id: Uuid,
    name: String,
    #[dbpat(column = "name")]
    display_name: String,
}

fn main() {}

use dbpat::Entity;

#[derive(Entity)]
struct Note {
    #[dbpat(primary_key)]
    id: Option<uuid::Uuid>,
}

fn main() {}

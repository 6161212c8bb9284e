use dbpat::Entity;

#[derive(Entity)]
struct Note {
    id: uuid::Uuid,
    body: String,
}

fn main() {}

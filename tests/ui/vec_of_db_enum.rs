use dbpat::{DbEnum, Entity};
use uuid::Uuid;

#[derive(DbEnum)]
enum Color {
    Red,
    Green,
}

#[derive(Entity)]
struct Palette {
    #[dbpat(primary_key)]
    id: Uuid,
    colors: Vec<Color>,
}

fn main() {}

use dbpat::Entity;

#[derive(Entity)]
struct Ticket {
    #[dbpat(primary_key)]
    id: i32,
}

#[derive(Entity)]
struct Tag {
    #[dbpat(primary_key)]
    id: i16,
}

#[derive(Entity)]
struct Label {
    #[dbpat(primary_key, sql_type = "integer")]
    id: i64,
}

fn main() {}

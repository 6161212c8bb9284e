// A field attribute written twice, or two that set the same thing, is an error at the second.
use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
struct Account {
    #[dbpat(primary_key, primary_key)]
    id: Uuid,
    #[dbpat(default = "x", default_sql = "'y'")]
    code: String,
    #[dbpat(column = "handle", unique)]
    #[dbpat(column = "nick", unique)]
    name: String,
    #[dbpat(default = 0, default = 1)]
    level: i64,
}

fn main() {}

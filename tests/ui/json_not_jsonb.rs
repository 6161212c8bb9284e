use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
struct Document {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(sql_type = "json")]
    body: serde_json::Value,
}

fn main() {}

use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
struct Comment {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(created_at)]
    created_at: chrono::NaiveDate,
    #[dbpat(updated_at)]
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn main() {}

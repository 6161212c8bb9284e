use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
#[dbpat(index(emial))]
#[dbpat(index(user_id, created_at desc, name = "recent", wher = "deleted"))]
struct Login {
    #[dbpat(primary_key)]
    id: Uuid,
    email: String,
    user_id: Uuid,
    #[dbpat(created_at)]
    created_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}

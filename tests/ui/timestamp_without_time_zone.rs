use chrono::NaiveDateTime;
use dbpat::Entity;
use uuid::Uuid;

// Stands in for `time::PrimitiveDateTime` (the check reads the type as written).
mod time {
    pub struct PrimitiveDateTime;
}

#[derive(Entity)]
struct Event {
    #[dbpat(primary_key)]
    id: Uuid,
    happened_at: NaiveDateTime,
    seen_at: Option<time::PrimitiveDateTime>,
    #[dbpat(sql_type = "timestamp")]
    logged_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}

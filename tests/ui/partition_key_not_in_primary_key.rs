use chrono::{DateTime, Utc};
use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
#[dbpat(partition(by = created_at, interval = quarter, from = "2025-01-01", count = 2))]
struct Order {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(created_at)]
    created_at: DateTime<Utc>,
}

fn main() {}

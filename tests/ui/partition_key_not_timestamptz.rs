use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
#[dbpat(partition(by = day, interval = month, from = "2025-01-01"))]
struct Reading {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(primary_key)]
    day: chrono::NaiveDate,
}

#[derive(Entity)]
#[dbpat(partition(by = taken_at, interval = month, from = "2025-01-01"))]
struct Sample {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(primary_key)]
    taken_at: i64,
}

fn main() {}

// A foreign key refers to one column: a parent whose primary key has several columns cannot
// be referenced (nor navigated) by a single field.
use chrono::{DateTime, Utc};
use dbpat::Entity;

#[derive(Entity)]
struct Event {
    #[dbpat(primary_key)]
    id: i64,
    #[dbpat(primary_key, created_at)]
    created_at: DateTime<Utc>,
}

#[derive(Entity)]
struct Attendee {
    #[dbpat(primary_key)]
    id: i64,
    #[dbpat(references(Event, on_delete = cascade))]
    event_id: i64,
}

fn main() {}

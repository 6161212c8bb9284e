use dbpat::{DbEnum, Entity};
use uuid::Uuid;

#[derive(DbEnum)]
enum Status {
    Active,
    Inactive,
}

#[derive(Entity)]
struct Member {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(default = "enabled")]
    status: Status,
    #[dbpat(default = "actve")]
    previous: Option<Status>,
}

fn main() {}

// `crate = "..."` takes a path.
use dbpat::{DbEnum, Entity};
use uuid::Uuid;

#[derive(Entity)]
#[dbpat(crate = "not a path")]
struct Session {
    #[dbpat(primary_key)]
    id: Uuid,
}

#[derive(DbEnum)]
#[dbpat(crate = "::dbpat::")]
enum Status {
    Active,
}

fn main() {}

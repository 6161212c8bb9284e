// A child with two foreign keys to one parent has no `BelongsTo` for it: which one is meant
// must be named (`Match::HOME.children_of(&team)`), and `belonging_to` says so.
use dbpat::prelude::*;
use dbpat::Entity;

#[derive(Entity)]
struct Team {
    #[dbpat(primary_key)]
    id: i64,
}

#[derive(Entity)]
struct Match {
    #[dbpat(primary_key)]
    id: i64,
    #[dbpat(references(Team, on_delete = cascade))]
    home_id: i64,
    #[dbpat(references(Team, on_delete = cascade))]
    away_id: i64,
}

fn main() {
    let team = Team { id: 1 };
    let _ = Match::HOME.children_of(&team);
    let _ = Match::belonging_to(&team);
}

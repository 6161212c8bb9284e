use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
struct Team {
    #[dbpat(primary_key)]
    id: Uuid,
}

#[derive(Entity)]
struct Player {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(references(Team, on_delete = set_null))]
    team_id: Uuid,
}

fn main() {}

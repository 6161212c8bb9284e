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
    #[dbpat(references(Team, on_delete = cascde))]
    team_id: Uuid,
    #[dbpat(references(Team, ondelete = cascade))]
    former_team_id: Uuid,
}

fn main() {}

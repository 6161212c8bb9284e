// An upsert conflicts on a unique key of the model: `User::PKEY`, `User::EMAIL_KEY` for the
// `unique` field. A column without a unique constraint, another entity's key, or a key the
// model does not declare do not compile.
use dbpat::{Entity, Table};

#[derive(Entity)]
#[dbpat(table = "users")]
pub struct User {
    #[dbpat(primary_key)]
    pub id: uuid::Uuid,
    #[dbpat(unique)]
    pub email: String,
    pub name: String,
}

#[derive(Entity)]
#[dbpat(table = "teams")]
pub struct Team {
    #[dbpat(primary_key)]
    pub id: uuid::Uuid,
}

async fn demo(pool: &sqlx::PgPool, user: &User) {
    let _ = User::upsert(pool, user).on(User::NAME).do_nothing().await;
    let _ = User::upsert(pool, user).on(Team::PKEY).do_nothing().await;
    let _ = User::upsert(pool, user).on(User::NAME_KEY);
}

fn main() {
    let _ = demo;
}

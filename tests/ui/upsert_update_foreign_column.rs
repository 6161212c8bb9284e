// `DO UPDATE` sets columns of the upserted entity only: another entity's column, alone or in
// a tuple, does not compile.
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
    pub name: String,
}

async fn demo(pool: &sqlx::PgPool, user: &User) {
    let _ = User::upsert(pool, user).on(User::EMAIL_KEY).do_update(Team::NAME).await;
    let _ = User::upsert(pool, user)
        .on(User::EMAIL_KEY)
        .do_update((User::NAME, Team::NAME))
        .await;
}

fn main() {
    let _ = demo;
}

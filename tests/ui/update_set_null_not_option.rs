// `update().set_null(..)` exists for nullable (`Option`) columns only.
use dbpat::{Entity, Table};

#[derive(Entity)]
#[dbpat(table = "users")]
pub struct User {
    #[dbpat(primary_key)]
    pub id: uuid::Uuid,
    pub name: String,
    pub nickname: Option<String>,
}

async fn demo(pool: &sqlx::PgPool) {
    let _ = User::filter(User::NICKNAME.is_null())
        .update()
        .set_null(User::NAME)
        .execute(pool)
        .await;
}

fn main() {
    let _ = demo;
}

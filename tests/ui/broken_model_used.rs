// A model with errors still gets its impls and column constants (with bodies that never run),
// so the code that uses it adds no errors: the only errors reported are the model's own.
use dbpat::{DbEnum, Entity, Table, TableRow};
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, DbEnum, serde::Serialize, serde::Deserialize)]
#[dbpat(rename_all = "snakecase")]
enum Status {
    Active,
    Suspended,
}

#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[dbpat(tabel = "people")]
#[dbpat(cache(ttl = "15m"))]
#[dbpat(index(fulltext(bio)))]
pub struct User {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(unique, uniqe)]
    email: String,
    bio: String,
    #[dbpat(default = "active")]
    status: Status,
    #[dbpat(version)]
    version: i64,
}

// A valid model referencing a broken one: its foreign-key assertions see a one-column key of
// the right type (the misspelled `primary_key` field), so they report nothing either.
#[derive(Entity)]
pub struct Author {
    #[dbpat(primay_key)]
    id: Uuid,
    name: String,
}

#[derive(Entity)]
pub struct Post {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(references(Author, on_delete = cascade))]
    author_id: Uuid,
}

// Uses every kind of item the derives emit.
async fn uses(pool: &sqlx::PgPool) -> dbpat::query::Result<()> {
    let _: &str = User::TABLE_NAME;
    let _ = <User as Entity>::TABLE.columns.len();
    let _ = User::PRIMARY_KEY;
    let active = User::filter(User::STATUS.eq(Status::Active))
        .filter(User::search("rust"))
        .fetch_all(pool)
        .await?;
    for user in &active {
        let _: Uuid = user.key();
        let _ = user.version();
    }
    let _: Option<User> = User::find(pool, &Uuid::nil()).await?;
    let _: Option<User> = User::find_by_email(pool, "a@example.com").await?;
    let _: Option<Author> = Author::find(pool, &Uuid::nil()).await?;
    let user = User::get(pool, &Uuid::nil()).await?;
    let _: Option<User> = User::upsert(pool, &user)
        .on(User::EMAIL_KEY)
        .do_nothing()
        .await?;
    let _: Vec<User> = User::upsert_many(pool, std::slice::from_ref(&user))
        .on(User::PKEY)
        .do_update(User::BIO)
        .await?;
    let author = Author::get(pool, &Uuid::nil()).await?;
    let _: Author = Author::upsert(pool, &author)
        .on(Author::PKEY)
        .do_update_all()
        .await?;
    let _: u64 = User::filter(User::BIO.eq("x"))
        .update()
        .set(User::BIO, "y")
        .execute(pool)
        .await?;
    let _ = Author::NAME.eq("Ann");
    let _ = <Post as Entity>::TABLE;
    let _ = User::EMAIL.eq("a@example.com");
    let _: &[&str] = Status::VALUES;
    let _: &str = Status::Suspended.as_str();
    let _ = "active".parse::<Status>();
    Ok(())
}

fn main() {
    let _ = uses;
}

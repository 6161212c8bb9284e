// A struct attribute written twice is an error at the second one (not "the last one wins").
use dbpat::Entity;
use uuid::Uuid;

#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[dbpat(table = "sessions", archive)]
#[dbpat(table = "logins")]
#[dbpat(cache(ttl = "15m"), cache(ttl = "1h"))]
#[dbpat(archive, crate = "dbpat", crate = "dbpat")]
struct Session {
    #[dbpat(primary_key)]
    id: Uuid,
}

fn main() {}

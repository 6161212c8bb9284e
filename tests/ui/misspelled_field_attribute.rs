use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
struct Session {
    #[dbpat(primay_key)]
    id: Uuid,
    #[dbpat(uniqe)]
    token: String,
}

fn main() {}

use dbpat::Entity;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Entity)]
struct Setting {
    #[dbpat(primary_key)]
    id: Uuid,
    hits: u64,
    retries: Option<u32>,
    values: HashMap<u8, u8>,
    local_time: chrono::DateTime<chrono::Local>,
}

fn main() {}

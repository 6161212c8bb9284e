use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
struct Device {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(unique)]
    serial: u64,
}

fn main() {}

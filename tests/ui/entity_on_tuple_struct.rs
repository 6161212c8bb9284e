use dbpat::Entity;

#[derive(Entity)]
struct UserId(uuid::Uuid);

#[derive(Entity)]
struct Marker;

fn main() {}

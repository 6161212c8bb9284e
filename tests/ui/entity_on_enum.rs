use dbpat::Entity;

#[derive(Entity)]
enum Status {
    Active,
    Inactive,
}

fn main() {}

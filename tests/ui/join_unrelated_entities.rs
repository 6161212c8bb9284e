// A join goes along a foreign key of one of the two entities: a relation between two other
// entities does not join this one.
use dbpat::{Entity, Table};

#[derive(Entity)]
#[dbpat(table = "users")]
pub struct User {
    #[dbpat(primary_key)]
    pub id: uuid::Uuid,
    pub name: String,
}

#[derive(Entity)]
#[dbpat(table = "orders")]
pub struct Order {
    #[dbpat(primary_key)]
    pub id: uuid::Uuid,
    #[dbpat(references(User, on_delete = cascade))]
    pub user_id: uuid::Uuid,
    pub total: i64,
}

#[derive(Entity)]
#[dbpat(table = "products")]
pub struct Product {
    #[dbpat(primary_key)]
    pub id: uuid::Uuid,
    pub stock: i32,
}

#[derive(Entity)]
#[dbpat(table = "reviews")]
pub struct Review {
    #[dbpat(primary_key)]
    pub id: uuid::Uuid,
    #[dbpat(references(Product, on_delete = cascade))]
    pub product_id: uuid::Uuid,
}

fn main() {
    let _ = User::query().join(Review::PRODUCT);
}

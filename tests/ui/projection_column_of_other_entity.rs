// A projection selects columns of the query's entities only (the join's two, or the one).
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

fn main() {
    let _ = User::query().select((User::NAME, Order::TOTAL));
    let _ = User::query()
        .join(Order::USER)
        .select((User::NAME, Product::STOCK));
}

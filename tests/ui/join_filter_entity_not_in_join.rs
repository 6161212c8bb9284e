// A join reads two entities: filtering or ordering it by a column of a third does not compile.
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
    let _ = User::query()
        .left_join(Order::USER)
        .filter(Product::STOCK.gt(0));
    let _ = User::query()
        .join(Order::USER)
        .order_by(Product::STOCK.desc());
}

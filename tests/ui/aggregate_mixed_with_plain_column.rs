// Without GROUP BY, a plain column cannot stand next to aggregates, and an aggregate cannot
// be selected by `select` (use `aggregate` or `group_by`).
use dbpat::query::{count_all, sum};
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
    let _ = Order::query().aggregate((Order::USER_ID, sum(Order::TOTAL)));
    let _ = Order::query().select((Order::USER_ID, count_all()));
}

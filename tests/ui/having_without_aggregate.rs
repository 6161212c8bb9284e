// `having` takes a comparison of an aggregate, not a row filter; SUM needs a numeric column.
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
    let _ = Order::query()
        .group_by(Order::USER_ID)
        .select((Order::USER_ID, count_all()))
        .having(Order::TOTAL.gt(10));
    let _ = User::query().aggregate(sum(User::NAME));
}

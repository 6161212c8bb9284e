// A filter compares a column with a value of the column's type: a TEXT column with an integer
// does not compile.
use dbpat::Entity;

#[derive(Entity)]
#[dbpat(table = "products")]
pub struct Product {
    #[dbpat(primary_key)]
    pub id: uuid::Uuid,
    pub category: String,
    pub stock: i32,
}

fn main() {
    let _ = Product::CATEGORY.eq(5);
    let _ = Product::STOCK.gt("many");
}

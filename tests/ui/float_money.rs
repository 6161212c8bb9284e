use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
struct Invoice {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(money)]
    total: f64,
    #[dbpat(numeric(precision = 10, scale = 2))]
    tax: f32,
    #[dbpat(sql_type = "numeric(10,2)")]
    discount: f64,
}

fn main() {}

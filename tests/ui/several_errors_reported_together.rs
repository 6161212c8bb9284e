use chrono::NaiveDateTime;
use dbpat::Entity;

#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[dbpat(cache(negative_ttl = "30s"))]
#[dbpat(index(emali))]
struct Account {
    #[dbpat(primary_key)]
    id: i32,
    email: String,
    #[dbpat(money)]
    balance: f64,
    #[dbpat(sql_type = "json")]
    settings: serde_json::Value,
    #[dbpat(references(Account))]
    parent_id: Option<i64>,
    #[dbpat(uniqe)]
    handle: String,
    created: NaiveDateTime,
}

fn main() {}

// An option written twice inside an attribute's parentheses is an error at the second one, and
// so are two index kinds.
use chrono::{DateTime, Utc};
use dbpat::Entity;
use uuid::Uuid;

#[derive(Clone, Entity, serde::Serialize, serde::Deserialize)]
#[dbpat(cache(ttl = "15m", write_through, ttl = "1h"))]
#[dbpat(check(name = "tags_label_check", expr = "label <> ''", expr = "true"))]
struct Tag {
    #[dbpat(primary_key)]
    id: Uuid,
    label: String,
}

#[derive(Entity)]
#[dbpat(index(title, name = "a", name = "b"))]
#[dbpat(index(gin(tags), expr = "(lower(title))"))]
#[dbpat(partition(by = created_at, by = created_at, interval = month, from = "2025-01"))]
struct Post {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(primary_key)]
    created_at: DateTime<Utc>,
    title: String,
    tags: Vec<String>,
    #[dbpat(references(Tag, on_delete = cascade, on_delete = restrict))]
    tag_id: Uuid,
    #[dbpat(numeric(precision = 10, scale = 2, precision = 12))]
    price: rust_decimal::Decimal,
}

fn main() {}

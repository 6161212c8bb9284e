use chrono::{DateTime, Utc};
use dbpat::Entity;
use uuid::Uuid;

#[derive(Entity)]
struct User {
    #[dbpat(primary_key)]
    id: Uuid,
}

// `no_index` on a foreign key that an index of the model already starts with does nothing:
// a declared index, a `unique` field, a `unique(...)` and the primary key.
#[derive(Entity)]
#[dbpat(index(owner_id, created_at desc))]
#[dbpat(unique(buyer_id, sku))]
struct Order {
    #[dbpat(primary_key, references(User, on_delete = cascade, no_index))]
    user_id: Uuid,
    #[dbpat(primary_key, no_default)]
    id: Uuid,
    #[dbpat(references(User, on_delete = cascade, no_index))]
    owner_id: Uuid,
    #[dbpat(unique, references(User, on_delete = restrict, no_index))]
    seller_id: Uuid,
    #[dbpat(references(User, on_delete = restrict, no_index))]
    buyer_id: Uuid,
    sku: String,
    created_at: DateTime<Utc>,
}

// `no_index` is a flag of `references(...)`, written once, and spelled right.
#[derive(Entity)]
struct Comment {
    #[dbpat(primary_key)]
    id: Uuid,
    #[dbpat(references(User, on_delete = cascade, no_index = true))]
    author_id: Uuid,
    #[dbpat(references(User, on_delete = cascade, no_indx))]
    editor_id: Uuid,
    #[dbpat(references(User, on_delete = cascade, no_index, no_index))]
    reviewer_id: Uuid,
    #[dbpat(no_index)]
    body: String,
}

fn main() {}

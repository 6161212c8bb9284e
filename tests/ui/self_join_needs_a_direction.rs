// A self-referencing foreign key joins both ways: the direction must be said
// (`Employee::MANAGER.to_parent()` / `.to_children()`), and so must the side of a filter
// (`base(f)` / `joined(f)`). rustc reports the ambiguity as E0283/E0284 "type annotations
// needed", listing the two directions (`ToParent`, `ToChildren`) or sides (`Base`, `Joined`);
// on_unimplemented cannot reword an ambiguity.
use dbpat::{Entity, Table};

#[derive(Entity)]
#[dbpat(table = "employees")]
pub struct Employee {
    #[dbpat(primary_key)]
    pub id: i64,
    #[dbpat(references(Self, on_delete = set_null))]
    pub manager_id: Option<i64>,
    pub name: String,
}

fn main() {
    let _ = Employee::query().left_join(Employee::MANAGER);
    let _ = Employee::query()
        .left_join(Employee::MANAGER.to_parent())
        .filter(Employee::NAME.eq("ada"));
}

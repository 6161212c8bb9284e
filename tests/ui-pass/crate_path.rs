//! `#[dbpat(crate = "...")]`: the generated code names the facade through the given path, for
//! a crate that imports dbpat under another name (or re-exports it).

extern crate dbpat as renamed;

use renamed::{DbEnum, Entity, TableRow};

#[derive(Clone, Copy, Debug, PartialEq, DbEnum)]
#[dbpat(crate = "renamed")]
enum Status {
    Active,
    Inactive,
}

#[derive(Entity)]
#[dbpat(crate = "renamed", table = "members")]
#[allow(dead_code)]
struct Member {
    #[dbpat(primary_key)]
    id: uuid::Uuid,
    #[dbpat(unique)]
    email: String,
    #[dbpat(default = "active")]
    status: Status,
}

mod nested {
    // A path through a module works as well.
    pub mod facade {
        pub use renamed::*;
    }
}

#[derive(Entity)]
#[dbpat(crate = "crate::nested::facade")]
#[allow(dead_code)]
struct Note {
    #[dbpat(primary_key)]
    id: i64,
    body: String,
}

fn main() {
    assert_eq!(<Member as Entity>::TABLE.name, "members");
    assert_eq!(Member::EMAIL.name(), "email");
    assert_eq!(Status::VALUES, &["active", "inactive"]);
    assert_eq!(<Note as Entity>::TABLE_NAME, "notes");
    assert!(renamed::registered_tables()
        .iter()
        .any(|t| t.name == "members"));
    let _ = <Member as TableRow>::sql;
}

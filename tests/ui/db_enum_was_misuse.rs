// `was = "..."` names a value removed from the enum, mapped to one variant only.
use dbpat::DbEnum;

#[derive(DbEnum)]
enum Plan {
    #[dbpat(was = "solo")]
    Team,
    Solo,
}

#[derive(DbEnum)]
enum Tier {
    #[dbpat(was = "gold")]
    Premium,
    #[dbpat(was = "gold")]
    Basic,
}

fn main() {}

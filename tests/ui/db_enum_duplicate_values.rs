use dbpat::DbEnum;

#[derive(DbEnum)]
enum Status {
    Active,
    #[dbpat(rename = "active")]
    Enabled,
}

#[derive(DbEnum)]
#[dbpat(rename_all = "lowercase")]
enum Level {
    OnHold,
    Onhold,
}

fn main() {}

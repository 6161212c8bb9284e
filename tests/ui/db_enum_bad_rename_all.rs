use dbpat::DbEnum;

#[derive(DbEnum)]
#[dbpat(rename_all = "snakecase")]
enum Status {
    Active,
}

#[derive(DbEnum)]
#[dbpat(rename_al = "lowercase")]
enum Level {
    Low,
}

fn main() {}

// `rename_all` or `rename` written twice is an error at the second one.
use dbpat::DbEnum;

#[derive(DbEnum)]
#[dbpat(rename_all = "lowercase", rename_all = "UPPERCASE")]
enum Status {
    Active,
    #[dbpat(rename = "off", rename = "disabled")]
    Inactive,
}

fn main() {}

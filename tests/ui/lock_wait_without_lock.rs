// `skip_locked()` and `nowait()` say how a row lock waits: they exist only after a lock
// strength (`for_update()`, `for_share()`, ...), and a lock waits in one way only.
use dbpat::{Entity, Table};

#[derive(Debug, Clone, Entity)]
#[dbpat(table = "jobs")]
pub struct Job {
    #[dbpat(primary_key)]
    pub id: uuid::Uuid,
    pub status: String,
}

fn main() {
    let _ = Job::query().skip_locked();
    let _ = Job::filter(Job::STATUS.eq("pending")).nowait();
    let _ = Job::query().for_update().skip_locked().nowait();
}

//! [`Reader`]: a connection to the server chosen for one read, and which server that was.

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres};
use std::ops::{Deref, DerefMut};

/// Which server a [`Reader`] is connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Served {
    /// The primary: no replica had replayed the token within the wait, or none was usable.
    Primary,
    /// The replica at this index (in the order they were added to the set), checked to have
    /// replayed the token on this very connection.
    Replica(usize),
}

impl Served {
    /// Whether a replica serves the read.
    pub fn is_replica(self) -> bool {
        matches!(self, Served::Replica(_))
    }
}

/// A connection for reads, from [`PoolSet::reader`](super::PoolSet::reader): on a replica it
/// is the very connection that was checked to have replayed the token (a replica restarted
/// since would have broken it), so every read on it sees the write the token stands for.
/// Use it as any connection, with the table's own operations:
/// `User::find(&mut *reader, &id)`. It goes back to its pool when dropped.
#[derive(Debug)]
pub struct Reader {
    pub(super) conn: PoolConnection<Postgres>,
    pub(super) served: Served,
}

impl Reader {
    /// Which server this connection is to.
    pub fn served(&self) -> Served {
        self.served
    }

    /// Closes the connection instead of returning it to its pool (after it failed).
    pub(super) fn discard(mut self) {
        self.conn.close_on_drop();
    }
}

impl Deref for Reader {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl DerefMut for Reader {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

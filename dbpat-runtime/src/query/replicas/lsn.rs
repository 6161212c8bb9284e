//! [`Lsn`]: a position in PostgreSQL's write-ahead log, the token of a write.

use crate::error::Result;
use sqlx::PgConnection;
use std::fmt;
use std::str::FromStr;

/// A position in the primary's write-ahead log (a `pg_lsn`), used as a write's token: a read
/// made with it is served by a replica only once that replica has replayed the log up to it
/// (see [`PoolSet::reader`](super::PoolSet::reader)).
///
/// [`Lsn::ZERO`] is "no write to wait for": any healthy replica may serve the read. Tokens are
/// ordered; [`Lsn::max`] keeps the later of two (a session that wrote twice keeps the larger).
///
/// ```
/// use dbpat_runtime::query::Lsn;
/// let a: Lsn = "16/B374D848".parse().unwrap();
/// assert_eq!(a.to_string(), "16/B374D848");
/// assert_eq!(a.as_u64(), 0x16_B374_D848);
/// assert!(Lsn::ZERO < a);
/// assert!("16/".parse::<Lsn>().is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(u64);

impl Lsn {
    /// The start of the log: no write to wait for.
    pub const ZERO: Lsn = Lsn(0);

    /// The log position as a number of bytes from the start (`pg_lsn - '0/0'`).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The position `bytes` from the start of the log.
    pub fn from_u64(bytes: u64) -> Lsn {
        Lsn(bytes)
    }

    /// The primary's current WAL insert position, read on `conn`
    /// (`pg_current_wal_insert_lsn()`). Read on the session that committed a write, right
    /// after the commit, it is a token of that write (and of everything committed before it).
    /// On a server in recovery it is an error (the function is not available there).
    pub async fn current(conn: &mut PgConnection) -> Result<Lsn> {
        let bytes: i64 =
            sqlx::query_scalar("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
                .fetch_one(conn)
                .await?;
        Ok(Lsn(bytes as u64))
    }

    /// How far `conn`'s server (a replica) has replayed the log (`pg_last_wal_replay_lsn()`);
    /// `None` when the server is not in recovery (a primary, or a promoted replica).
    pub async fn replayed(conn: &mut PgConnection) -> Result<Option<Lsn>> {
        let bytes: Option<i64> =
            sqlx::query_scalar("SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint")
                .fetch_one(conn)
                .await?;
        Ok(bytes.map(|b| Lsn(b as u64)))
    }
}

impl fmt::Display for Lsn {
    /// PostgreSQL's text form: `<high 32 bits>/<low 32 bits>` in upper-case hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// The text was not a `pg_lsn` (`<hex>/<hex>`, each part at most 32 bits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a pg_lsn (like `16/B374D848`)")]
pub struct ParseLsnError(String);

impl FromStr for Lsn {
    type Err = ParseLsnError;

    /// Parses PostgreSQL's text form (`16/B374D848`).
    fn from_str(s: &str) -> std::result::Result<Lsn, ParseLsnError> {
        let bad = || ParseLsnError(s.to_owned());
        let (hi, lo) = s.split_once('/').ok_or_else(bad)?;
        let hi = u32::from_str_radix(hi, 16).map_err(|_| bad())?;
        let lo = u32::from_str_radix(lo, 16).map_err(|_| bad())?;
        Ok(Lsn((u64::from(hi) << 32) | u64::from(lo)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        for s in ["0/0", "0/16B3740", "16/B374D848", "FFFFFFFF/FFFFFFFF"] {
            assert_eq!(s.parse::<Lsn>().unwrap().to_string(), s);
        }
        assert_eq!("0/10".parse::<Lsn>().unwrap(), Lsn::from_u64(16));
        for bad in ["", "1", "x/1", "1/", "/1", "1/2/3", "100000000/0"] {
            assert!(bad.parse::<Lsn>().is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_ordered() {
        let a = Lsn::from_u64(10);
        let b = Lsn::from_u64(11);
        assert!(a < b);
        assert_eq!(a.max(b), b);
        assert_eq!(Lsn::default(), Lsn::ZERO);
    }
}

//! The patterns document's `transferFunds`: move money between two accounts in one transaction.
//!
//! Both accounts are locked first, `FOR UPDATE` in key order (`Table::find_many_for_update`):
//! two transfers in opposite directions between the same accounts then queue on the first row
//! they share, instead of each locking its own debit row and waiting for the other's (a
//! deadlock that PostgreSQL breaks by aborting one of them after `deadlock_timeout`).
//!
//! The debit is a server-side `balance = balance - $amount`; the table's
//! `CHECK (balance >= 0)` turns an overdraft into `Error::CheckViolation
//! { constraint: "accounts_balance_check" }`, the transaction rolls back and neither balance
//! changes. Serialization failures and deadlocks (none left with the ordered locks) are
//! retried by `dbpat::transaction`.

use super::models::Account;
use dbpat::{Error, Table};
use rust_decimal::Decimal;
use uuid::Uuid;

/// Moves `amount` from account `from` to account `to`; returns both accounts afterwards.
/// A missing account is `Error::NotFound` (from its patch), and nothing changes.
pub async fn transfer_funds(
    pool: &sqlx::PgPool,
    from: Uuid,
    to: Uuid,
    amount: Decimal,
) -> Result<(Account, Account), Error> {
    dbpat::transaction(pool, move |conn| {
        Box::pin(async move {
            // Lock both rows in key order before writing either.
            Account::find_many_for_update(&mut *conn, &[from, to]).await?;
            let debited = Account::patch(&from)
                .add(Account::BALANCE, -amount)
                .execute(&mut *conn)
                .await?;
            let credited = Account::patch(&to)
                .add(Account::BALANCE, amount)
                .execute(&mut *conn)
                .await?;
            Ok((debited, credited))
        })
    })
    .await
}

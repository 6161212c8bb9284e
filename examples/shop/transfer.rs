//! The patterns document's `transferFunds`: move money between two accounts in one transaction.
//!
//! The debit is a server-side `balance = balance - $amount`; the table's
//! `CHECK (balance >= 0)` turns an overdraft into `Error::CheckViolation
//! { constraint: "accounts_balance_check" }`, the transaction rolls back and neither balance
//! changes. Serialization failures and deadlocks are retried by `dbpat::transaction`.

use super::models::Account;
use dbpat::{Error, Table};
use rust_decimal::Decimal;
use uuid::Uuid;

/// Moves `amount` from account `from` to account `to`; returns both accounts afterwards.
pub async fn transfer_funds(
    pool: &sqlx::PgPool,
    from: Uuid,
    to: Uuid,
    amount: Decimal,
) -> Result<(Account, Account), Error> {
    dbpat::transaction(pool, move |conn| {
        Box::pin(async move {
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

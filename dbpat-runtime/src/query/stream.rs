//! [`RowStream`]: the rows of a built statement as a `Stream`, one decoded row at a time, on
//! sqlx's `fetch`.
//!
//! sqlx's `fetch` borrows the statement text for as long as its stream lives, and a statement
//! dbpat builds is an owned `String`. So the text and sqlx's stream live together inside one
//! boxed future (an async block may borrow its own locals), which hands each row out through a
//! one-slot [`Yielder`] and suspends until the consumer has taken it: the same technique as
//! sqlx's internal `TryAsyncStream`, in safe code. At most one decoded row is held here; the
//! driver holds what it has buffered of the socket, and PostgreSQL waits on TCP back-pressure
//! for the rest.

use super::row::TableRow;
use crate::error::{Error, Result};
use crate::telemetry::Statement;
use futures_util::future::{BoxFuture, Fuse, FusedFuture};
use futures_util::stream::{BoxStream, Stream};
use futures_util::{FutureExt, StreamExt};
use sqlx::postgres::PgArguments;
use sqlx::{Executor, Postgres};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// The rows of a query as a stream (see [`Select::stream`](super::Select::stream)): each item
/// is one decoded row, or the error that row (or the statement) failed with, classified like
/// the same error from `fetch_all`.
pub type RowStream<'e, E> = BoxStream<'e, Result<E>>;

/// The rows of `built` (a statement and its arguments, or the error building it) run on `ex`.
/// A build error is the stream's only item.
/// The statement's span ([`Statement::run`]) lasts from the first poll to the last row.
pub(crate) fn rows<'e, E, X>(
    operation: &'static str,
    built: Result<(String, PgArguments)>,
    ex: X,
) -> RowStream<'e, E>
where
    E: TableRow + 'e,
    X: Executor<'e, Database = Postgres> + 'e,
{
    Generated::new(move |out: Yielder<Result<E>>| async move {
        let (sql, args) = match built {
            Ok(built) => built,
            Err(err) => return out.send(Err(err)).await,
        };
        let statement = Statement::of::<E>(operation, "SELECT");
        let rows = sqlx::query_as_with::<_, E, _>(&sql, args).fetch(ex);
        let _ = statement.run(&sql, forward(rows, &out)).await;
    })
    .boxed()
}

/// Sends every row of `rows` to `out`; the first error ends the statement's span as failed.
async fn forward<T>(
    mut rows: impl futures_util::Stream<Item = std::result::Result<T, sqlx::Error>> + Unpin,
    out: &Yielder<Result<T>>,
) -> Result<()> {
    let mut failed = None;
    while let Some(row) = rows.next().await {
        let row = row.map_err(Error::from);
        if let (Err(err), None) = (&row, &failed) {
            failed = Some(err.clone());
        }
        out.send(row).await;
    }
    failed.map_or(Ok(()), Err)
}

/// The rows of `built` run on `ex`, each decoded by `decode` (projections, aggregates and
/// joins, whose rows are not one entity). A build error is the stream's only item.
pub(crate) fn mapped_rows<'e, T, X>(
    statement: Statement,
    built: Result<(String, PgArguments)>,
    ex: X,
    decode: fn(sqlx::postgres::PgRow) -> std::result::Result<T, sqlx::Error>,
) -> RowStream<'e, T>
where
    T: Send + Unpin + 'e,
    X: Executor<'e, Database = Postgres> + 'e,
{
    Generated::new(move |out: Yielder<Result<T>>| async move {
        let (sql, args) = match built {
            Ok(built) => built,
            Err(err) => return out.send(Err(err)).await,
        };
        let rows = sqlx::query_with(&sql, args).try_map(decode).fetch(ex);
        let _ = statement.run(&sql, forward(rows, &out)).await;
    })
    .boxed()
}

/// A stream whose items a future produces through a [`Yielder`].
struct Generated<'e, T> {
    slot: Yielder<T>,
    driver: Fuse<BoxFuture<'e, ()>>,
}

impl<'e, T: Send + 'e> Generated<'e, T> {
    fn new<F, Fut>(produce: F) -> Self
    where
        F: FnOnce(Yielder<T>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'e,
    {
        let slot = Yielder(Arc::new(Mutex::new(None)));
        let driver = produce(Yielder(slot.0.clone())).boxed().fuse();
        Generated { slot, driver }
    }
}

impl<T> Stream for Generated<'_, T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.driver.is_terminated() {
            return Poll::Ready(None);
        }
        // The driver returns Pending either because it waits on I/O (its waker is registered
        // and the slot is empty) or because it has just put an item in the slot.
        match self.driver.poll_unpin(cx) {
            Poll::Ready(()) => Poll::Ready(self.slot.take()),
            Poll::Pending => match self.slot.take() {
                Some(item) => Poll::Ready(Some(item)),
                None => Poll::Pending,
            },
        }
    }
}

/// The one-item slot between the driver and the stream. (A `Mutex` only to be `Send`: the
/// driver and the stream are polled by the same task, one after the other.)
struct Yielder<T>(Arc<Mutex<Option<T>>>);

impl<T> Yielder<T> {
    /// Puts `item` in the slot and suspends the driver once, so that the stream hands the
    /// item out before the driver produces the next one.
    async fn send(&self, item: T) {
        let previous = self.lock().replace(item);
        debug_assert!(
            previous.is_none(),
            "an item was produced before the last was taken"
        );
        let mut suspended = false;
        futures_util::future::poll_fn(|_| {
            if suspended {
                Poll::Ready(())
            } else {
                // No wake-up is needed: the stream's poll_next takes the item right away and
                // returns it, and the consumer polls again for the next one.
                suspended = true;
                Poll::Pending
            }
        })
        .await
    }

    fn take(&self) -> Option<T> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<T>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn yields_every_item_in_order_then_ends() {
        let items: Vec<u32> = Generated::new(|out| async move {
            for i in 0..5 {
                if i % 2 == 0 {
                    // A real suspension between items (the driver waits on "I/O").
                    tokio::task::yield_now().await;
                }
                out.send(i).await;
            }
        })
        .collect()
        .await;
        assert_eq!(items, vec![0, 1, 2, 3, 4]);

        let mut empty = Generated::<u32>::new(|_| async {});
        assert_eq!(empty.next().await, None);
        assert_eq!(empty.next().await, None, "stays ended");
    }
}

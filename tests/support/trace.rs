//! Capturing `tracing` events in one test while other tests run in parallel in the same process.
//!
//! A thread-local subscriber (`tracing::subscriber::set_default`) is not enough: `tracing`
//! caches each callsite's interest process-wide, and while at most one dispatcher is registered
//! that interest is computed against the default of whichever thread reaches the callsite
//! first. A sibling test with no subscriber then caches `never` for, say, sqlx's `sqlx::query`
//! event, and the capturing test sees nothing (tokio-rs/tracing#3611; it failed CI once, a
//! statement count of 0 where 2 were sent). So one process-wide subscriber, installed once, is
//! interested in every event and hands each to the sink the emitting thread registered, if any.
//! The tests run on current-thread runtimes, so every event of a test is emitted on its thread.

use std::cell::RefCell;
use std::sync::{Arc, Once};

/// Receives the events emitted on the thread that registered it.
pub trait Sink: Send + Sync {
    /// One event, on the registering thread.
    fn event(&self, event: &tracing::Event<'_>);
}

thread_local! {
    static SINK: RefCell<Option<Arc<dyn Sink>>> = const { RefCell::new(None) };
}

/// Hands the events of this thread to `sink` until the guard drops.
pub fn capture_on_this_thread(sink: Arc<dyn Sink>) -> SinkGuard {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(ToThreadSink)
            .expect("no other global tracing subscriber in the test binaries");
    });
    let previous = SINK.with(|s| s.borrow_mut().replace(sink));
    SinkGuard { previous }
}

/// Restores the thread's previous sink (usually none) when dropped.
pub struct SinkGuard {
    previous: Option<Arc<dyn Sink>>,
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        SINK.with(|s| *s.borrow_mut() = previous);
    }
}

/// The process-wide subscriber: interested in everything, so no callsite is cached as `never`.
struct ToThreadSink;

impl tracing::Subscriber for ToThreadSink {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing_core::span::Attributes<'_>) -> tracing_core::span::Id {
        tracing_core::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing_core::span::Id, _: &tracing_core::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing_core::span::Id, _: &tracing_core::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        // `try_with`: an event emitted while a thread's locals are torn down has no sink.
        let sink = SINK.try_with(|s| s.borrow().clone()).ok().flatten();
        if let Some(sink) = sink {
            sink.event(event);
        }
    }
    fn enter(&self, _: &tracing_core::span::Id) {}
    fn exit(&self, _: &tracing_core::span::Id) {}
}

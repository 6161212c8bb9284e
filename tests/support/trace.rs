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
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};

/// A span opened on a capturing thread: its id, its parent (the explicit one, or the span the
/// thread was in), its name and its fields as text.
#[derive(Debug, Clone)]
pub struct SpanData {
    pub id: u64,
    pub parent: Option<u64>,
    pub name: &'static str,
    pub fields: BTreeMap<String, String>,
}

/// Receives the events (and spans) emitted on the thread that registered it.
pub trait Sink: Send + Sync {
    /// One event, on the registering thread.
    fn event(&self, event: &tracing::Event<'_>);
    /// A new span, on the registering thread.
    fn span(&self, _span: SpanData) {}
    /// Fields recorded later into span `id` (`span.record(...)`).
    fn record(&self, _id: u64, _fields: BTreeMap<String, String>) {}
}

thread_local! {
    static SINK: RefCell<Option<Arc<dyn Sink>>> = const { RefCell::new(None) };
    /// The spans this thread is in, innermost last.
    static STACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    /// The metadata of the spans this thread opened (for `Span::current()`).
    static METADATA: RefCell<std::collections::HashMap<u64, &'static tracing::Metadata<'static>>> =
        RefCell::new(std::collections::HashMap::new());
}

fn sink() -> Option<Arc<dyn Sink>> {
    // `try_with`: an event emitted while a thread's locals are torn down has no sink.
    SINK.try_with(|s| s.borrow().clone()).ok().flatten()
}

/// The fields of a span or a record, as text.
#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
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
    fn new_span(&self, attrs: &tracing_core::span::Attributes<'_>) -> tracing_core::span::Id {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        if let Some(sink) = sink() {
            let _ = METADATA.try_with(|m| m.borrow_mut().insert(id, attrs.metadata()));
            let parent = match attrs.parent() {
                Some(parent) => Some(parent.into_u64()),
                None if attrs.is_contextual() => STACK
                    .try_with(|s| s.borrow().last().copied())
                    .ok()
                    .flatten(),
                None => None,
            };
            let mut fields = Fields::default();
            attrs.record(&mut fields);
            sink.span(SpanData {
                id,
                parent,
                name: attrs.metadata().name(),
                fields: fields.0,
            });
        }
        tracing_core::span::Id::from_u64(id)
    }
    fn record(&self, id: &tracing_core::span::Id, values: &tracing_core::span::Record<'_>) {
        if let Some(sink) = sink() {
            let mut fields = Fields::default();
            values.record(&mut fields);
            sink.record(id.into_u64(), fields.0);
        }
    }
    fn record_follows_from(&self, _: &tracing_core::span::Id, _: &tracing_core::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if let Some(sink) = sink() {
            sink.event(event);
        }
    }
    fn current_span(&self) -> tracing_core::span::Current {
        let current = STACK
            .try_with(|s| s.borrow().last().copied())
            .ok()
            .flatten()
            .and_then(|id| {
                METADATA
                    .try_with(|m| m.borrow().get(&id).copied())
                    .ok()
                    .flatten()
                    .map(|meta| (id, meta))
            });
        match current {
            Some((id, meta)) => {
                tracing_core::span::Current::new(tracing_core::span::Id::from_u64(id), meta)
            }
            None => tracing_core::span::Current::none(),
        }
    }
    fn enter(&self, id: &tracing_core::span::Id) {
        let _ = STACK.try_with(|s| s.borrow_mut().push(id.into_u64()));
    }
    fn exit(&self, id: &tracing_core::span::Id) {
        let _ = STACK.try_with(|s| {
            let mut stack = s.borrow_mut();
            if let Some(at) = stack.iter().rposition(|x| *x == id.into_u64()) {
                stack.remove(at);
            }
        });
    }
}

/// A sink that keeps every span of its thread, with the fields recorded into it later.
#[derive(Default)]
pub struct SpanLog {
    spans: std::sync::Mutex<Vec<SpanData>>,
}

impl SpanLog {
    /// The spans so far, in the order they were opened.
    pub fn spans(&self) -> Vec<SpanData> {
        self.lock().clone()
    }

    /// The spans named `name`.
    pub fn named(&self, name: &str) -> Vec<SpanData> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    /// The direct children of span `id`.
    pub fn children(&self, id: u64) -> Vec<SpanData> {
        self.spans()
            .into_iter()
            .filter(|s| s.parent == Some(id))
            .collect()
    }

    /// Forgets the spans so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SpanData>> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Sink for SpanLog {
    fn event(&self, _: &tracing::Event<'_>) {}
    fn span(&self, span: SpanData) {
        self.lock().push(span);
    }
    fn record(&self, id: u64, fields: BTreeMap<String, String>) {
        if let Some(span) = self.lock().iter_mut().find(|s| s.id == id) {
            span.fields.extend(fields);
        }
    }
}

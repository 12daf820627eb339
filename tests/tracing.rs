//! Feature `tracing`: a span per task, named through the builder, entered around each poll, and
//! events for spawn, wake, poll and cancel, seen by a hand-written subscriber.
#![cfg(feature = "tracing")]

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// What the subscriber saw.
#[derive(Default)]
struct Seen {
    /// Span id -> (span name, its fields).
    spans: HashMap<u64, (String, HashMap<String, String>)>,
    /// (message, fields, the span it was in: explicit parent or current).
    events: Vec<(String, HashMap<String, String>, Option<u64>)>,
    /// Span ids entered at least once.
    entered: Vec<u64>,
}

struct Recorder {
    next: AtomicU64,
    seen: Arc<Mutex<Seen>>,
}

thread_local! {
    static STACK: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut f = Fields(HashMap::new());
        attrs.record(&mut f);
        self.seen.lock().unwrap().spans.insert(id, (attrs.metadata().name().to_owned(), f.0));
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields(HashMap::new());
        event.record(&mut f);
        let message = f.0.remove("message").unwrap_or_default();
        let span = match event.parent() {
            Some(p) => Some(p.into_u64()),
            None => STACK.with(|s| s.borrow().last().copied()),
        };
        self.seen.lock().unwrap().events.push((message, f.0, span));
    }
    fn enter(&self, span: &Id) {
        STACK.with(|s| s.borrow_mut().push(span.into_u64()));
        self.seen.lock().unwrap().entered.push(span.into_u64());
    }
    fn exit(&self, _: &Id) {
        STACK.with(|s| s.borrow_mut().pop());
    }
}

#[test]
fn a_named_task_has_a_span_and_events() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    tracing::subscriber::set_global_default(Recorder {
        next: AtomicU64::new(0),
        seen: seen.clone(),
    })
    .unwrap();

    let rt =
        kqio::Kqueue::init(kqio::InitOptions { n_threads: Some(2), ..Default::default() }).unwrap();
    let io = rt.io();
    let task_io = io.clone();
    let sleeps = async move { task_io.sleep(kqio::time::Timeout::None).await };
    let line = std::panic::Location::caller().line() + 1;
    let h = io.task().name("conn").r#async(sleeps);
    // Once it sleeps, cancel it: the sleep ends with `Canceled`.
    let waiting = |io: &kqio::IoRef| io.task_dump().tasks.iter().any(|t| t.waiting_on.is_some());
    let start = std::time::Instant::now();
    while !waiting(&io) {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "the task never slept");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(rt.block_on(h.cancel()).is_err());
    rt.deinit();

    let seen = seen.lock().unwrap();
    let (&span, (_, fields)) = seen
        .spans
        .iter()
        .find(|(_, (name, f))| {
            name == "task" && f.get("task.name").map(String::as_str) == Some("conn")
        })
        .expect("the task's span");
    let at = fields.get("spawned_at").expect("a spawn location");
    assert!(at.starts_with(&format!("{}:{line}:", file!())), "{at}");
    assert!(seen.entered.contains(&span), "the span is entered around polls");
    let in_span = |msg: &str| seen.events.iter().any(|(m, _, s)| m == msg && *s == Some(span));
    for msg in ["spawn", "poll", "wake", "cancel"] {
        assert!(in_span(msg), "no {msg:?} event in the task's span: {:?}", seen.events);
    }
}

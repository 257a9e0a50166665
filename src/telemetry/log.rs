//! How log lines are written. Text lines to a file or a pipe use [`plain_fields`]: the fields
//! exactly as tracing-subscriber's default writes them without colours (`name=value`, the
//! message bare, one space between), without its styling machinery, which costs as much as the
//! rest of the line even when it adds no escape codes (callgrind, BENCHMARKS step 9).

use std::fmt;

use tracing::Metadata;
use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// Events only, decided once per call site: the log layer's filter (spans are for the OTLP
/// exporter, which has no such filter and still gets them), and, without an exporter, the
/// subscriber's own, so that a span is not made at all.
pub fn events_only() -> FilterFn<fn(&Metadata<'_>) -> bool> {
    fn is_event(m: &Metadata<'_>) -> bool {
        m.is_event()
    }
    tracing_subscriber::filter::filter_fn(is_event)
}

/// The field formatter of plain (uncoloured) text lines.
pub fn plain_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    tracing_subscriber::fmt::format::debug_fn(
        |w: &mut Writer<'_>, field: &tracing::field::Field, value: &dyn fmt::Debug| match field
            .name()
        {
            "message" => write!(w, "{value:?}"),
            name => write!(w, "{}={value:?}", name.strip_prefix("r#").unwrap_or(name)),
        },
    )
    .delimited(" ")
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// The lines a subscriber writes for a span with fields and events inside it.
    fn lines(plain: bool) -> String {
        let out = Buffer::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .without_time()
            .with_writer(out.clone());
        let subscriber = tracing_subscriber::registry();
        let emit = || {
            let span = tracing::info_span!("request", trace_id = %"4bf92f35", n = 3_u64);
            let _in = span.enter();
            tracing::info!(
                target: "ordergate::access",
                request_id = %"r-1",
                route = "/v1/orders/{id}",
                status = 201_u16,
                code = "",
                duration_ms = 0.25_f64,
                ok = true,
                neg = -4_i64,
                quoted = "a \"b\"\n",
                "request"
            );
            tracing::warn!(reason = ?Some("x"), "a {} message", "formatted");
            tracing::info!(r#type = "raw");
        };
        if plain {
            tracing::subscriber::with_default(
                subscriber.with(layer.fmt_fields(plain_fields())),
                emit,
            );
        } else {
            tracing::subscriber::with_default(subscriber.with(layer), emit);
        }
        let text = out.0.lock().expect("buffer").clone();
        String::from_utf8(text).expect("UTF-8")
    }

    /// Counts the spans a layer is given.
    struct Spans(Arc<Mutex<usize>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Spans {
        fn on_new_span(
            &self,
            _: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if let Ok(mut n) = self.0.lock() {
                *n += 1;
            }
        }
    }

    fn access_line_in_a_span() {
        let span = tracing::info_span!("request", trace_id = %"4bf92f35");
        let _in = span.enter();
        tracing::info!(target: "ordergate::access", request_id = %"r-1", "request");
    }

    #[test]
    fn log_lines_are_events_and_spans_still_reach_an_exporter() {
        use tracing_subscriber::Layer as _;
        let out = Buffer::default();
        let log = || {
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .without_time()
                .with_writer(out.clone())
                .with_filter(events_only())
        };
        // The log alone (as `serve` sets it up without an exporter): the line without the
        // span's fields, and no span made.
        let spans = Arc::new(Mutex::new(0));
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new("info"))
            .with(log())
            .with(events_only());
        tracing::subscriber::with_default(subscriber, || {
            access_line_in_a_span();
            assert!(tracing::info_span!("upstream").is_disabled());
        });
        let text = String::from_utf8(out.0.lock().expect("buffer").clone()).expect("UTF-8");
        assert!(text.contains("request_id=r-1"), "{text}");
        assert!(!text.contains("trace_id"), "{text}");
        // With an exporter beside it (as `--otlp-endpoint` adds one), the exporter gets the span.
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new("info"))
            .with(log())
            .with(Spans(spans.clone()));
        tracing::subscriber::with_default(subscriber, || {
            access_line_in_a_span();
            assert!(!tracing::info_span!("upstream").is_disabled());
        });
        assert_eq!(*spans.lock().expect("count"), 2);
        let text = String::from_utf8(out.0.lock().expect("buffer").clone()).expect("UTF-8");
        assert_eq!(text.matches("request_id=r-1").count(), 2, "{text}");
        assert!(!text.contains("trace_id"), "{text}");
    }

    #[test]
    fn plain_lines_are_the_default_lines_without_colour() {
        let default = lines(false);
        assert!(default.contains("route=\"/v1/orders/{id}\""), "{default}");
        assert_eq!(lines(true), default);
    }
}

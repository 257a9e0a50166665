//! How log lines are written. Text lines to a file or a pipe use [`plain_fields`]: the fields
//! exactly as tracing-subscriber's default writes them without colours (`name=value`, the
//! message bare, one space between), without its styling machinery, which costs as much as the
//! rest of the line even when it adds no escape codes (callgrind, BENCHMARKS step 9).

use std::cell::Cell;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::Metadata;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

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
pub fn plain_fields() -> PlainFields {
    PlainFields
}

/// Writes fields as tracing-subscriber's default does without colours: `name=value` (`value`
/// by its `Debug`), the message bare, one space between. A text field that `Debug` would write
/// unchanged between quotes (printable ASCII without `"` or `\`: route, operation, code) is
/// written so directly, without the formatting machinery (the access line's cost, callgrind).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'w> MakeVisitor<Writer<'w>> for PlainFields {
    type Visitor = PlainVisitor<'w>;

    fn make_visitor(&self, writer: Writer<'w>) -> PlainVisitor<'w> {
        PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        }
    }
}

pub struct PlainVisitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Writes the separator and, unless the field is the message, `name=`.
    fn start(&mut self, field: &Field) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        match field.name() {
            "message" => Ok(()),
            name => {
                self.writer
                    .write_str(name.strip_prefix("r#").unwrap_or(name))?;
                self.writer.write_char('=')
            }
        }
    }
}

/// Whether `Debug` writes `text` as itself between quotes.
fn debug_is_plain(text: &str) -> bool {
    text.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        if !debug_is_plain(value) {
            return self.record_debug(field, &value);
        }
        self.result = self.start(field).and_then(|()| {
            self.writer.write_char('"')?;
            self.writer.write_str(value)?;
            self.writer.write_char('"')
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.result = self
            .start(field)
            .and_then(|()| write!(self.writer, "{value:?}"));
    }
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for PlainVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// The time at the start of each line, as tracing-subscriber's default timer writes it (RFC 3339
/// in UTC with microseconds: `2026-12-06T23:40:55.676450Z`), with the date and the time of day
/// worked out once a second on each thread instead of for every line (the default's calendar
/// and its eight formatted numbers were ~2,000 instructions of each access line, callgrind).
#[derive(Debug, Clone, Copy, Default)]
pub struct LineTime;

impl FormatTime for LineTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let text = stamp(now);
        w.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

/// The timestamp's text: `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`, 27 ASCII bytes.
type Stamp = [u8; 27];

thread_local! {
    /// The last second stamped on this thread, and its stamp.
    static LAST: Cell<(u64, Stamp)> = const { Cell::new((u64::MAX, [0; 27])) };
}

/// The stamp of `since_epoch`: the whole second's text from the cache (made when the second
/// changes), then the microseconds written into it.
fn stamp(since_epoch: Duration) -> Stamp {
    LAST.with(|last| {
        let (second, mut text) = last.get();
        if second != since_epoch.as_secs() {
            text = whole_second(since_epoch.as_secs());
            last.set((since_epoch.as_secs(), text));
        }
        let mut micros = since_epoch.subsec_micros();
        for digit in text[20..26].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        text
    })
}

/// The stamp of a whole second, by jiff's calendar (its display of a whole second in UTC is
/// `YYYY-MM-DDTHH:MM:SSZ`); a second past jiff's range (year 9999) stamps as the epoch.
fn whole_second(second: u64) -> Stamp {
    let mut text = *b"1970-01-01T00:00:00.000000Z";
    let shown = i64::try_from(second)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.to_string());
    if let Some(shown) = shown.filter(|s| s.len() == 20) {
        text[..19].copy_from_slice(&shown.as_bytes()[..19]);
    }
    text
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
                wide = "é ж\u{200b}\t'x'\\",
                empty = "",
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

    /// The cached stamp is what a calendar gives for the same instant: within a second, across
    /// seconds, back to an earlier one, at the epoch and a leap day.
    #[test]
    fn line_stamps_are_rfc3339_microseconds_in_utc() {
        let instants = [
            Duration::new(1_765_063_255, 676_450_123),
            Duration::new(1_765_063_255, 999_999_999),
            Duration::new(1_765_063_256, 0),
            Duration::new(1_765_063_255, 1_000),
            Duration::new(0, 5_000),
            Duration::new(951_782_400, 42_000), // 2000-02-29
            Duration::new(4_102_444_799, 999_999_000),
        ];
        for at in instants {
            let expected = chrono::DateTime::from_timestamp(
                i64::try_from(at.as_secs()).expect("in range"),
                at.subsec_nanos(),
            )
            .expect("in range")
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
            let text = stamp(at);
            assert_eq!(
                std::str::from_utf8(&text).expect("ASCII"),
                expected,
                "{at:?}"
            );
        }
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
    fn plain_texts_are_those_debug_writes_unchanged() {
        let alphabet = [
            'a', ' ', '~', '"', '\\', '\'', '\n', '\u{7f}', 'é', '\u{200b}', '{',
        ];
        for text in crate::value::every_text(&alphabet, 3) {
            // Never wrong; exact on ASCII (other texts take `Debug` itself).
            let unchanged = format!("{text:?}") == format!("\"{text}\"");
            assert!(!debug_is_plain(&text) || unchanged, "{text:?}");
            if text.is_ascii() {
                assert_eq!(debug_is_plain(&text), unchanged, "{text:?}");
            }
        }
    }

    #[test]
    fn plain_lines_are_the_default_lines_without_colour() {
        let default = lines(false);
        assert!(default.contains("route=\"/v1/orders/{id}\""), "{default}");
        assert_eq!(lines(true), default);
    }
}

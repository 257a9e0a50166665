//! How log lines are written. Text lines to a file or a pipe use [`plain_fields`]: the fields
//! exactly as tracing-subscriber's default writes them without colours (`name=value`, the
//! message bare, one space between), without its styling machinery, which costs as much as the
//! rest of the line even when it adds no escape codes (callgrind, BENCHMARKS step 9).

use std::fmt;

use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

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

    #[test]
    fn plain_lines_are_the_default_lines_without_colour() {
        let default = lines(false);
        assert!(default.contains("route=\"/v1/orders/{id}\""), "{default}");
        assert_eq!(lines(true), default);
    }
}

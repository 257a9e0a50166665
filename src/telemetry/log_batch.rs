//! Log lines written to stderr in batches by the runtime's threads.
//!
//! Each line used to be its own `write` to stderr: one system call per request for the access
//! line, which costs the kernel more than the line costs to format when stderr is a file or a
//! pipe (BENCHMARKS.md, step 25). A thread that runs the runtime's scheduler now gathers its
//! lines and writes them with one `write`:
//! - when it goes idle (tokio's `on_thread_park`: nothing left to run), so a line waits no
//!   longer than the work in hand when it was written;
//! - when it holds [`LIMIT`] bytes, or a line comes [`MAX_WAIT`] after the oldest one held, so
//!   a thread kept busy does not sit on its lines;
//! - when the thread stops (`on_thread_stop`), and when the gateway's main thread leaves the
//!   runtime ([`stop_on_this_thread`], before the binary prints its last error);
//! - when it panics, before the panic's message ([`flush_before_panics`]).
//!
//! A thread batches from its first park on: the scheduler's threads park, the blocking pool's
//! and any other thread never do, and write each line as it comes. Lines are whole (the log
//! layer writes each with one `write_all`), so a batch never splits one. What a `SIGKILL` takes
//! is the lines of the work in hand; a clean stop writes them all.

use std::cell::RefCell;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// A thread's lines are written once they reach this many bytes.
pub const LIMIT: usize = 16 * 1024;
/// ... or once a line comes this long after the oldest line held.
pub const MAX_WAIT: Duration = Duration::from_millis(50);

/// The lines a thread holds, and since when.
struct Held {
    lines: Vec<u8>,
    since: Option<Instant>,
}

impl Held {
    fn write_out(&mut self) {
        if !self.lines.is_empty() {
            // Where a line cannot be written there is nowhere to say so: it is dropped, as an
            // unbatched line's failed write would be.
            let _ = destination().write_all(&self.lines);
            self.lines.clear();
        }
        self.since = None;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.write_out();
    }
}

/// Where batches go: stderr (in unit tests, nowhere: they count bytes, not print them).
fn destination() -> impl Write {
    #[cfg(not(test))]
    return io::stderr().lock();
    #[cfg(test)]
    return io::sink();
}

thread_local! {
    /// `None` until the thread first parks: until then it writes each line as it comes.
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's batch state; `None` when it cannot be reached (the thread is
/// ending, or the state is in use further up this thread's stack).
fn with_held<R>(f: impl FnOnce(&mut Option<Held>) -> R) -> Option<R> {
    HELD.try_with(|held| held.try_borrow_mut().ok().map(|mut held| f(&mut held)))
        .ok()
        .flatten()
}

/// Writes `line` to stderr, or holds it when this thread batches. False when not held.
fn hold(line: &[u8]) -> bool {
    with_held(|held| {
        let Some(held) = held.as_mut() else {
            return false;
        };
        let now = Instant::now();
        let since = *held.since.get_or_insert(now);
        held.lines.extend_from_slice(line);
        if held.lines.len() >= LIMIT || now.duration_since(since) >= MAX_WAIT {
            held.write_out();
        }
        true
    })
    .unwrap_or(false)
}

/// The runtime's `on_thread_park` hook: writes what this thread holds, and from now on has it
/// batch its lines.
pub fn on_park() {
    with_held(|held| match held.as_mut() {
        Some(held) => held.write_out(),
        None => {
            *held = Some(Held {
                lines: Vec::with_capacity(LIMIT),
                since: None,
            });
        }
    });
}

/// Writes what this thread holds (the runtime's `on_thread_stop` hook).
pub fn flush_this_thread() {
    with_held(|held| held.as_mut().map(Held::write_out));
}

/// Writes what this thread holds and has it write each line as it comes again: for the thread
/// that ran the runtime, once it has left it.
pub fn stop_on_this_thread() {
    // Dropping the held lines writes them.
    with_held(|held| *held = None);
}

/// Has a panicking thread write what it holds before the panic's message (the hook already
/// set runs after): the lines that led to a panic come before it. Once per process.
pub fn flush_before_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let earlier = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            flush_this_thread();
            earlier(info);
        }));
    });
}

/// Whether this thread batches its lines (it has parked as one of the runtime's threads).
pub fn batching() -> bool {
    with_held(|held| held.is_some()).unwrap_or(false)
}

/// The log layer's writer: stderr, through the thread's batch when it has one.
#[derive(Clone, Copy, Debug, Default)]
pub struct BatchedStderr;

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter
    }
}

/// Writes one line (or part of one) as [`BatchedStderr`] says.
#[derive(Debug)]
pub struct LineWriter;

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if hold(buf) {
            return Ok(buf.len());
        }
        io::stderr().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if hold(buf) {
            return Ok(());
        }
        io::stderr().write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_bytes() -> Option<usize> {
        HELD.with(|h| h.borrow().as_ref().map(|h| h.lines.len()))
    }

    #[test]
    fn a_thread_batches_from_its_first_park_and_writes_out_at_the_next() {
        std::thread::spawn(|| {
            // Not parked yet: the line goes straight out.
            assert!(!hold(b"first\n"));
            assert_eq!(held_bytes(), None);
            on_park();
            assert!(hold(b"second\n"));
            assert!(hold(b"third\n"));
            assert_eq!(held_bytes(), Some(13));
            on_park();
            assert_eq!(held_bytes(), Some(0));
            assert!(hold(b"fourth\n"));
            flush_this_thread();
            assert_eq!(held_bytes(), Some(0));
            stop_on_this_thread();
            assert_eq!(held_bytes(), None);
            assert!(!hold(b"fifth\n"));
        })
        .join()
        .expect("the thread runs");
    }

    #[test]
    fn a_full_batch_is_written_at_once() {
        std::thread::spawn(|| {
            on_park();
            let line = [b'x'; 1024];
            for _ in 0..(LIMIT / line.len()) - 1 {
                assert!(hold(&line));
            }
            assert!(held_bytes().is_some_and(|n| n > 0 && n < LIMIT));
            assert!(hold(&line));
            assert_eq!(held_bytes(), Some(0));
        })
        .join()
        .expect("the thread runs");
    }

    #[test]
    fn a_panicking_thread_writes_its_lines_first() {
        flush_before_panics();
        let held_after = std::thread::spawn(|| {
            on_park();
            assert!(hold(b"before the panic\n"));
            let _ = std::panic::catch_unwind(|| panic!("on purpose"));
            held_bytes()
        })
        .join()
        .expect("the thread runs");
        assert_eq!(held_after, Some(0));
    }

    #[test]
    fn a_line_coming_late_writes_the_batch_out() {
        std::thread::spawn(|| {
            on_park();
            assert!(hold(b"early\n"));
            assert_eq!(held_bytes(), Some(6));
            std::thread::sleep(MAX_WAIT + Duration::from_millis(5));
            assert!(hold(b"late\n"));
            assert_eq!(held_bytes(), Some(0));
        })
        .join()
        .expect("the thread runs");
    }
}

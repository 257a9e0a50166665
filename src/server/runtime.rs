//! The async runtime everything runs on, sized to the CPUs the process may use.
//!
//! One CPU (a sidecar with a one-core limit, a process pinned with `taskset`): tokio's
//! current-thread scheduler, where the listener, every connection and the upstream client run
//! on the thread that polls the sockets. More: the multi-thread scheduler with one worker per
//! CPU. On one core a multi-thread scheduler only adds cost: its worker is a second thread
//! beside the one that started it, and handing tasks and wake-ups between threads costs
//! atomics and time in the kernel's wake-ups. BENCHMARKS.md (step 24) measured the
//! current-thread scheduler at 0.81-0.86x the CPU per create of the multi-thread one on one
//! core (profile-guided builds; 0.79x for a plain release build).

use std::num::NonZeroUsize;

use tokio::runtime::{Builder, Runtime};

/// How many threads poll for work, and with which of tokio's schedulers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workers {
    /// The current-thread scheduler: one thread does everything.
    One,
    /// The multi-thread scheduler with this many workers (2 or more).
    Many(usize),
}

impl Workers {
    /// `requested` (the `--workers` option), else one per CPU this process may run on
    /// (its affinity mask and, in a container, its cgroup's CPU quota, as
    /// `std::thread::available_parallelism` reads them); 1 when that cannot be read.
    pub fn choose(requested: Option<NonZeroUsize>) -> Workers {
        let n = requested
            .or_else(|| std::thread::available_parallelism().ok())
            .map_or(1, NonZeroUsize::get);
        if n == 1 {
            Workers::One
        } else {
            Workers::Many(n)
        }
    }

    pub fn count(self) -> usize {
        match self {
            Workers::One => 1,
            Workers::Many(n) => n,
        }
    }
}

/// Builds the runtime (timers and I/O enabled). Blocking work (`spawn_blocking`: reloading
/// mappings, the disk idempotency store) has its own pool under either scheduler.
pub fn build(workers: Workers) -> std::io::Result<Runtime> {
    let mut builder = match workers {
        Workers::One => Builder::new_current_thread(),
        Workers::Many(n) => {
            let mut b = Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    // Log lines: gathered by each scheduler thread, written when it goes idle or stops
    // (`telemetry::log_batch`).
    builder
        .on_thread_park(crate::telemetry::log_batch::on_park)
        .on_thread_stop(crate::telemetry::log_batch::flush_this_thread)
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requested_count_is_kept_and_one_means_the_current_thread_scheduler() {
        assert_eq!(Workers::choose(NonZeroUsize::new(1)), Workers::One);
        assert_eq!(Workers::choose(NonZeroUsize::new(3)), Workers::Many(3));
        assert_eq!(Workers::choose(NonZeroUsize::new(3)).count(), 3);
    }

    #[test]
    fn with_no_request_the_count_follows_the_cpus_this_process_may_use() {
        let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(Workers::choose(None).count(), cpus);
    }

    #[test]
    fn the_scheduler_threads_batch_their_log_lines_once_parked_and_the_blocking_pool_does_not() {
        use crate::telemetry::log_batch;
        for workers in [Workers::One, Workers::Many(2)] {
            // The current-thread scheduler runs on the thread that calls `block_on`: this
            // test's own, fresh for each scheduler.
            let (task, blocking) = std::thread::spawn(move || {
                let runtime = build(workers).expect("a runtime");
                let got = runtime.block_on(async {
                    let task = tokio::spawn(async {
                        // Nothing to run while the timer runs: the thread parks.
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        log_batch::batching()
                    });
                    let blocking = tokio::task::spawn_blocking(log_batch::batching);
                    (task.await.unwrap_or(false), blocking.await.unwrap_or(true))
                });
                log_batch::stop_on_this_thread();
                got
            })
            .join()
            .expect("the thread runs");
            assert!(
                task,
                "{workers:?}: a scheduler thread batches after its first park"
            );
            assert!(
                !blocking,
                "{workers:?}: a blocking-pool thread writes each line"
            );
        }
    }

    #[test]
    fn both_schedulers_run_spawned_tasks_timers_and_blocking_work() {
        for workers in [Workers::One, Workers::Many(2)] {
            let runtime = build(workers).expect("a runtime");
            let got = runtime.block_on(async {
                let task = tokio::spawn(async {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    20
                });
                let blocking = tokio::task::spawn_blocking(|| 22);
                task.await.unwrap_or(0) + blocking.await.unwrap_or(0)
            });
            assert_eq!(got, 42, "{workers:?}");
        }
    }
}

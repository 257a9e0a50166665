//! Hot reload: on a file change (notify), `SIGHUP`, or `POST /admin/reload`, the config and its
//! mappings are read, compiled and validated, and the mappings' golden fixtures are run; only a
//! fully valid generation is swapped in. An invalid one is refused with its `file:line`
//! reasons and the old one keeps serving. Requests in flight finish on the generation they
//! started with (they hold it).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::json;
use crate::value::Value;
use tokio::sync::Mutex;

use crate::config::{self, Snapshot};
use crate::server::State;
use crate::telemetry::metrics::metrics;

pub struct Reloader {
    /// None: the embedded default, which has nothing to reload.
    config_path: Option<PathBuf>,
    state: Arc<State>,
    /// One reload at a time.
    lock: Mutex<()>,
}

impl Reloader {
    pub fn new(config_path: Option<PathBuf>, state: Arc<State>) -> Arc<Self> {
        Arc::new(Reloader {
            config_path,
            state,
            lock: Mutex::new(()),
        })
    }

    /// Loads, validates and tests a new generation, and swaps it in. The answer says what
    /// happened, in JSON for the admin API.
    pub async fn reload(&self, trigger: &str) -> Result<Value, Vec<String>> {
        let _guard = self.lock.lock().await;
        let Some(path) = self.config_path.clone() else {
            return Err(vec![
                "the embedded default configuration cannot be reloaded; start with --config".into(),
            ]);
        };
        let result = candidate(&path).await;
        let m = metrics();
        match result {
            Ok(next) => {
                let current = self.state.snapshot.load();
                if next.hash == current.hash {
                    m.reloads.with_label_values(&["success"]).inc();
                    return Ok(
                        json!({"changed": false, "hash": next.hash, "generation": self.state.generation()}),
                    );
                }
                let hash = next.hash.clone();
                crate::telemetry::metrics::register_connections(
                    next.connections.keys().map(String::as_str),
                );
                let generation = self.state.swap(next);
                m.reloads.with_label_values(&["success"]).inc();
                tracing::info!(trigger, generation, hash = %hash, "configuration reloaded");
                Ok(json!({"changed": true, "hash": hash, "generation": generation}))
            }
            Err(errors) => {
                m.reloads.with_label_values(&["failure"]).inc();
                for e in &errors {
                    tracing::error!(trigger, reason = %e, "configuration refused; the previous one keeps serving");
                }
                Err(errors)
            }
        }
    }

    /// Reloads on `SIGHUP` and when a watched file changes, until the process ends.
    pub fn spawn_triggers(self: &Arc<Self>) {
        let Some(path) = self.config_path.clone() else {
            return;
        };
        #[cfg(unix)]
        {
            let me = self.clone();
            tokio::spawn(async move {
                let Ok(mut hup) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                else {
                    return;
                };
                while hup.recv().await.is_some() {
                    let _ = me.reload("SIGHUP").await;
                }
            });
        }
        // The folders are watched before this returns (before the gateway says it listens): a
        // change made right after the start is seen.
        let watched = watched_paths(&path, &self.state.snapshot.load());
        if let Some((watcher, changes)) = watch(&watched) {
            let me = self.clone();
            tokio::spawn(async move { me.reload_on_changes(watcher, changes).await });
        }
    }

    /// Reloads once a burst of file changes has settled, for as long as `watcher` lives.
    async fn reload_on_changes(
        self: Arc<Self>,
        watcher: notify::RecommendedWatcher,
        mut changes: tokio::sync::mpsc::UnboundedReceiver<()>,
    ) {
        while changes.recv().await.is_some() {
            // Let a burst of writes settle, then reload once.
            tokio::time::sleep(Duration::from_millis(150)).await;
            while changes.try_recv().is_ok() {}
            let _ = self.reload("file change").await;
        }
        drop(watcher);
    }
}

/// Watches the folders of `paths`; the receiver gets one message a change. `None` (logged) when
/// the platform cannot watch.
fn watch(
    paths: &[PathBuf],
) -> Option<(
    notify::RecommendedWatcher,
    tokio::sync::mpsc::UnboundedReceiver<()>,
)> {
    use notify::Watcher as _;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = match notify::recommended_watcher(
        move |event: notify::Result<notify::Event>| {
            if let Ok(e) = event
                && !matches!(e.kind, notify::EventKind::Access(_))
            {
                let _ = tx.send(());
            }
        },
    ) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the configuration files; reload with SIGHUP or POST /admin/reload");
            return None;
        }
    };
    // Folders are watched, not files: editors and Kubernetes replace files (rename, symlink swap).
    let mut dirs: Vec<PathBuf> = paths
        .iter()
        .map(|p| {
            if p.is_dir() {
                p.clone()
            } else {
                p.parent().map(Path::to_path_buf).unwrap_or_default()
            }
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        let dir = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d.as_path()
        };
        if let Err(e) = watcher.watch(dir, notify::RecursiveMode::Recursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch a configuration folder");
        }
    }
    Some((watcher, rx))
}

/// The config file and the mapping folders it names.
fn watched_paths(config: &Path, snapshot: &Snapshot) -> Vec<PathBuf> {
    let mut out = vec![config.to_path_buf()];
    out.extend(snapshot.mapping_paths.iter().cloned());
    out
}

/// A complete new generation, or every reason it is refused.
async fn candidate(path: &Path) -> Result<Snapshot, Vec<String>> {
    let path = path.to_path_buf();
    let snapshot = tokio::task::spawn_blocking(move || config::load(Some(&path)))
        .await
        .map_err(|e| vec![format!("reload task failed: {e}")])??;
    let results = crate::golden::run_paths(&snapshot.mapping_paths).await?;
    let failures: Vec<String> = results
        .iter()
        .filter(|r| !r.failures.is_empty())
        .map(|r| {
            format!(
                "{}: golden fixture `{}` fails: {}",
                r.file,
                r.name,
                r.failures.join("; ")
            )
        })
        .collect();
    if failures.is_empty() {
        Ok(snapshot)
    } else {
        Err(failures)
    }
}

//! Reload triggers: file changes and SIGHUP.
//!
//! The gateway reloads when its configuration, schemas or mappings change. [`watch`] turns
//! file-system events into calls of a callback, coalescing the bursts an editor or a
//! deployment produces (write, rename, chmod, several files) into one call per quiet period;
//! [`on_sighup`] does the same for `kill -HUP`. Neither reloads anything itself: the
//! callback does (usually by waking the task that owns the configuration), so both triggers
//! share one reload path.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::event::EventKind;
use notify::{Event, RecursiveMode, Watcher as _};

/// Longest a burst of changes can postpone the callback: a process rewriting files without
/// pause (a log written into a watched folder by mistake) must not stop reloads forever.
pub const MAX_COALESCE: Duration = Duration::from_secs(10);

enum Msg {
    Event(notify::Result<Event>),
    Stop,
}

/// A path being watched: a directory (everything below it) or a single file.
#[derive(Debug, Clone)]
enum Target {
    Dir(PathBuf),
    File(PathBuf),
}

impl Target {
    fn covers(&self, path: &Path) -> bool {
        match self {
            Target::Dir(d) => path.starts_with(d),
            Target::File(f) => path == f,
        }
    }
}

/// Keeps a [`watch`] running; dropping it stops the watcher and its thread.
pub struct WatchHandle {
    stop: mpsc::Sender<Msg>,
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for WatchHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHandle").finish_non_exhaustive()
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        // The thread may already be gone (it never is while the handle lives, but a send
        // error is harmless either way).
        let _ = self.stop.send(Msg::Stop);
    }
}

/// Watches `paths` and calls `on_change` once per burst of changes: after the first change,
/// once `debounce` has passed with no further change (or [`MAX_COALESCE`] after the first).
///
/// A directory is watched recursively. A file is watched through its parent directory, so
/// that editors and deployment tools that replace the file by renaming a new one over it
/// are seen too; other files in that directory are ignored. Paths must exist. Read access
/// (opening, reading) is not a change, so the reload reading the files does not trigger
/// another one.
///
/// `on_change` runs on the watcher's own thread: keep it short (send on a channel, notify a
/// task).
pub fn watch(
    paths: Vec<PathBuf>,
    debounce: Duration,
    on_change: impl Fn() + Send + Sync + 'static,
) -> Result<WatchHandle, notify::Error> {
    let (tx, rx) = mpsc::channel::<Msg>();
    let events = tx.clone();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<Event>| {
        // The receiving thread stops only after the handle (and so this watcher) is dropped.
        let _ = events.send(Msg::Event(ev));
    })?;

    let mut targets = Vec::with_capacity(paths.len());
    for path in &paths {
        let meta =
            std::fs::metadata(path).map_err(|e| notify::Error::io(e).add_path(path.clone()))?;
        if meta.is_dir() {
            let dir = std::fs::canonicalize(path)
                .map_err(|e| notify::Error::io(e).add_path(path.clone()))?;
            watcher.watch(&dir, RecursiveMode::Recursive)?;
            targets.push(Target::Dir(dir));
        } else {
            let name = path
                .file_name()
                .ok_or_else(|| notify::Error::path_not_found().add_path(path.clone()))?;
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let parent = std::fs::canonicalize(parent)
                .map_err(|e| notify::Error::io(e).add_path(path.clone()))?;
            watcher.watch(&parent, RecursiveMode::NonRecursive)?;
            targets.push(Target::File(parent.join(name)));
        }
    }

    std::thread::Builder::new()
        .name("config-watch".into())
        .spawn(move || debounce_loop(&rx, &targets, debounce, &on_change))
        .map_err(notify::Error::io)?;

    Ok(WatchHandle {
        stop: tx,
        _watcher: watcher,
    })
}

/// Whether an event is a change to something watched.
fn is_relevant(ev: &notify::Result<Event>, targets: &[Target]) -> bool {
    match ev {
        Ok(ev) => {
            // Lost events (queue overflow) could hide any change: reload to be safe.
            if ev.need_rescan() {
                return true;
            }
            !matches!(ev.kind, EventKind::Access(_))
                && ev.paths.iter().any(|p| targets.iter().any(|t| t.covers(p)))
        }
        Err(e) => {
            tracing::warn!(error = %e, "file watcher error");
            false
        }
    }
}

fn debounce_loop(
    rx: &mpsc::Receiver<Msg>,
    targets: &[Target],
    debounce: Duration,
    on_change: &(impl Fn() + Send + Sync),
) {
    loop {
        // Idle: wait for the first change of a burst.
        match rx.recv() {
            Ok(Msg::Event(ev)) if is_relevant(&ev, targets) => {}
            Ok(Msg::Event(_)) => continue,
            Ok(Msg::Stop) | Err(_) => return,
        }
        let first = Instant::now();
        let mut last = first;
        // Coalesce until quiet for `debounce`, or until the burst has lasted MAX_COALESCE.
        loop {
            let now = Instant::now();
            let quiet_until = last + debounce;
            let cap = first + MAX_COALESCE;
            let until = quiet_until.min(cap);
            if now >= until {
                break;
            }
            match rx.recv_timeout(until - now) {
                Ok(Msg::Event(ev)) => {
                    if is_relevant(&ev, targets) {
                        last = Instant::now();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        on_change();
    }
}

/// Calls `on_change` on every SIGHUP, from a task on the current Tokio runtime. Fails when
/// called outside a runtime or when the signal cannot be registered.
#[cfg(unix)]
pub fn on_sighup(
    on_change: impl Fn() + Send + Sync + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|e| std::io::Error::other(format!("SIGHUP handler needs a runtime: {e}")))?;
    let _guard = handle.enter();
    let mut hup = signal(SignalKind::hangup())?;
    Ok(handle.spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received: reloading");
            on_change();
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counter() -> (Arc<AtomicUsize>, impl Fn() + Send + Sync + 'static) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = Arc::clone(&n);
        (n, move || {
            m.fetch_add(1, Ordering::SeqCst);
        })
    }

    /// Waits up to 5 s for the count to reach `at_least`.
    fn wait_for(n: &AtomicUsize, at_least: usize) {
        let start = Instant::now();
        while n.load(Ordering::SeqCst) < at_least && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_burst_of_writes_in_a_directory_is_one_call() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("acme")).unwrap();
        let (n, cb) = counter();
        let _h = watch(
            vec![dir.path().to_path_buf()],
            Duration::from_millis(500),
            cb,
        )
        .unwrap();
        for i in 0..5 {
            std::fs::write(dir.path().join("acme/order.yaml"), format!("v: {i}\n")).unwrap();
        }
        wait_for(&n, 1);
        assert_eq!(n.load(Ordering::SeqCst), 1);
        // Nothing else arrives later for the same burst.
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(n.load(Ordering::SeqCst), 1);
        // A later change is a new call.
        std::fs::write(dir.path().join("acme/order.yaml"), "v: 9\n").unwrap();
        wait_for(&n, 2);
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_watched_file_sees_rename_over_it_and_ignores_its_neighbours() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gateway.toml");
        std::fs::write(&file, "a = 1\n").unwrap();
        let (n, cb) = counter();
        let _h = watch(vec![file.clone()], Duration::from_millis(100), cb).unwrap();

        std::fs::write(dir.path().join("notes.txt"), "unrelated").unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(n.load(Ordering::SeqCst), 0);

        // Editor-style save: write a temporary file, rename it over the original.
        let tmp = dir.path().join(".gateway.toml.swp");
        std::fs::write(&tmp, "a = 2\n").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        wait_for(&n, 1);
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn reading_files_is_not_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("schema.json");
        std::fs::write(&file, "{}").unwrap();
        let (n, cb) = counter();
        let _h = watch(
            vec![dir.path().to_path_buf()],
            Duration::from_millis(100),
            cb,
        )
        .unwrap();
        for _ in 0..3 {
            assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}");
        }
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(n.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn dropping_the_handle_stops_watching() {
        let dir = tempfile::tempdir().unwrap();
        let (n, cb) = counter();
        let h = watch(
            vec![dir.path().to_path_buf()],
            Duration::from_millis(50),
            cb,
        )
        .unwrap();
        drop(h);
        std::fs::write(dir.path().join("x.yaml"), "x").unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(n.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_missing_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = watch(vec![missing.clone()], Duration::from_millis(50), || {}).unwrap_err();
        assert_eq!(err.paths, vec![missing]);
        assert!(
            matches!(err.kind, notify::ErrorKind::Io(ref e) if e.kind() == std::io::ErrorKind::NotFound)
        );
    }

    #[tokio::test]
    async fn sighup_calls_back() {
        let (n, cb) = counter();
        let task = on_sighup(cb).unwrap();
        // The handler is installed above, so SIGHUP no longer terminates this process.
        let status = std::process::Command::new("sh")
            .args(["-c", "kill -HUP \"$0\"", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let start = Instant::now();
        while n.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(n.load(Ordering::SeqCst), 1);
        task.abort();
    }
}

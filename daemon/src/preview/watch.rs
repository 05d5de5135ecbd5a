//! The workspace watcher (notify): file events coalesced into batches of changed paths,
//! minus dependency, VCS and build folders and editors' temp files, and minus what devflow
//! wrote itself ([`OwnWrites`]: the pipeline announces those with their patch id).
//!
//! Batching ([`Coalescer`]): a batch goes out as soon as every file in it has been closed
//! after writing (or renamed or removed), so a single save is announced within a
//! millisecond or two; a file still open for writing waits for a quiet `window` (50 ms);
//! and after a batch, further events are coalesced until `window` has passed, so a burst
//! (a checkout, a build) becomes one reload, not fifty.
//!
//! Every session's watcher shares one inotify instance ([`Inotify`]): the kernel allows 128
//! instances per user by default (`fs.inotify.max_user_instances`), so one per session ran
//! out near 120 sessions, while watches (one per folder, 8192+ by default) are plentiful.
//! Events are routed to the sessions whose folder holds the path.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher as _};

/// The default coalescing window.
pub const WINDOW: Duration = Duration::from_millis(50);
/// Folders watched at most (each is one inotify watch).
const MAX_WATCHED_DIRS: usize = 20_000;

/// Folders whose changes never reach the preview.
const IGNORED_DIRS: [&str; 14] = [
    "node_modules",
    ".git",
    ".hg",
    ".svn",
    "dist",
    "build",
    "out",
    ".next",
    ".nuxt",
    ".svelte-kit",
    ".vite",
    ".cache",
    ".parcel-cache",
    "target",
];

/// Whether a workspace-relative path (`/`-separated) is outside what the preview shows.
pub fn ignored(relative: &str) -> bool {
    let mut segments = relative.split('/').filter(|s| !s.is_empty()).peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if !last && IGNORED_DIRS.contains(&segment) {
            return true;
        }
        if last && temp_file(segment) {
            return true;
        }
        if last && IGNORED_DIRS.contains(&segment) {
            return true;
        }
    }
    false
}

/// Editors' and devflow's own temporary files.
fn temp_file(name: &str) -> bool {
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || name.starts_with(".#")
        || name == "4913"
        || name == ".DS_Store"
}

/// Collects changed paths and says when to announce them. Pure: the clock is an argument.
#[derive(Debug)]
pub struct Coalescer {
    window: Duration,
    /// Path → the last event left it complete (closed, renamed, removed).
    pending: BTreeMap<String, bool>,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
    last_flush: Option<Instant>,
}

impl Coalescer {
    pub fn new(window: Duration) -> Self {
        Coalescer {
            window,
            pending: BTreeMap::new(),
            first_at: None,
            last_at: None,
            last_flush: None,
        }
    }

    pub fn record(&mut self, path: String, complete: bool, now: Instant) {
        self.pending.insert(path, complete);
        self.first_at.get_or_insert(now);
        self.last_at = Some(now);
    }

    /// When the pending batch should go out; `None` when nothing is pending.
    pub fn deadline(&self) -> Option<Instant> {
        let (first, last) = (self.first_at?, self.last_at?);
        let settled = if self.pending.values().all(|complete| *complete) {
            last
        } else {
            (last + self.window).min(first + self.window * 4)
        };
        Some(match self.last_flush {
            Some(flushed) => settled.max(flushed + self.window),
            None => settled,
        })
    }

    /// The batch, sorted; empties the collector.
    pub fn flush(&mut self, now: Instant) -> Vec<String> {
        self.first_at = None;
        self.last_at = None;
        if self.pending.is_empty() {
            return Vec::new();
        }
        self.last_flush = Some(now);
        std::mem::take(&mut self.pending).into_keys().collect()
    }
}

/// How long after `files_changed` the watcher still leaves a devflow-written file alone
/// (when it holds what devflow wrote).
const OWN_WRITE_GRACE: Duration = Duration::from_secs(2);
/// A write announced by `files_writing` that never got its `files_changed` (the write
/// failed) stops shadowing the user's own edits after this.
const OWN_WRITE_MAX: Duration = Duration::from_secs(120);

/// Files devflow itself is writing or just wrote: the watcher does not announce them,
/// since the pipeline's PREVIEW_UPDATED (with the patch id) does.
#[derive(Debug, Default)]
pub struct OwnWrites {
    marks: HashMap<String, Mark>,
}

#[derive(Debug)]
struct Mark {
    until: Instant,
    /// The content devflow left, once it said it is done; `None` = still writing.
    written: Option<Option<Vec<u8>>>,
}

impl OwnWrites {
    /// Devflow is about to write these files.
    pub fn writing(&mut self, files: &[String], now: Instant) {
        for file in files {
            self.marks.insert(
                file.clone(),
                Mark {
                    until: now + OWN_WRITE_MAX,
                    written: None,
                },
            );
        }
    }

    /// Devflow finished writing: `content(file)` is what the file holds now (a digest).
    pub fn written(
        &mut self,
        files: &[String],
        now: Instant,
        content: impl Fn(&str) -> Option<Vec<u8>>,
    ) {
        for file in files {
            self.marks.insert(
                file.clone(),
                Mark {
                    until: now + OWN_WRITE_GRACE,
                    written: Some(content(file)),
                },
            );
        }
    }

    /// Keeps the files that are somebody else's change.
    pub fn others(
        &mut self,
        files: Vec<String>,
        now: Instant,
        content: impl Fn(&str) -> Option<Vec<u8>>,
    ) -> Vec<String> {
        self.marks.retain(|_, mark| mark.until > now);
        files
            .into_iter()
            .filter(|file| match self.marks.get(file) {
                None => true,
                Some(Mark { written: None, .. }) => false,
                Some(Mark {
                    written: Some(digest),
                    ..
                }) => content(file) != *digest,
            })
            .collect()
    }
}

type EventSender = tokio::sync::mpsc::UnboundedSender<notify::Result<notify::Event>>;

/// The daemon's one inotify instance and who listens to what.
struct Inotify {
    watcher: std::sync::Mutex<Watches>,
    /// (watcher id, root, where its events go). Locked by notify's event thread: never
    /// held while calling into `watcher`, which waits for that thread.
    routes: std::sync::Arc<std::sync::Mutex<Vec<(u64, PathBuf, EventSender)>>>,
}

struct Watches {
    watcher: notify::RecommendedWatcher,
    /// Folder → how many session watchers watch it (two sessions may share a folder).
    folders: HashMap<PathBuf, usize>,
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inotify {
    fn shared() -> notify::Result<&'static Inotify> {
        static SHARED: std::sync::OnceLock<Result<Inotify, String>> = std::sync::OnceLock::new();
        SHARED
            .get_or_init(|| {
                let routes: std::sync::Arc<std::sync::Mutex<Vec<(u64, PathBuf, EventSender)>>> =
                    Default::default();
                let routed = routes.clone();
                let watcher =
                    notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                        let routes = lock(&routed);
                        for (_, root, sender) in routes.iter() {
                            let concerned = match &event {
                                // An overflow or an error concerns everyone.
                                Ok(event) if !event.paths.is_empty() && !event.need_rescan() => {
                                    event.paths.iter().any(|path| path.starts_with(root))
                                }
                                _ => true,
                            };
                            if concerned {
                                let copy = match &event {
                                    Ok(event) => Ok(event.clone()),
                                    Err(error) => Err(notify::Error::generic(&error.to_string())),
                                };
                                let _ = sender.send(copy);
                            }
                        }
                    })
                    .map_err(|e| e.to_string())?;
                Ok(Inotify {
                    watcher: std::sync::Mutex::new(Watches {
                        watcher,
                        folders: HashMap::new(),
                    }),
                    routes,
                })
            })
            .as_ref()
            .map_err(|e| notify::Error::generic(e))
    }

    fn watch(&self, folder: &Path, mine: &std::sync::Mutex<Vec<PathBuf>>) -> notify::Result<()> {
        let mut watches = lock(&self.watcher);
        let count = watches.folders.get(folder).copied().unwrap_or(0);
        if count == 0 {
            watches.watcher.watch(folder, RecursiveMode::NonRecursive)?;
        }
        watches.folders.insert(folder.to_path_buf(), count + 1);
        lock(mine).push(folder.to_path_buf());
        Ok(())
    }

    fn unwatch_all(&self, folders: Vec<PathBuf>) {
        let mut watches = lock(&self.watcher);
        for folder in folders {
            match watches.folders.get(&folder).copied() {
                Some(1) => {
                    watches.folders.remove(&folder);
                    // A folder that is gone was unwatched by the kernel already.
                    let _ = watches.watcher.unwatch(&folder);
                }
                Some(count) => {
                    watches.folders.insert(folder, count - 1);
                }
                None => {}
            }
        }
    }
}

/// A running watcher; dropping it stops it and gives its folders back.
pub struct Watcher {
    task: tokio::task::JoinHandle<()>,
    id: u64,
    folders: std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
        if let Ok(inotify) = Inotify::shared() {
            lock(&inotify.routes).retain(|(id, _, _)| *id != self.id);
            inotify.unwatch_all(std::mem::take(&mut *lock(&self.folders)));
        }
    }
}

/// Watches `root` (every folder but the ignored ones) and calls `on_change` with each
/// batch of changed workspace-relative paths. An empty batch means "something changed,
/// the kernel lost track of what" (event queue overflow): reload everything.
pub fn watch(
    root: &Path,
    window: Duration,
    on_change: impl Fn(Vec<String>) + Send + 'static,
) -> notify::Result<Watcher> {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let inotify = Inotify::shared()?;
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let folders: std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>> = Default::default();
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    lock(&inotify.routes).push((id, root.clone(), sender));
    let mut watched = 0usize;
    let mut watch_folder = {
        let folders = folders.clone();
        move |folder: &Path| inotify.watch(folder, &folders)
    };
    if let Err(error) = add_tree(&mut watch_folder, &root, &root, &mut watched, &mut |_| {}) {
        lock(&inotify.routes).retain(|(route, _, _)| *route != id);
        inotify.unwatch_all(std::mem::take(&mut *lock(&folders)));
        return Err(error);
    }
    let task = tokio::spawn(async move {
        let mut watcher = watch_folder;
        let mut batch = Coalescer::new(window);
        loop {
            let deadline = batch.deadline();
            // Due now (every file closed): out at once. Through the timer it would wait for
            // the timer wheel's next millisecond tick.
            if deadline.is_some_and(|due| due <= Instant::now()) {
                let changed = batch.flush(Instant::now());
                if !changed.is_empty() {
                    on_change(changed);
                }
                continue;
            }
            tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else { return };
                    let mut next = Some(event);
                    // Drain what is already queued: a write's close usually sits right
                    // behind its modify.
                    while let Some(event) = next {
                        match event {
                            Ok(event) => take(&mut watcher, &root, &mut watched, &mut batch, event),
                            Err(error) => tracing::warn!(%error, "file watcher error"),
                        }
                        next = events.try_recv().ok();
                    }
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    let changed = batch.flush(Instant::now());
                    if !changed.is_empty() {
                        on_change(changed);
                    }
                }
            }
        }
    });
    Ok(Watcher { task, id, folders })
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline.into()).await;
    }
}

fn take(
    watcher: &mut dyn FnMut(&Path) -> notify::Result<()>,
    root: &Path,
    watched: &mut usize,
    batch: &mut Coalescer,
    event: notify::Event,
) {
    let now = Instant::now();
    if event.need_rescan() {
        // Overflow: announce a change of unknown files (the clients reload).
        batch.record(String::new(), true, now);
        return;
    }
    let complete = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write))
        | EventKind::Modify(ModifyKind::Name(_))
        | EventKind::Remove(_) => true,
        EventKind::Create(_) | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) => false,
        EventKind::Modify(ModifyKind::Other) | EventKind::Any | EventKind::Other => false,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => return,
    };
    for path in &event.paths {
        let Some(relative) = relative(root, path) else {
            continue;
        };
        if relative.is_empty() || ignored(&relative) {
            continue;
        }
        let new_folder = matches!(event.kind, EventKind::Create(CreateKind::Folder))
            || (matches!(event.kind, EventKind::Modify(ModifyKind::Name(_))) && path.is_dir());
        if new_folder {
            // Watch it, and count what was written into it before the watch existed.
            let result = add_tree(watcher, root, path, watched, &mut |file| {
                batch.record(file, true, now);
            });
            if let Err(error) = result {
                tracing::warn!(%error, folder = %relative, "cannot watch a new folder");
            }
            continue;
        }
        if path.is_dir() {
            continue;
        }
        batch.record(relative, complete, now);
    }
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = relative
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect();
    Some(parts?.join("/"))
}

/// Watches `dir` and every folder below it that is not ignored; `found` gets the files
/// seen on the way (workspace-relative).
fn add_tree(
    watch_folder: &mut dyn FnMut(&Path) -> notify::Result<()>,
    root: &Path,
    dir: &Path,
    watched: &mut usize,
    found: &mut dyn FnMut(String),
) -> notify::Result<()> {
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    let top = dir == root;
    while let Some(folder) = stack.pop() {
        if *watched >= MAX_WATCHED_DIRS {
            tracing::warn!(
                limit = MAX_WATCHED_DIRS,
                "too many folders to watch; changes deeper in the workspace are not seen"
            );
            return Ok(());
        }
        match watch_folder(&folder) {
            Ok(()) => *watched += 1,
            Err(error) if folder == root => return Err(error),
            Err(error) => {
                tracing::debug!(%error, folder = %folder.display(), "not watched");
                continue;
            }
        }
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(relative) = relative(root, &path) else {
                continue;
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !ignored(&format!("{relative}/x")) {
                    stack.push(path);
                }
            } else if !top && kind.is_file() && !ignored(&relative) {
                found(relative);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_vcs_build_and_temp_paths_are_ignored() {
        for path in [
            "node_modules/vite/index.js",
            "a/node_modules/x.js",
            ".git/index",
            "dist/index.html",
            "build/app.css",
            "css/.styles.css.devflow-1-2.tmp",
            "index.html~",
            ".index.html.swp",
            "4913",
            "node_modules",
        ] {
            assert!(ignored(path), "{path}");
        }
        for path in [
            "index.html",
            "css/style.css",
            "src/distance.js",
            "builds.css",
        ] {
            assert!(!ignored(path), "{path}");
        }
    }

    #[test]
    fn a_closed_write_goes_out_at_once_an_open_one_after_the_window() {
        let t0 = Instant::now();
        let mut batch = Coalescer::new(WINDOW);
        assert_eq!(batch.deadline(), None);
        batch.record("a.css".into(), false, t0);
        assert_eq!(batch.deadline(), Some(t0 + WINDOW));
        batch.record("a.css".into(), true, t0 + Duration::from_millis(1));
        assert_eq!(batch.deadline(), Some(t0 + Duration::from_millis(1)));
        assert_eq!(batch.flush(t0 + Duration::from_millis(1)), ["a.css"]);
        assert_eq!(batch.deadline(), None);
    }

    #[test]
    fn a_burst_after_a_batch_is_coalesced_into_the_next_window() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut batch = Coalescer::new(WINDOW);
        batch.record("a.css".into(), true, t0);
        assert_eq!(batch.flush(t0), ["a.css"]);
        for (i, name) in ["b.js", "c.html", "a.css"].iter().enumerate() {
            batch.record(name.to_string(), true, t0 + ms(i as u64 + 1));
        }
        assert_eq!(
            batch.deadline(),
            Some(t0 + WINDOW),
            "throttled to one batch per window"
        );
        assert_eq!(batch.flush(t0 + WINDOW), ["a.css", "b.js", "c.html"]);
    }

    #[test]
    fn a_file_kept_open_is_announced_within_four_windows() {
        let t0 = Instant::now();
        let mut batch = Coalescer::new(WINDOW);
        for i in 0..100u64 {
            batch.record("log.txt".into(), false, t0 + Duration::from_millis(i * 10));
        }
        assert_eq!(batch.deadline(), Some(t0 + WINDOW * 4));
    }

    #[test]
    fn devflows_own_writes_are_left_to_the_pipeline_but_later_edits_are_not() {
        let t0 = Instant::now();
        let files = vec!["css/style.css".to_string()];
        let mut own = OwnWrites::default();
        let content = |text: &'static str| move |_: &str| Some(text.as_bytes().to_vec());

        own.writing(&files, t0);
        assert!(
            own.others(files.clone(), t0, content("new")).is_empty(),
            "while writing"
        );
        own.written(&files, t0, content("new"));
        assert!(
            own.others(files.clone(), t0, content("new")).is_empty(),
            "what devflow wrote"
        );
        assert_eq!(
            own.others(files.clone(), t0, content("edited by hand")),
            files,
            "a different content is somebody else's edit"
        );
        assert_eq!(
            own.others(files.clone(), t0 + OWN_WRITE_GRACE * 2, content("new")),
            files,
            "after the grace period every change counts"
        );
        assert_eq!(
            own.others(vec!["other.css".into()], t0, content("x")),
            ["other.css"]
        );
    }

    #[tokio::test]
    async fn a_saved_file_is_announced_promptly_and_ignored_folders_are_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("css")).unwrap();
        std::fs::create_dir_all(dir.path().join("node_modules/pkg")).unwrap();
        std::fs::write(dir.path().join("css/style.css"), "a{}").unwrap();
        let (sender, mut batches) = tokio::sync::mpsc::unbounded_channel();
        let _watcher = watch(dir.path(), WINDOW, move |files| {
            let _ = sender.send((Instant::now(), files));
        })
        .unwrap();

        let started = Instant::now();
        std::fs::write(dir.path().join("css/style.css"), "a{color:red}").unwrap();
        std::fs::write(dir.path().join("node_modules/pkg/index.js"), "x").unwrap();
        let (at, files) = tokio::time::timeout(Duration::from_secs(5), batches.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(files, ["css/style.css"]);
        assert!(
            at - started < Duration::from_millis(40),
            "closed writes are not held for the window: {:?}",
            at - started
        );

        // A folder created later is watched, and a file written into it right away counts.
        std::fs::create_dir_all(dir.path().join("pages/blog")).unwrap();
        std::fs::write(dir.path().join("pages/blog/post.html"), "<p>x</p>").unwrap();
        let mut seen = Vec::new();
        while !seen.contains(&"pages/blog/post.html".to_string()) {
            let (_, files) = tokio::time::timeout(Duration::from_secs(5), batches.recv())
                .await
                .expect("the new file is announced")
                .unwrap();
            seen.extend(files);
        }
        assert!(
            seen.iter().all(|f| !f.starts_with("node_modules")),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn more_sessions_than_inotify_instances_are_all_watched_and_kept_apart() {
        // The default fs.inotify.max_user_instances is 128: one instance per watcher
        // would fail long before 200.
        let dirs: Vec<tempfile::TempDir> = (0..200).map(|_| tempfile::tempdir().unwrap()).collect();
        let (sender, mut batches) = tokio::sync::mpsc::unbounded_channel();
        let mut watchers = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            let sender = sender.clone();
            watchers.push(
                watch(dir.path(), WINDOW, move |files| {
                    let _ = sender.send((i, files));
                })
                .unwrap_or_else(|e| panic!("watcher {i}: {e}")),
            );
        }
        // Two watchers of one folder: each sees its changes, and dropping one leaves the
        // other watching.
        let (twin_sender, mut twin) = tokio::sync::mpsc::unbounded_channel();
        let twin_watcher = watch(dirs[7].path(), WINDOW, move |files| {
            let _ = twin_sender.send(files);
        })
        .unwrap();
        std::fs::write(dirs[199].path().join("last.css"), "a{}").unwrap();
        std::fs::write(dirs[7].path().join("seventh.css"), "a{}").unwrap();
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let batch = tokio::time::timeout(Duration::from_secs(5), batches.recv())
                .await
                .expect("both changes are announced")
                .unwrap();
            seen.push(batch);
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                (7, vec!["seventh.css".to_string()]),
                (199, vec!["last.css".to_string()])
            ],
            "each change reaches only its own session"
        );
        let batch = tokio::time::timeout(Duration::from_secs(5), twin.recv())
            .await
            .expect("the twin sees it too")
            .unwrap();
        assert_eq!(batch, ["seventh.css"]);
        drop(twin_watcher);
        std::fs::write(dirs[7].path().join("again.css"), "a{}").unwrap();
        let (i, files) = tokio::time::timeout(Duration::from_secs(5), batches.recv())
            .await
            .expect("still watched after the twin stopped")
            .unwrap();
        assert_eq!((i, files), (7, vec!["again.css".to_string()]));
        drop(watchers);
    }
}

//! `skiff up --watch`: the app is reloaded while it serves.
//!
//! What is watched (polled, as the runtime config is):
//! - the manifest, each component's `source` and its dependencies' files,
//!   and each `files` mount (and the directory holding it, so a file added
//!   beside a globbed one is seen): a change reloads the app;
//! - each component's `[component.ID.build] watch` globs: a change runs that
//!   component's build command; the new `source` it writes then reloads the app.
//!
//! A reload loads the new version beside the old one: manifest, variables,
//! compile (through the AOT cache, so unchanged components cost a lookup),
//! link and pre-instantiate. Only once all of that has worked does it take the
//! new requests, on every connection; requests in progress finish on the old
//! version, which is dropped with the last of them. The Redis, messaging,
//! MQTT and cron triggers hand what both versions have to the new one (a
//! subscription or schedule both have stays as it is, and runs the new
//! version's component from then on); what only the old had stops. A version
//! that fails to load (a manifest error, a component that does not compile or
//! lacks an export, a required variable with no value) is reported, and the
//! one serving stays.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, bail};
use skiff_engine::{CacheOutcome, EngineOptions, SkiffEngine};
use skiff_manifest::{App, Build};
use skiff_trigger_http::{AppConnections, LiveApp, LoadOptions};

use crate::reload::{POLL, SETTLE, VariablesSlot, stamp};
use crate::serve::{Loaded, Running};

/// How `skiff up --watch` loads the app again.
pub struct WatchOptions {
    /// Reads the app anew: its manifest, with the command line's overrides
    /// (`-e`) applied as at start.
    pub load: Box<dyn Fn() -> Result<App> + Send + Sync>,
}

impl WatchOptions {
    /// Reloads with `load`.
    pub fn new(load: impl Fn() -> Result<App> + Send + Sync + 'static) -> Self {
        WatchOptions {
            load: Box::new(load),
        }
    }
}

/// A file's version: modification time and length (`None`: missing).
type Stamp = Option<(SystemTime, u64)>;

/// The versions of a set of files.
#[derive(PartialEq, Eq, Default)]
struct Stamps(BTreeMap<PathBuf, Stamp>);

impl Stamps {
    fn of(paths: impl IntoIterator<Item = PathBuf>) -> Self {
        Stamps(
            paths
                .into_iter()
                .map(|p| {
                    let s = stamp(&p);
                    (p, s)
                })
                .collect(),
        )
    }

    fn again(&self) -> Self {
        Stamps::of(self.0.keys().cloned())
    }
}

/// One component's build: its command and the files its `watch` globs match.
struct Watching {
    component: String,
    build: Build,
    files: Stamps,
}

impl Watching {
    /// The files `build.watch` matches now, relative to its `workdir`.
    fn matches(build: &Build) -> Stamps {
        let mut found = Vec::new();
        for pattern in &build.watch {
            let full = build.workdir.join(pattern);
            let Ok(paths) = glob::glob(&full.to_string_lossy()) else {
                continue;
            };
            found.extend(paths.flatten().filter(|p| p.is_file()));
        }
        Stamps::of(found)
    }
}

/// The versions of every file a version of the app was loaded from, taken
/// before it was read.
pub(crate) struct Watched {
    app: Stamps,
    builds: Vec<Watching>,
}

impl Watched {
    /// The files of `app`, stamped now.
    pub fn of(app: &App) -> Self {
        let mut paths = vec![app.manifest_path.clone()];
        for component in app.components.values() {
            paths.push(component.source.clone());
            paths.extend(
                component
                    .dependencies
                    .iter()
                    .filter_map(|d| d.local_path().map(Path::to_path_buf)),
            );
            for mount in &component.files {
                paths.push(mount.source.clone());
                if let Some(parent) = mount.source.parent() {
                    paths.push(parent.to_path_buf());
                }
            }
        }
        let builds = app
            .components
            .values()
            .filter_map(|c| {
                let build = c.build.clone().filter(|b| !b.watch.is_empty())?;
                Some(Watching {
                    component: c.id.clone(),
                    files: Watching::matches(&build),
                    build,
                })
            })
            .collect();
        Watched {
            app: Stamps::of(paths),
            builds,
        }
    }
}

/// What a reload needs: the backends every version shares, and where the
/// running version is.
pub(crate) struct Reloader {
    /// The backends, with the variables of the version serving.
    pub options: LoadOptions,
    /// The variables, replaced with each version's.
    pub variables: Arc<VariablesSlot>,
    /// The serving version's outbound connections, which the next version's
    /// components take over (`options.connections` is the first version's).
    pub connections: Mutex<Arc<AppConnections>>,
    /// The engine and the options it was built with, reused while a new
    /// version needs no other; `None`: build one for the next version.
    pub engine: Mutex<Option<(EngineOptions, Arc<SkiffEngine>)>>,
    /// The instance pool's size (`None`: no pool, `--disable-pooling`).
    pub pool: Option<u32>,
    /// The AOT cache directory.
    pub cache_dir: Option<PathBuf>,
    /// The HTTP app serving (`None`: the app serves no HTTP).
    pub live: Option<Arc<LiveApp>>,
    /// The Redis, messaging and cron triggers running.
    pub background: Arc<Mutex<Running>>,
    /// Print the route table of each new version.
    pub banner: bool,
}

/// Watches `app`'s files forever (`files`: their versions when it was read),
/// building and reloading as they change.
pub(crate) async fn run(watch: WatchOptions, files: Watched, reloader: Reloader) {
    let watch = Arc::new(watch);
    let mut files = files;
    loop {
        tokio::time::sleep(POLL).await;
        // Builds first: what they write is the app's `source`.
        for watching in &mut files.builds {
            let now = Watching::matches(&watching.build);
            if now == watching.files {
                continue;
            }
            let now = settled(now, |_| Watching::matches(&watching.build)).await;
            watching.files = now;
            let (id, build) = (watching.component.clone(), watching.build.clone());
            match tokio::task::spawn_blocking(move || crate::build::build_component(&id, &build))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::error!("{err:#}; still serving the previous version"),
                Err(err) => tracing::error!("the build thread failed: {err}"),
            }
        }
        let now = files.app.again();
        if now == files.app {
            continue;
        }
        let now = settled(now, Stamps::again).await;
        // The new version's files are stamped before it is read, as the
        // first's were; on failure the old version's files stay watched
        // (with the versions just seen, so a fix is the next change).
        let load = watch.clone();
        let loaded = tokio::task::spawn_blocking(move || (load.load)()).await;
        let new_app = match loaded {
            Ok(Ok(new_app)) => new_app,
            Ok(Err(err)) => {
                files.app = now;
                tracing::error!("app not reloaded, still serving the previous version: {err:#}");
                continue;
            }
            Err(err) => {
                files.app = now;
                tracing::error!("app not reloaded: the loader thread failed: {err}");
                continue;
            }
        };
        let new_files = Watched::of(&new_app);
        match reloader.reload(new_app).await {
            Ok(()) => files = new_files,
            Err(err) => {
                files.app = now;
                tracing::error!("app not reloaded, still serving the previous version: {err:#}");
            }
        }
    }
}

/// `now` once a re-read (`again`) has stopped changing, so files being
/// written are not read half-way.
async fn settled(mut now: Stamps, again: impl Fn(&Stamps) -> Stamps) -> Stamps {
    loop {
        tokio::time::sleep(SETTLE).await;
        let next = again(&now);
        if next == now {
            return now;
        }
        now = next;
    }
}

impl Reloader {
    /// Loads `app` beside the version serving and, once it has loaded,
    /// serves it instead. On error nothing has changed.
    pub async fn reload(&self, app: App) -> Result<()> {
        let started = Instant::now();
        let what = format!("app `{}` from `{}`", app.name, app.manifest_path.display());
        if self.live.is_none() && !app.http_triggers.is_empty() {
            bail!(
                "{what} now has HTTP triggers, but was started without any, so no HTTP listener \
                 is open: restart `skiff up` to serve them"
            );
        }
        // Held until the new version serves, so a runtime-config reload
        // cannot replace providers the new variables were not given.
        let mut variables = self.variables.lock().await;
        let resolver = variables
            .redeclare(
                &app.variables,
                app.components
                    .iter()
                    .map(|(id, c)| (id.clone(), c.variables.clone())),
            )
            .with_context(|| format!("invalid variables in `{}`", app.manifest_path.display()))?;
        resolver
            .check_required()
            .with_context(|| format!("cannot serve {what}"))?;
        let resolver = Arc::new(resolver);
        let engine = self.engine_for(&app).await?;
        let connections = self
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .for_next_version();
        let options = LoadOptions {
            variables: resolver.clone(),
            connections: connections.clone(),
            ..self.options.clone()
        };
        let previous = self.live.as_ref().map(|live| live.current());
        let loaded = tokio::task::spawn_blocking(move || {
            Loaded::load_after(engine, app, &options, previous.as_deref())
        })
        .await
        .context("the loader thread failed")?
        .with_context(|| format!("could not load {what}"))?;
        let compiled = loaded
            .http
            .reports()
            .iter()
            .filter(|r| r.cache != CacheOutcome::Hit)
            .count();
        let Loaded {
            app,
            http,
            background,
        } = loaded;
        // The switch: HTTP first (one atomic swap), then the triggers beside
        // it. The banner follows the swap, so whoever reads it and sends a
        // request gets the new version.
        if let Some(live) = &self.live {
            live.replace(http.clone());
        }
        if self.banner {
            crate::serve::print_reload_banner(&app, &http, &background);
        }
        {
            let mut running = self.background.lock().unwrap_or_else(|e| e.into_inner());
            let previous = std::mem::take(&mut *running);
            *running = background.start_after(previous);
        }
        *variables = resolver;
        drop(variables);
        *self.connections.lock().unwrap_or_else(|e| e.into_inner()) = connections;
        tracing::info!(
            "reloaded {what} in {:?} ({compiled} component(s) compiled); new requests use it",
            started.elapsed()
        );
        Ok(())
    }

    /// The engine for `app`: the current one when `app` needs no other
    /// (instance pool slots as large, concurrency support as needed), else
    /// a new one.
    async fn engine_for(&self, app: &App) -> Result<Arc<SkiffEngine>> {
        let wanted = crate::serve::engine_options(app, self.pool, self.cache_dir.as_deref());
        if let Some((options, engine)) = &*self.engine.lock().unwrap_or_else(|e| e.into_inner())
            && *options == wanted
        {
            return Ok(engine.clone());
        }
        let options = wanted.clone();
        let engine = tokio::task::spawn_blocking(move || SkiffEngine::new(options))
            .await
            .context("the thread building the engine failed")??;
        let engine = Arc::new(engine);
        *self.engine.lock().unwrap_or_else(|e| e.into_inner()) = Some((wanted, engine.clone()));
        Ok(engine)
    }
}

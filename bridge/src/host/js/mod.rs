//! The JavaScript host: user handlers run in embedded engines (deno_core on
//! its QuickJS backend), one per worker thread.
//!
//! Each worker has its own runtime with the handler's modules imported and
//! one instance of each handler class. Batches wait in one bounded queue;
//! whichever worker is free takes the next, so batches run in parallel on
//! up to `workers` threads while the calls of one batch run in order on one
//! worker. Outcomes come back in call order. Handler methods may be
//! `async`: their promises are awaited (LetsData's JavaScript bridge did
//! not await them).
//!
//! Handlers `import ... from "ferry"` and get the ferry JS SDK compiled into
//! the bridge (see `loader`). Their results are read by property name, like
//! the CPython host reads Python results, and documents are serialized to
//! flat JSON by the same rules, so one handler's logic gives byte-identical
//! documents in both languages (up to what JavaScript numbers can hold).

mod json;
mod loader;
mod ops;
mod outcome;
mod source;
mod timeout;
mod worker;

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use ferry_proto::pb;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::oneshot;

use crate::handler::{Handler, HandlerDescription, HandlerError, LoadFailure, interface_name};
use source::HandlerSource;
use timeout::Watchdog;
use worker::Job;

/// Batches waiting for a free worker. Small: the task host bounds in-flight
/// batches itself, this only smooths hand-over.
const QUEUE_DEPTH: usize = 8;

/// A running JavaScript host.
#[derive(Debug)]
pub struct JsHost {
    state: Result<Running, LoadFailure>,
}

#[derive(Debug)]
struct Running {
    description: HandlerDescription,
    jobs: tokio::sync::mpsc::Sender<Job>,
    // Stops the watchdog thread once the host is gone.
    _watchdog: Arc<Watchdog>,
}

/// The worker threads could not be started at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the JavaScript workers: {0}")]
pub struct StartError(String);

impl JsHost {
    /// Starts `workers` worker threads, each loading the handler at
    /// `handler_path` (a `.js`/`.mjs` file, a directory holding `handler.js`
    /// or `handler.mjs`, or a LetsData project directory). A handler that
    /// fails to load still yields a host, whose `description()` reports
    /// why. A call runs for at most `call_timeout` unless its request sets
    /// another limit.
    pub fn start(handler_path: &Path, workers: NonZeroUsize, call_timeout: Duration) -> Result<Self, StartError> {
        let source = match HandlerSource::locate(handler_path) {
            Ok(source) => Arc::new(source),
            Err(failure) => return Ok(Self { state: Err(failure) }),
        };
        let watchdog = Arc::new(Watchdog::start().map_err(|err| StartError(err.to_string()))?);
        let (jobs, queue) = tokio::sync::mpsc::channel::<Job>(QUEUE_DEPTH);
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let (loaded_tx, loaded_rx) = mpsc::channel();
        for index in 0..workers.get() {
            let (source, watchdog, loaded, queue) =
                (Arc::clone(&source), Arc::clone(&watchdog), loaded_tx.clone(), Arc::clone(&queue));
            thread::Builder::new()
                .name(format!("js-worker-{index}"))
                .spawn(move || worker::run(&source, call_timeout, watchdog, &loaded, &queue))
                .map_err(|err| StartError(err.to_string()))?;
        }
        drop(loaded_tx);
        // Every worker loads the same files; the first failure (in arrival
        // order) stands for all of them.
        let mut served = None;
        for _ in 0..workers.get() {
            let loaded =
                loaded_rx.recv().map_err(|_| StartError("a worker thread exited during start-up".to_owned()))?;
            match loaded {
                Ok(names) => served = served.or(Some(names)),
                Err(failure) => return Ok(Self { state: Err(failure) }),
            }
        }
        let names = served.unwrap_or_default();
        let interfaces = crate::handler::ALL_INTERFACES
            .into_iter()
            .filter(|&interface| names.iter().any(|name| name == interface_name(interface)));
        let description = HandlerDescription {
            language: pb::Language::Javascript,
            runtime_version: format!("QuickJS (deno_core {})", env!("FERRY_DENO_CORE_VERSION")),
            interfaces: interfaces.collect(),
            digest: source.digest.clone(),
        };
        Ok(Self { state: Ok(Running { description, jobs, _watchdog: watchdog }) })
    }
}

impl Handler for JsHost {
    fn description(&self) -> Result<&HandlerDescription, &LoadFailure> {
        self.state.as_ref().map(|running| &running.description)
    }

    fn invoke(&self, request: pb::InvokeRequest) -> BoxFuture<'static, Result<Vec<pb::Outcome>, HandlerError>> {
        let jobs = match &self.state {
            Ok(running) => running.jobs.clone(),
            Err(failure) => return futures::future::ready(Err(HandlerError::NotLoaded(failure.clone()))).boxed(),
        };
        let (reply, outcome) = oneshot::channel();
        async move {
            let unavailable = || HandlerError::Unavailable("the JavaScript workers have stopped".to_owned());
            jobs.send(Job { request, reply }).await.map_err(|_| unavailable())?;
            outcome.await.map_err(|_| unavailable())?
        }
        .boxed()
    }
}

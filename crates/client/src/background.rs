//! The background sync task: drives the [`Scheduler`] with real time and I/O. It syncs
//! at start, a few seconds after local changes, as soon as the server signals news (a
//! long poll kept open while online), periodically, and on reconnect; it backs off with
//! jitter while offline or failing. It publishes its [`SyncState`] on a watch channel
//! (for the app and the tray) and user-facing [`Event`]s on a broadcast channel (for
//! desktop notifications): per sync at most one Rejected and one Overwritten event, and
//! one Notice per message from the server.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch, Mutex};

use crate::error::ClientError;
use crate::schedule::{Action, Outcome, Policy, Scheduler, SyncState};
use crate::{Engine, SyncReport};

/// Something the user should be told about (a desktop notification).
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(rename = "SyncEvent")]
pub enum Event {
    /// The server rejected changes; `latest` is the most recent one's reason (a sentence).
    Rejected {
        #[ts(type = "number")]
        count: usize,
        latest: String,
    },
    /// Concurrent edits by others overwrote values this user had set.
    Overwritten {
        #[ts(type = "number")]
        count: usize,
    },
    /// The session is no longer valid.
    SignInExpired { reason: String },
    /// The first download of the user's data finished.
    FirstSyncDone {
        #[ts(type = "number")]
        rows: usize,
    },
    /// The server says what changed for the user (e.g. customers moved to another rep).
    Notice { text: String },
}

enum Command {
    LocalChange,
    SyncNow,
    Pause,
    Resume,
}

/// Handle to the running task; dropping it stops the task.
pub struct Background {
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<SyncState>,
    events: broadcast::Sender<Event>,
    task: tokio::task::JoinHandle<()>,
}

/// How long an open long poll waits before asking again.
const LISTEN_MS: u64 = 25_000;
/// How long to hold off listening after the server said it holds all the long polls it
/// allows (`503 too_many_waits`).
const LISTEN_RETRY_MS: i64 = 30_000;

impl Background {
    /// Starts the task for a signed-in engine. The engine stays usable by others through
    /// the mutex; the task holds it only while it syncs.
    pub fn start(engine: Arc<Mutex<Engine>>, policy: Policy) -> Background {
        let (commands, rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(SyncState::Idle);
        let (events, _) = broadcast::channel(64);
        let task = tokio::spawn(run(engine, policy, rx, state_tx, events.clone()));
        Background { commands, state, events, task }
    }

    /// Tell the task a local change was made (it syncs after the debounce).
    pub fn local_change(&self) {
        let _ = self.commands.send(Command::LocalChange);
    }

    pub fn sync_now(&self) {
        let _ = self.commands.send(Command::SyncNow);
    }

    pub fn pause(&self) {
        let _ = self.commands.send(Command::Pause);
    }

    pub fn resume(&self) {
        let _ = self.commands.send(Command::Resume);
    }

    pub fn state(&self) -> watch::Receiver<SyncState> {
        self.state.clone()
    }

    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    engine: Arc<Mutex<Engine>>,
    policy: Policy,
    mut commands: mpsc::UnboundedReceiver<Command>,
    state: watch::Sender<SyncState>,
    events: broadcast::Sender<Event>,
) {
    let clock = engine.lock().await.clock();
    let seed = clock.now_ms() as u64;
    let mut sched = Scheduler::new(policy, seed);
    sched.start(clock.now_ms());
    let mut listen: Option<Listen> = None;
    // When the server holds all the long polls it allows, listen again only after this.
    let mut listen_after: Option<i64> = None;
    loop {
        state.send_if_modified(|s| replace_if_changed(s, sched.state()));
        let now = clock.now_ms();
        match sched.poll(now) {
            Some(Action::Sync) => {
                listen = None; // aborts the open long poll
                state.send_if_modified(|s| replace_if_changed(s, sched.state()));
                let (outcome, report, first) = sync_once(&engine, &mut sched, &state).await;
                announce(&events, &engine, &outcome, report.as_ref(), first).await;
                sched.sync_finished(outcome, clock.now_ms());
                continue;
            }
            Some(Action::Probe) => {
                let (transport, server) = {
                    let e = engine.lock().await;
                    (e.transport(), e.session_snapshot().map(|s| s.0))
                };
                let reachable = match server {
                    Ok(server) => crate::probe(&*transport, &server).await,
                    Err(_) => false,
                };
                sched.probe_finished(reachable, clock.now_ms());
                continue;
            }
            None => {}
        }
        // Idle and online: keep a long poll open so news arrives within milliseconds.
        let may_listen = listen_after.is_none_or(|t| now >= t);
        if listen.is_none() && may_listen && matches!(sched.state(), SyncState::UpToDate { .. }) {
            listen_after = None;
            listen = start_listening(&engine).await;
        }
        let next = match (sched.next_wakeup(), listen_after) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let wake = next.map(|t| Duration::from_millis((t - clock.now_ms()).max(0) as u64));
        tokio::select! {
            cmd = commands.recv() => {
                let now = clock.now_ms();
                match cmd {
                    Some(Command::LocalChange) => sched.local_change(now),
                    Some(Command::SyncNow) => sched.sync_now(now),
                    Some(Command::Pause) => sched.pause(),
                    Some(Command::Resume) => sched.resume(now),
                    None => return,
                }
            }
            news = async { (&mut listen.as_mut().expect("guarded").0).await }, if listen.is_some() => {
                listen = None;
                match news {
                    Ok(Ok(true)) => sched.server_news(clock.now_ms()),
                    Ok(Ok(false)) => {}
                    // The server is full of waiting requests: periodic syncs go on.
                    Ok(Err(ClientError::Server { status: 503, .. })) => {
                        listen_after = Some(clock.now_ms() + LISTEN_RETRY_MS);
                    }
                    // A failed listen says nothing certain; let a sync find out why.
                    Ok(Err(_)) | Err(_) => sched.sync_now(clock.now_ms()),
                }
            }
            _ = async { tokio::time::sleep(wake.unwrap_or_default()).await }, if wake.is_some() => {}
        }
    }
}

fn replace_if_changed(current: &mut SyncState, new: &SyncState) -> bool {
    if current == new {
        return false;
    }
    *current = new.clone();
    true
}

/// An open long poll; dropping it (task stopped, sync started) aborts the request.
struct Listen(tokio::task::JoinHandle<Result<bool, ClientError>>);

impl Drop for Listen {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn start_listening(engine: &Arc<Mutex<Engine>>) -> Option<Listen> {
    let e = engine.lock().await;
    let (server, token, cursor) = e.session_snapshot().ok()?;
    let (transport, clock) = (e.transport(), e.clock());
    Some(Listen(tokio::spawn(async move {
        crate::wait_for_news(&*transport, &*clock, &server, &token, &cursor, LISTEN_MS).await
    })))
}

/// Runs one sync under the engine lock, publishing progress.
async fn sync_once(
    engine: &Arc<Mutex<Engine>>,
    sched: &mut Scheduler,
    state: &watch::Sender<SyncState>,
) -> (Outcome, Option<SyncReport>, bool) {
    let mut e = engine.lock().await;
    let first = e.store().cursor().map(|c| c.is_empty()).unwrap_or(true);
    let (progress_tx, mut progress_rx) = watch::channel((0usize, 0u8));
    let result = {
        let mut report_progress = |p: &crate::Progress| {
            let _ = progress_tx.send((p.pulled, p.percent));
        };
        let fut = e.sync(&mut report_progress);
        tokio::pin!(fut);
        loop {
            tokio::select! {
                r = &mut fut => break r,
                Ok(()) = progress_rx.changed() => {
                    let (rows, percent) = *progress_rx.borrow_and_update();
                    sched.progress(rows, percent);
                    state.send_if_modified(|s| replace_if_changed(s, sched.state()));
                }
            }
        }
    };
    (Outcome::of(&result), result.ok(), first)
}

impl Outcome {
    /// How a sync's result counts for scheduling.
    pub fn of(result: &Result<SyncReport, ClientError>) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(ClientError::Unavailable(_)) => Outcome::Unreachable,
            Err(ClientError::NotSignedIn(reason)) => Outcome::SignInNeeded(reason.clone()),
            Err(other) => Outcome::Failed(other.to_string()),
        }
    }
}

async fn announce(
    events: &broadcast::Sender<Event>,
    engine: &Arc<Mutex<Engine>>,
    outcome: &Outcome,
    report: Option<&SyncReport>,
    first: bool,
) {
    if let Outcome::SignInNeeded(reason) = outcome {
        let _ = events.send(Event::SignInExpired { reason: reason.clone() });
    }
    let Some(r) = report else { return };
    if r.rejected > 0 {
        let latest = engine.lock().await.attention().ok().and_then(|mut a| a.pop());
        let latest = latest.map(|a| a.reason).unwrap_or_default();
        let _ = events.send(Event::Rejected { count: r.rejected, latest });
    }
    if r.overwritten > 0 {
        let _ = events.send(Event::Overwritten { count: r.overwritten });
    }
    // The first sync that brought data (an interrupted first sync resumes with a cursor,
    // so `first` is about the profile being empty when this sync began).
    if first && r.pulled > 0 {
        let _ = events.send(Event::FirstSyncDone { rows: r.pulled });
    }
    for text in &r.notices {
        let _ = events.send(Event::Notice { text: text.clone() });
    }
}

//! Live updates across server instances on PostgreSQL: a dedicated connection LISTENs on
//! the channel every committed write NOTIFYs (in its transaction, or for pushes through
//! [`Notifier`] right after; see `db.rs`). A notification
//! carries the highest seq the write logged, which moves this instance's head and wakes
//! its long polls; one without (a write that logged nothing, or a reconnect) makes the
//! instance re-read the head.

use std::sync::Arc;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use tokio::sync::{mpsc, watch};

use crate::db::CHANGES_CHANNEL;
use crate::http::AppState;

/// How often the listener checks whether the server is stopping.
const STOP_CHECK: Duration = Duration::from_millis(250);

/// Runs on its own thread until the server stops: forwards every notification's seq to
/// `wake` (`None`: re-read the head).
/// A lost connection is re-established (and the head re-read, since notifications sent
/// meanwhile are gone).
pub fn run(config: postgres::Config, wake: mpsc::UnboundedSender<Option<i64>>, stop: watch::Receiver<bool>) {
    let stopping = || *stop.borrow();
    while !stopping() {
        let mut client = match config.connect(postgres::NoTls) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot connect the change listener; retrying in 1 s");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        if let Err(e) = client.batch_execute(&format!("LISTEN {CHANGES_CHANNEL}")) {
            tracing::warn!(error = %e, "cannot LISTEN for changes; retrying in 1 s");
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        let _ = wake.send(None); // catch up on anything committed while not listening
        loop {
            // A fresh iterator each time: its timer starts at creation, and an expired
            // timer would make every later call return at once without ever waiting on
            // (and so reading) the socket.
            match client.notifications().timeout_iter(STOP_CHECK).next() {
                Ok(Some(n)) => {
                    if wake.send(n.payload().parse().ok()).is_err() {
                        return;
                    }
                }
                Ok(None) if stopping() => return,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the change listener lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Moves the head to the highest seq of each burst of notifications, re-reading it once
/// when one of them carries none.
pub async fn wake_on_notify(state: Arc<AppState>, mut rx: mpsc::UnboundedReceiver<Option<i64>>) {
    while let Some(first) = rx.recv().await {
        let (mut highest, mut reread) = (first.unwrap_or(0), first.is_none());
        while let Ok(next) = rx.try_recv() {
            highest = highest.max(next.unwrap_or(0));
            reread |= next.is_none();
        }
        state.db.advance_head(highest);
        if reread {
            if let Err(e) = state.refresh_head().await {
                tracing::warn!(error = %e, "cannot read the change head");
            }
        }
    }
}

/// Tells the other instances sharing the database how far the change log has committed,
/// outside the writers' transactions. A concurrent write (a push) hands its seq over once
/// it has committed; a thread with its own connection sends one NOTIFY per burst, carrying
/// the highest seq. The NOTIFY (which PostgreSQL serialises across the whole cluster at
/// commit) is so kept out of the ordered tail of every push. Ordered writes still NOTIFY
/// in their own transaction (`db.rs`): a command-line process may exit right after one.
pub struct Notifier {
    state: Arc<(std::sync::Mutex<Sent>, std::sync::Condvar)>,
}

#[derive(Default)]
struct Sent {
    /// The highest seq committed, and the highest sent.
    committed: i64,
    sent: i64,
    stop: bool,
}

/// How long the notifier waits before it connects again after a failure.
const RECONNECT: Duration = Duration::from_secs(1);

impl Notifier {
    pub fn start(config: postgres::Config) -> std::io::Result<Notifier> {
        let state: Arc<(std::sync::Mutex<Sent>, std::sync::Condvar)> = Arc::default();
        let shared = state.clone();
        std::thread::Builder::new().name("fieldsync-notify".into()).spawn(move || notify_loop(&config, &shared))?;
        Ok(Notifier { state })
    }

    /// Seq `seq` and every seq below it are committed.
    pub fn committed(&self, seq: i64) {
        let (lock, wake) = &*self.state;
        let mut sent = lock.lock().unwrap_or_else(|p| p.into_inner());
        if seq > sent.committed {
            sent.committed = seq;
            wake.notify_one();
        }
    }
}

impl Drop for Notifier {
    /// The thread sends what is still unsent, then ends.
    fn drop(&mut self) {
        let (lock, wake) = &*self.state;
        lock.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
        wake.notify_one();
    }
}

fn notify_loop(config: &postgres::Config, state: &(std::sync::Mutex<Sent>, std::sync::Condvar)) {
    let (lock, wake) = state;
    let mut client: Option<postgres::Client> = None;
    loop {
        let seq = {
            let mut sent = lock.lock().unwrap_or_else(|p| p.into_inner());
            while sent.committed <= sent.sent && !sent.stop {
                sent = wake.wait(sent).unwrap_or_else(|p| p.into_inner());
            }
            if sent.committed <= sent.sent {
                return; // stopping, and everything is sent
            }
            sent.committed
        };
        let conn = match client.as_mut() {
            Some(c) => c,
            None => match config.connect(postgres::NoTls) {
                Ok(c) => client.insert(c),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot connect the change notifier; retrying in 1 s");
                    if lock.lock().unwrap_or_else(|p| p.into_inner()).stop {
                        return;
                    }
                    std::thread::sleep(RECONNECT);
                    continue;
                }
            },
        };
        match conn.execute("SELECT pg_notify($1, $2)", &[&CHANGES_CHANNEL, &seq.to_string()]) {
            Ok(_) => {
                let mut sent = lock.lock().unwrap_or_else(|p| p.into_inner());
                sent.sent = sent.sent.max(seq);
            }
            Err(e) => {
                tracing::warn!(error = %e, "the change notifier lost its connection; reconnecting");
                client = None;
            }
        }
    }
}

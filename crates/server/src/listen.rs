//! Live updates across server instances on PostgreSQL: a dedicated connection LISTENs on
//! the channel every write transaction NOTIFYs on commit (see `db.rs`). A notification
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

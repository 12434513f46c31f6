//! Live updates across server instances on PostgreSQL: a dedicated connection LISTENs on
//! the channel every write transaction NOTIFYs on commit (see `db.rs`), and each
//! notification makes this instance re-read the change head, which wakes its long polls.

use std::sync::Arc;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use tokio::sync::{mpsc, watch};

use crate::db::CHANGES_CHANNEL;
use crate::http::AppState;

/// How often the listener checks whether the server is stopping.
const STOP_CHECK: Duration = Duration::from_millis(250);

/// Runs on its own thread until the server stops: forwards every notification to `wake`.
/// A lost connection is re-established (and the head re-read, since notifications sent
/// meanwhile are gone).
pub fn run(config: postgres::Config, wake: mpsc::UnboundedSender<()>, stop: watch::Receiver<bool>) {
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
        let _ = wake.send(()); // catch up on anything committed while not listening
        loop {
            // A fresh iterator each time: its timer starts at creation, and an expired
            // timer would make every later call return at once without ever waiting on
            // (and so reading) the socket.
            match client.notifications().timeout_iter(STOP_CHECK).next() {
                Ok(Some(_)) => {
                    if wake.send(()).is_err() {
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

/// Re-reads the head once per burst of notifications.
pub async fn wake_on_notify(state: Arc<AppState>, mut rx: mpsc::UnboundedReceiver<()>) {
    while rx.recv().await.is_some() {
        while rx.try_recv().is_ok() {}
        if let Err(e) = state.refresh_head().await {
            tracing::warn!(error = %e, "cannot read the change head");
        }
    }
}

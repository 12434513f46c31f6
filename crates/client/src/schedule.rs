//! When to sync: the background task's decisions as a pure state machine. It takes
//! inputs (a local change, a finished sync, a probe result, a command, the time) and says
//! what to do next; the async driver in `background.rs` does the I/O. Being pure, it is
//! tested with simulated time.

use serde::Serialize;

/// What the app and the tray show.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    /// Not started yet, or signed out.
    Idle,
    /// The server cannot be reached; local work continues. Probing again at `next_probe_ms`.
    Offline {
        #[ts(type = "number")]
        since_ms: i64,
        #[ts(type = "number")]
        next_probe_ms: i64,
    },
    /// A sync is running; `percent` of the pull done, `rows` received so far.
    Syncing { rows: usize, percent: u8 },
    /// Everything is synced as of `last_ok_ms`.
    UpToDate {
        #[ts(type = "number")]
        last_ok_ms: i64,
    },
    /// The last sync failed for a reason other than being offline; retrying at `retry_at_ms`.
    Failed {
        error: String,
        #[ts(type = "number")]
        retry_at_ms: i64,
    },
    /// The session expired or was refused: the user must sign in again.
    SignInNeeded { reason: String },
    /// The user paused syncing.
    Paused,
}

/// Timings of the background task, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Wait this long after a local change before syncing, so a burst of edits syncs once.
    pub debounce_ms: i64,
    /// Sync at least this often while online.
    pub periodic_ms: i64,
    /// Probe the server this often while offline (`GET /v1/health`, nothing else). Not
    /// backed off: a probe is cheap, and a server that comes back is noticed within
    /// `probe_ms × (1 + jitter)` however long it was away.
    pub probe_ms: i64,
    /// The first probe after a sync that lost the server when the previous sync had
    /// worked: a connection cut by flaky Wi-Fi is usually back at once, so the rep waits
    /// about a second instead of `probe_ms` (`fieldsync-bench network --profile
    /// flaky-wifi`, docs/PERFORMANCE.md).
    pub reconnect_ms: i64,
    /// First retry delay after a failure; doubles per consecutive failure.
    pub backoff_base_ms: i64,
    pub backoff_max_ms: i64,
    /// Random spread of retry delays (0.2 = ±20%), so clients do not retry in lockstep.
    pub jitter: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            debounce_ms: 3_000,
            periodic_ms: 5 * 60_000,
            probe_ms: 5_000,
            reconnect_ms: 1_000,
            backoff_base_ms: 2_000,
            backoff_max_ms: 5 * 60_000,
            jitter: 0.2,
        }
    }
}

/// How a sync ended, as far as scheduling cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok,
    /// No connection to the server.
    Unreachable,
    /// The server refused the session.
    SignInNeeded(String),
    /// Anything else (server error, local storage error).
    Failed(String),
}

/// What the driver should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Sync,
    Probe,
}

#[derive(Debug, Clone)]
pub struct Scheduler {
    policy: Policy,
    state: SyncState,
    /// A sync is wanted at or after this time.
    sync_due: Option<i64>,
    probe_due: Option<i64>,
    failures: u32,
    running: bool,
    paused: bool,
    rng: u64,
}

impl Scheduler {
    pub fn new(policy: Policy, seed: u64) -> Self {
        Scheduler {
            policy,
            state: SyncState::Idle,
            sync_due: None,
            probe_due: None,
            failures: 0,
            running: false,
            paused: false,
            rng: seed | 1,
        }
    }

    pub fn state(&self) -> &SyncState {
        &self.state
    }

    /// Starts scheduling: sync right away.
    pub fn start(&mut self, now: i64) {
        self.sync_due = Some(now);
    }

    /// The user changed something locally: sync shortly (debounced).
    pub fn local_change(&mut self, now: i64) {
        let at = now + self.policy.debounce_ms;
        if !matches!(self.state, SyncState::Offline { .. } | SyncState::SignInNeeded { .. }) {
            self.sync_due = Some(self.sync_due.map_or(at, |d| d.min(at)));
        }
    }

    /// The server has news for us (a long poll answered): sync now.
    pub fn server_news(&mut self, now: i64) {
        self.sync_now(now);
    }

    /// "Sync now" from the tray or the app; also leaves the offline wait.
    pub fn sync_now(&mut self, now: i64) {
        self.sync_due = Some(now);
        self.probe_due = None;
    }

    pub fn pause(&mut self) {
        self.paused = true;
        if !self.running {
            self.state = SyncState::Paused;
        }
    }

    pub fn resume(&mut self, now: i64) {
        self.paused = false;
        self.state = SyncState::Idle;
        self.sync_now(now);
    }

    /// What is due at `now`, if anything. A returned `Sync` is considered running until
    /// [`Scheduler::sync_finished`].
    pub fn poll(&mut self, now: i64) -> Option<Action> {
        if self.paused || self.running || matches!(self.state, SyncState::SignInNeeded { .. }) {
            return None;
        }
        if self.probe_due.is_some_and(|t| t <= now) {
            self.probe_due = None;
            return Some(Action::Probe);
        }
        if self.sync_due.is_some_and(|t| t <= now) {
            self.sync_due = None;
            self.running = true;
            self.state = SyncState::Syncing { rows: 0, percent: 0 };
            return Some(Action::Sync);
        }
        None
    }

    pub fn progress(&mut self, rows: usize, percent: u8) {
        if self.running {
            self.state = SyncState::Syncing { rows, percent };
        }
    }

    pub fn sync_finished(&mut self, outcome: Outcome, now: i64) {
        self.running = false;
        match outcome {
            Outcome::Ok => {
                self.failures = 0;
                self.state = SyncState::UpToDate { last_ok_ms: now };
                let periodic = now + self.policy.periodic_ms;
                self.sync_due = Some(self.sync_due.map_or(periodic, |d| d.min(periodic)));
            }
            Outcome::Unreachable => {
                let was_online = self.failures == 0 && !matches!(self.state, SyncState::Offline { .. });
                self.failures += 1;
                let since = match self.state {
                    SyncState::Offline { since_ms, .. } => since_ms,
                    _ => now,
                };
                let wait = if was_online { self.policy.reconnect_ms } else { self.policy.probe_ms };
                let next = now + self.jittered(wait);
                self.state = SyncState::Offline { since_ms: since, next_probe_ms: next };
                self.sync_due = None;
                self.probe_due = Some(next);
            }
            Outcome::SignInNeeded(reason) => {
                self.state = SyncState::SignInNeeded { reason };
                self.sync_due = None;
                self.probe_due = None;
            }
            Outcome::Failed(error) => {
                self.failures += 1;
                let retry = now + self.backoff(self.policy.backoff_base_ms);
                self.state = SyncState::Failed { error, retry_at_ms: retry };
                self.sync_due = Some(retry);
            }
        }
        if self.paused {
            self.state = SyncState::Paused;
        }
    }

    /// A probe answered: reachable means sync now; unreachable means probe again later.
    pub fn probe_finished(&mut self, reachable: bool, now: i64) {
        if reachable {
            self.sync_now(now);
        } else {
            self.sync_finished(Outcome::Unreachable, now);
        }
    }

    /// When the driver should wake up next (None: only on input).
    pub fn next_wakeup(&self) -> Option<i64> {
        if self.paused || self.running {
            return None;
        }
        [self.sync_due, self.probe_due].into_iter().flatten().min()
    }

    /// Exponential backoff from `base` by consecutive failures, capped, with jitter.
    fn backoff(&mut self, base: i64) -> i64 {
        let exp = base.saturating_mul(1 << self.failures.saturating_sub(1).min(20));
        let capped = exp.min(self.policy.backoff_max_ms).max(base.min(self.policy.backoff_max_ms));
        self.jittered(capped)
    }

    /// `delay` spread by the policy's jitter, so clients do not act in lockstep.
    fn jittered(&mut self, delay: i64) -> i64 {
        // xorshift: deterministic per seed, good enough to spread retries.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let unit = (self.rng % 10_000) as f64 / 10_000.0 * 2.0 - 1.0;
        ((delay as f64) * (1.0 + self.policy.jitter * unit)).round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched() -> Scheduler {
        Scheduler::new(Policy::default(), 42)
    }

    #[test]
    fn a_burst_of_local_changes_syncs_once_after_the_debounce() {
        let mut s = sched();
        s.start(0);
        assert_eq!(s.poll(0), Some(Action::Sync));
        s.sync_finished(Outcome::Ok, 100);
        for t in [1_000, 1_500, 2_000] {
            s.local_change(t);
        }
        assert_eq!(s.poll(3_999), None);
        assert_eq!(s.next_wakeup(), Some(4_000), "debounced from the first change");
        assert_eq!(s.poll(4_000), Some(Action::Sync));
        assert_eq!(s.poll(4_001), None, "one sync at a time");
    }

    #[test]
    fn offline_probes_stay_frequent_so_a_returning_server_is_synced_within_seconds() {
        let mut s = sched();
        s.start(0);
        let mut now = 0;
        let mut delays = Vec::new();
        assert_eq!(s.poll(now), Some(Action::Sync));
        s.sync_finished(Outcome::Unreachable, now);
        // Two hours away: probes never drift apart.
        while now < 2 * 3_600_000 {
            let next = s.next_wakeup().unwrap();
            delays.push(next - now);
            now = next;
            assert_eq!(s.poll(now), Some(Action::Probe));
            s.probe_finished(false, now);
            assert!(matches!(s.state(), SyncState::Offline { since_ms: 0, .. }));
        }
        let p = Policy::default();
        let around = |ms: i64| (ms as f64 * 0.8) as i64 - 1..=(ms as f64 * 1.2) as i64 + 1;
        assert!(around(p.reconnect_ms).contains(&delays[0]), "a lost connection is retried soon: {delays:?}");
        let (low, high) = (*around(p.probe_ms).start(), *around(p.probe_ms).end());
        assert!(delays[1..].iter().all(|d| (low..=high).contains(d)), "{low}..{high}: {delays:?}");
        assert!(high <= 10_000, "the server back is noticed within 10 s");
        assert!(delays.windows(2).any(|w| w[0] != w[1]), "jittered: {delays:?}");
        s.probe_finished(true, now + 1);
        assert_eq!(s.poll(now + 1), Some(Action::Sync), "reconnecting syncs at once");
        s.sync_finished(Outcome::Ok, now + 2);
        assert_eq!(s.state(), &SyncState::UpToDate { last_ok_ms: now + 2 });
        assert_eq!(s.next_wakeup(), Some(now + 2 + p.periodic_ms), "then periodically");
    }

    #[test]
    fn a_connection_lost_after_working_syncs_is_retried_within_about_a_second_each_time() {
        let p = Policy::default();
        let mut s = sched();
        s.start(0);
        let mut now = 0;
        for _ in 0..3 {
            assert_eq!(s.poll(now), Some(Action::Sync));
            s.sync_finished(Outcome::Ok, now);
            now += 1_000;
            s.sync_now(now);
            assert_eq!(s.poll(now), Some(Action::Sync));
            s.sync_finished(Outcome::Unreachable, now);
            let wait = s.next_wakeup().unwrap() - now;
            assert!(wait <= (p.reconnect_ms as f64 * 1.2) as i64 + 1 && wait < p.probe_ms, "{wait} ms");
            now += wait;
            assert_eq!(s.poll(now), Some(Action::Probe));
            s.probe_finished(true, now);
        }
        // A second loss in a row means a real outage: probes go back to `probe_ms`.
        assert_eq!(s.poll(now), Some(Action::Sync));
        s.sync_finished(Outcome::Unreachable, now);
        now = s.next_wakeup().unwrap();
        assert_eq!(s.poll(now), Some(Action::Probe));
        s.probe_finished(true, now);
        assert_eq!(s.poll(now), Some(Action::Sync));
        s.sync_finished(Outcome::Unreachable, now);
        assert!(s.next_wakeup().unwrap() - now >= (p.probe_ms as f64 * 0.8) as i64 - 1);
    }

    #[test]
    fn failures_retry_with_growing_delays_and_success_resets_them() {
        let mut s = sched();
        s.start(0);
        s.poll(0);
        s.sync_finished(Outcome::Failed("HTTP 500".into()), 0);
        let first = s.next_wakeup().unwrap();
        s.poll(first);
        s.sync_finished(Outcome::Failed("HTTP 500".into()), first);
        let second = s.next_wakeup().unwrap() - first;
        assert!(second > first, "{second} after {first}");
        assert!(matches!(s.state(), SyncState::Failed { error, .. } if error == "HTTP 500"));
        s.poll(first + second);
        s.sync_finished(Outcome::Ok, first + second);
        s.local_change(first + second);
        s.poll(first + second + 3_000);
        s.sync_finished(Outcome::Failed("again".into()), first + second + 3_000);
        let reset = s.next_wakeup().unwrap() - (first + second + 3_000);
        let base = Policy::default().backoff_base_ms as f64;
        assert!((reset as f64) <= base * 1.2 + 1.0, "backoff restarts after a success: {reset}");
    }

    #[test]
    fn paused_and_signed_out_do_nothing_until_told() {
        let mut s = sched();
        s.start(0);
        s.pause();
        assert_eq!(s.state(), &SyncState::Paused);
        assert_eq!(s.poll(10_000), None);
        s.resume(20_000);
        assert_eq!(s.poll(20_000), Some(Action::Sync));
        s.sync_finished(Outcome::SignInNeeded("expired".into()), 20_001);
        s.local_change(20_002);
        assert_eq!(s.poll(99_999), None);
        assert_eq!(s.next_wakeup(), None);
        s.sync_now(100_000);
        assert_eq!(s.poll(100_000), None, "signing in again is needed first");
    }
}

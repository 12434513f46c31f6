//! Long polls: who is waiting, within bounds, and waking exactly those a change concerns.
//!
//! A pull with `wait_ms` registers a [`Waiter`] *before* it reads its page, then waits on
//! it. Bounds: at most [`LongPollLimits::per_session`] waiters per session (a new one
//! answers the oldest at once) and [`LongPollLimits::max_total`] in all (beyond it, `503`).
//!
//! Waking is one task per server ([`run_waker`]): whenever the head moves (a push, an admin
//! change, a writer in another process or instance), it reads the change-log entries in the
//! new range and works out, in a few queries, which waiting users can see any of them
//! (targeted entries name their user; for the rest, the users who may see the changed
//! records, `rules::viewers`, among the waiting ones). Only those waiters wake and read a page; a
//! push nobody waiting can see costs them nothing. The task handles one range at a time, so
//! a burst of pushes is one larger range, not many computations.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use fieldsync_protocol::Registry;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::args;
use crate::http::AppState;
use crate::records::DELETED_MARK;
use crate::sql::{DbError, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongPollLimits {
    /// Long polls one session may hold open; a new one answers the oldest at once.
    pub per_session: usize,
    /// Long polls the server holds open in all; more are answered `503`.
    pub max_total: usize,
}

impl Default for LongPollLimits {
    fn default() -> Self {
        LongPollLimits { per_session: 2, max_total: 10_000 }
    }
}

/// How a wait ended, other than by its deadline or shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// A change this user may see was committed: read a page.
    News,
    /// The session opened another long poll beyond its allowance: answer now.
    Superseded,
}

struct Signal {
    notify: Notify,
    superseded: AtomicBool,
}

struct Entry {
    user: Uuid,
    session: String,
    signal: Arc<Signal>,
}

pub struct Waits {
    limits: LongPollLimits,
    /// By registration order, oldest first.
    polls: Mutex<BTreeMap<u64, Entry>>,
    next: std::sync::atomic::AtomicU64,
}

/// The server holds as many long polls as it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl Waits {
    pub fn new(limits: LongPollLimits) -> Arc<Waits> {
        Arc::new(Waits { limits, polls: Mutex::new(BTreeMap::new()), next: Default::default() })
    }

    fn polls(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.polls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a long poll of `user` on `session`.
    pub fn register(self: &Arc<Self>, user: Uuid, session: &str) -> Result<Waiter, Full> {
        let mut polls = self.polls();
        let mine: Vec<u64> = polls.iter().filter(|(_, e)| e.session == session).map(|(id, _)| *id).collect();
        // The oldest of this session's polls make room (answered at once, as a reconnecting
        // client's abandoned polls would otherwise linger).
        let excess = (mine.len() + 1).saturating_sub(self.limits.per_session.max(1));
        for id in mine.into_iter().take(excess) {
            if let Some(old) = polls.remove(&id) {
                old.signal.superseded.store(true, Ordering::SeqCst);
                old.signal.notify.notify_one();
            }
        }
        if polls.len() >= self.limits.max_total {
            return Err(Full);
        }
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let signal = Arc::new(Signal { notify: Notify::new(), superseded: AtomicBool::new(false) });
        polls.insert(id, Entry { user, session: session.to_string(), signal: signal.clone() });
        Ok(Waiter { id, signal, waits: self.clone() })
    }

    pub fn len(&self) -> usize {
        self.polls().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The users with a long poll open.
    pub fn users(&self) -> BTreeSet<Uuid> {
        self.polls().values().map(|e| e.user).collect()
    }

    /// Wakes every long poll of these users.
    pub fn wake(&self, users: &HashSet<Uuid>) {
        for e in self.polls().values().filter(|e| users.contains(&e.user)) {
            e.signal.notify.notify_one();
        }
    }

    /// Wakes every long poll (when it cannot be known whom a change concerns).
    pub fn wake_all(&self) {
        for e in self.polls().values() {
            e.signal.notify.notify_one();
        }
    }
}

/// One registered long poll; dropping it unregisters it.
pub struct Waiter {
    id: u64,
    signal: Arc<Signal>,
    waits: Arc<Waits>,
}

impl Waiter {
    /// Waits until woken. A wake-up that came before this call is not lost.
    pub async fn woken(&self) -> Woken {
        self.signal.notify.notified().await;
        if self.signal.superseded.load(Ordering::SeqCst) {
            Woken::Superseded
        } else {
            Woken::News
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.waits.polls().remove(&self.id);
    }
}

/// Waiting users up to which [`affected`] probes each one by id; beyond, it reads every user
/// a change concerns and keeps the waiting ones. A probe costs about three index blocks per
/// waiting user (1,250 blocks for 400 of them), a read of the users table one block per 60
/// users (163 blocks for 1,000 users, on PostgreSQL, docs/PERFORMANCE.md).
const PROBE_WAITING_UP_TO: usize = 64;

/// The users among `waiting` for whom the change-log entries with seq in `(from, to]` hold
/// something they may see.
pub fn affected(
    tx: &Tx<'_>,
    reg: &Registry,
    from: i64,
    to: i64,
    waiting: &BTreeSet<Uuid>,
) -> Result<HashSet<Uuid>, DbError> {
    affected_probing(tx, reg, from, to, waiting, PROBE_WAITING_UP_TO)
}

fn affected_probing(
    tx: &Tx<'_>,
    reg: &Registry,
    from: i64,
    to: i64,
    waiting: &BTreeSet<Uuid>,
    probe_up_to: usize,
) -> Result<HashSet<Uuid>, DbError> {
    let mut hit = HashSet::new();
    // Entries targeted at one user (view changes, notices, tombstones).
    let targets: Vec<String> = tx.query(
        "SELECT DISTINCT target FROM changes WHERE seq > ?1 AND seq <= ?2 AND target NOT IN ('', ?3)",
        args![from, to, DELETED_MARK],
        |r| r.get(0),
    )?;
    hit.extend(targets.iter().filter_map(|t| Uuid::parse_str(t).ok()).filter(|u| waiting.contains(u)));
    // Entries for everyone: one query per entity type over the waiting users not yet hit.
    let entities: Vec<String> = tx.query(
        "SELECT DISTINCT entity FROM changes WHERE seq > ?1 AND seq <= ?2 AND target = ''",
        args![from, to],
        |r| r.get(0),
    )?;
    for name in entities {
        let candidates: Vec<&Uuid> = waiting.iter().filter(|u| !hit.contains(*u)).collect();
        let Some(def) = reg.get(&name) else { continue };
        if candidates.is_empty() || def.readers.is_empty() {
            continue;
        }
        // Role names are the registry's constants; the users, when probed, are bound as one
        // list, so the statement's text is the same however many wait (two compiled
        // statements per type).
        let roles: Vec<String> = def.readers.iter().map(|r| format!("'{}'", r.as_str())).collect();
        let mut params = vec![def.name.into(), from.into(), to.into()];
        let only_waiting = match candidates.len() <= probe_up_to {
            true => {
                let ids: Vec<String> = candidates.iter().map(|u| u.to_string()).collect();
                params.push(crate::sql::text_list(ids.iter().map(String::as_str)));
                format!("{} AND ", crate::sql::in_texts(tx.backend(), "u.id", 4))
            }
            false => String::new(),
        };
        // Driven from the changed records (`rules::viewers`): its subqueries are computed
        // once, not once per user.
        let changed = "SELECT record_id FROM changes WHERE entity = ?1 AND seq > ?2 AND seq <= ?3 AND target = ''";
        let sql = format!(
            "SELECT u.id FROM users u WHERE {only_waiting}u.role IN ({}) AND {}",
            roles.join(", "),
            crate::rules::viewers(reg, def, &def.scope, changed, "u.id")
        );
        let users: Vec<String> = tx.query(&sql, &params, |r| r.get(0))?;
        hit.extend(users.iter().filter_map(|u| Uuid::parse_str(u).ok()).filter(|u| waiting.contains(u)));
    }
    Ok(hit)
}

/// Wakes the long polls each head move concerns, one range at a time, until the server
/// stops.
pub async fn run_waker(state: Arc<AppState>) {
    let mut head = state.head.subscribe();
    let mut done = *head.borrow_and_update();
    while head.changed().await.is_ok() {
        let to = *head.borrow_and_update();
        if to <= done {
            continue;
        }
        // Taken after the head moved, so every poll registered before the commit is in it.
        let waiting = state.waits.users();
        if !waiting.is_empty() {
            let (st, from) = (state.clone(), done);
            match state.db.read(move |tx| Ok(affected(tx, &st.registry, from, to, &waiting)?)).await {
                Ok(users) => state.waits.wake(&users),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot tell whom a change concerns; waking every long poll");
                    state.waits.wake_all();
                }
            }
        }
        done = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_holds_two_polls_and_a_third_answers_the_oldest() {
        let waits = Waits::new(LongPollLimits { per_session: 2, max_total: 3 });
        let user = Uuid::now_v7();
        let first = waits.register(user, "s1").unwrap();
        let _second = waits.register(user, "s1").unwrap();
        let _third = waits.register(user, "s1").unwrap();
        assert_eq!(first.woken().await, Woken::Superseded);
        assert_eq!(waits.len(), 2);
        let _other = waits.register(Uuid::now_v7(), "s2").unwrap();
        assert!(waits.register(Uuid::now_v7(), "s3").is_err(), "over the server-wide cap");
    }

    #[tokio::test]
    async fn only_the_named_users_wake_and_an_early_wake_is_kept() {
        let waits = Waits::new(LongPollLimits::default());
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let wa = waits.register(a, "sa").unwrap();
        let wb = waits.register(b, "sb").unwrap();
        waits.wake(&HashSet::from([a]));
        assert_eq!(wa.woken().await, Woken::News, "woken before it waited");
        let b_woken = tokio::time::timeout(std::time::Duration::from_millis(20), wb.woken()).await;
        assert!(b_woken.is_err(), "b was not concerned");
        drop(wa);
        assert_eq!(waits.users(), BTreeSet::from([b]));
    }

    /// `rules::viewers`, which picks whom to wake, must name everyone who may see a
    /// changed record (a user left out would miss news until their next sync), and on
    /// the demo data exactly them for every scope without `AllOf`: checked against the
    /// pull's own predicate (`rules::sightings`) for every record of every type.
    #[test]
    fn the_users_woken_for_a_change_are_those_who_may_see_it() {
        use crate::db::{Db, Location};
        let dir = tempfile::tempdir().unwrap();
        let db =
            Db::open(&Location::Sqlite(dir.path().into()), &fieldsync_protocol::Registry::standard(), &[]).unwrap();
        let reg = Registry::standard();
        db.write_blocking(|tx| crate::seed::seed_demo(tx, &reg)).unwrap();
        db.read_blocking(|tx| -> Result<(), DbError> {
            let all: BTreeSet<Uuid> = tx
                .query("SELECT id FROM users", args![], |r| r.get::<String>(0))?
                .iter()
                .map(|u| u.parse().unwrap())
                .collect();
            let mut checked = 0;
            for def in reg.entities().iter().filter(|d| !d.readers.is_empty()) {
                let ids: Vec<String> =
                    tx.query(&format!("SELECT id FROM \"{}\" ORDER BY id", def.name), args![], |r| r.get(0))?;
                let exact_scope = !format!("{:?}", def.scope).contains("AllOf");
                let roles: Vec<String> = def.readers.iter().map(|r| format!("'{}'", r.as_str())).collect();
                let sql = format!(
                    "SELECT u.id FROM users u WHERE u.role IN ({}) AND {}",
                    roles.join(", "),
                    crate::rules::viewers(&reg, def, &def.scope, "SELECT CAST(?1 AS TEXT)", "u.id")
                );
                // Every record alone, then every record at once.
                let step = (ids.len() / 40).max(1);
                for id in ids.iter().step_by(step) {
                    let seen: BTreeSet<Uuid> = crate::rules::sightings(tx, &reg, def, std::slice::from_ref(id))?
                        .iter()
                        .map(|(u, _)| u.parse().unwrap())
                        .collect();
                    let woken: BTreeSet<Uuid> = tx
                        .query(&sql, args![id.as_str()], |r| r.get::<String>(0))?
                        .iter()
                        .map(|u| u.parse().unwrap())
                        .collect();
                    assert!(woken.is_superset(&seen), "{} {id}: {seen:?} not all in {woken:?}", def.name);
                    if exact_scope {
                        assert_eq!(woken, seen, "{} {id}", def.name);
                    }
                    checked += 1;
                }
                let seen: BTreeSet<Uuid> =
                    crate::rules::sightings(tx, &reg, def, &ids)?.iter().map(|(u, _)| u.parse().unwrap()).collect();
                // Every user probed by id, then every user the changes concern read at once.
                let probed: BTreeSet<Uuid> = affected_by_all(tx, &reg, def, &all, usize::MAX)?.into_iter().collect();
                let read: BTreeSet<Uuid> = affected_by_all(tx, &reg, def, &all, 0)?.into_iter().collect();
                assert_eq!(probed, read, "{}: the two ways of finding whom to wake", def.name);
                if !probed.is_empty() {
                    assert!(probed.is_superset(&seen), "{}: all records", def.name);
                }
            }
            assert!(checked > 200, "{checked} records checked");
            Ok(())
        })
        .unwrap();
    }

    /// `affected` over the whole change log of `def` (empty when it has none), probing up
    /// to `probe_up_to` waiting users by id.
    fn affected_by_all(
        tx: &Tx<'_>,
        reg: &Registry,
        def: &fieldsync_protocol::EntityDef,
        waiting: &BTreeSet<Uuid>,
        probe_up_to: usize,
    ) -> Result<HashSet<Uuid>, DbError> {
        let sql = "SELECT min(seq) - 1, max(seq) FROM changes WHERE entity = ?1";
        let range: (Option<i64>, Option<i64>) = tx.query_one(sql, args![def.name], |r| Ok((r.get(0)?, r.get(1)?)))?;
        match range {
            (Some(from), Some(to)) => affected_probing(tx, reg, from, to, waiting, probe_up_to),
            _ => Ok(HashSet::new()),
        }
    }
}

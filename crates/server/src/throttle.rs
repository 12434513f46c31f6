//! Bounds on what sign-in attempts may cost: a rate per account and per client address
//! (token buckets, answered with `429` and `Retry-After`), and a cap on password hash
//! checks running and waiting at once (argon2 takes about 19 MiB and tens of
//! milliseconds of CPU each).
//!
//! The buckets live in memory, per server instance, in maps of bounded size.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most distinct accounts or addresses tracked at once; beyond it, idle entries are
/// dropped, and when none is idle new keys are refused until some are.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLimits {
    /// Sign-in attempts one account allows per window (failed or not).
    pub per_account: u32,
    /// Sign-in attempts one client address (an IPv6 /64) may make per window.
    pub per_address: u32,
    /// The window both rates refer to; a bucket refills evenly over it.
    pub window: Duration,
    /// Password checks running at once.
    pub hash_concurrency: usize,
    /// Password checks waiting for a turn; more are answered `503` at once.
    pub hash_queue: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        LoginLimits {
            per_account: 5,
            per_address: 30,
            window: Duration::from_secs(60),
            // Half the cores: sign-ins must not starve syncs of CPU.
            hash_concurrency: (cores / 2).max(1),
            hash_queue: 64,
        }
    }
}

/// Why an attempt may not run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Too many attempts for this account or from this address; retry after the delay.
    TooMany { retry_after: Duration },
    /// Too many password checks queued; retry shortly.
    Busy,
}

/// One token bucket: `tokens` left at `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Buckets<K> {
    capacity: f64,
    /// Tokens regained per second.
    refill: f64,
    map: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn new(capacity: u32, window: Duration) -> Self {
        let capacity = f64::from(capacity.max(1));
        Buckets { capacity, refill: capacity / window.as_secs_f64().max(0.001), map: HashMap::new() }
    }

    fn level(&self, b: &Bucket, now: Instant) -> f64 {
        (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * self.refill).min(self.capacity)
    }

    /// Takes one token for `key`, or says how long until one is back.
    fn take(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        if !self.map.contains_key(key) && self.map.len() >= MAX_TRACKED {
            // A full bucket says nothing a missing one does not: forget those.
            let (capacity, refill) = (self.capacity, self.refill);
            self.map.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * refill < capacity);
            if self.map.len() >= MAX_TRACKED {
                return Err(Duration::from_secs_f64(1.0 / self.refill));
            }
        }
        let level = self.map.get(key).map_or(self.capacity, |b| self.level(b, now));
        if level < 1.0 {
            return Err(Duration::from_secs_f64((1.0 - level) / self.refill));
        }
        self.map.insert(key.clone(), Bucket { tokens: level - 1.0, at: now });
        Ok(())
    }

    /// Gives back a token taken for `key` (an attempt that turned out to be legitimate).
    fn refund(&mut self, key: &K, now: Instant) {
        if let Some(b) = self.map.get(key).copied() {
            let level = (self.level(&b, now) + 1.0).min(self.capacity);
            self.map.insert(key.clone(), Bucket { tokens: level, at: now });
        }
    }
}

pub struct LoginThrottle {
    accounts: Mutex<Buckets<String>>,
    addresses: Mutex<Buckets<IpAddr>>,
    hashing: Arc<Semaphore>,
    /// One argon2 work area per turn, kept and reused: memory freed after each check is
    /// not reliably given back to the system (measured: +19 MiB RSS per sign-in).
    work_areas: Arc<Mutex<Vec<Vec<argon2::Block>>>>,
    waiting: AtomicUsize,
    hash_queue: usize,
}

/// A turn to check one password: holds a place under the concurrency cap and a reusable
/// work area. Move it into the thread that hashes; dropping it ends the turn.
pub struct HashTurn {
    _permit: OwnedSemaphorePermit,
    work: Vec<argon2::Block>,
    pool: Arc<Mutex<Vec<Vec<argon2::Block>>>>,
}

impl HashTurn {
    /// The work area (grown by the hash check to the size its parameters need).
    pub fn work_area(&mut self) -> &mut Vec<argon2::Block> {
        &mut self.work
    }
}

impl Drop for HashTurn {
    fn drop(&mut self) {
        let work = std::mem::take(&mut self.work);
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(work);
    }
}

/// The key an address is limited by: IPv4 as is, IPv6 by its /64 (one subscriber's
/// network hands out any address inside it).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl LoginThrottle {
    pub fn new(limits: &LoginLimits) -> Self {
        LoginThrottle {
            accounts: Mutex::new(Buckets::new(limits.per_account, limits.window)),
            addresses: Mutex::new(Buckets::new(limits.per_address, limits.window)),
            hashing: Arc::new(Semaphore::new(limits.hash_concurrency.max(1))),
            work_areas: Arc::new(Mutex::new(Vec::new())),
            waiting: AtomicUsize::new(0),
            hash_queue: limits.hash_queue,
        }
    }

    /// Counts an attempt against the address and the account (by its lower-cased name).
    pub fn attempt(&self, username: &str, peer: Option<IpAddr>) -> Result<(), Denied> {
        let now = Instant::now();
        if let Some(ip) = peer {
            let mut addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
            addresses.take(&address_key(ip), now).map_err(|retry_after| Denied::TooMany { retry_after })?;
        }
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        accounts.take(&username.to_lowercase(), now).map_err(|retry_after| Denied::TooMany { retry_after })
    }

    /// A successful sign-in does not use up the account's allowance.
    pub fn succeeded(&self, username: &str) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        accounts.refund(&username.to_lowercase(), Instant::now());
    }

    /// Waits for a turn to check a password, unless too many are waiting already.
    pub async fn hash_turn(&self) -> Result<HashTurn, Denied> {
        let permit = self.permit().await?;
        let work = self.work_areas.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default();
        Ok(HashTurn { _permit: permit, work, pool: self.work_areas.clone() })
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, Denied> {
        if let Ok(permit) = self.hashing.clone().try_acquire_owned() {
            return Ok(permit);
        }
        // Counted while waiting, and uncounted however the wait ends (a client that hangs
        // up drops this future mid-wait).
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        if queued >= self.hash_queue {
            return Err(Denied::Busy);
        }
        self.hashing.clone().acquire_owned().await.map_err(|_| Denied::Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_account: u32, per_address: u32) -> LoginLimits {
        LoginLimits { per_account, per_address, window: Duration::from_secs(60), hash_concurrency: 1, hash_queue: 1 }
    }

    #[test]
    fn an_account_allows_its_attempts_per_window_then_says_when_to_retry() {
        let t = LoginThrottle::new(&limits(3, 100));
        let ip = Some("10.0.0.1".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(t.attempt("rep1", ip), Ok(()));
        }
        let Err(Denied::TooMany { retry_after }) = t.attempt("REP1", ip) else { panic!("fourth attempt allowed") };
        // One token comes back every 60 s / 3.
        assert!(retry_after > Duration::from_secs(19) && retry_after <= Duration::from_secs(20), "{retry_after:?}");
        assert_eq!(t.attempt("rep2", ip), Ok(()), "other accounts are not affected");
    }

    #[test]
    fn a_success_gives_the_attempt_back() {
        let t = LoginThrottle::new(&limits(1, 100));
        assert_eq!(t.attempt("rep1", None), Ok(()));
        t.succeeded("rep1");
        assert_eq!(t.attempt("rep1", None), Ok(()));
        assert!(t.attempt("rep1", None).is_err());
    }

    #[test]
    fn an_address_is_limited_across_accounts_and_ipv6_by_its_64() {
        let t = LoginThrottle::new(&limits(100, 2));
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(t.attempt("u1", Some(a)), Ok(()));
        assert_eq!(t.attempt("u2", Some(b)), Ok(()));
        assert!(matches!(t.attempt("u3", Some(a)), Err(Denied::TooMany { .. })));
        assert_eq!(t.attempt("u4", Some("2001:db8:1:3::1".parse().unwrap())), Ok(()));
    }

    #[tokio::test]
    async fn password_checks_wait_in_a_bounded_queue() {
        let t = LoginThrottle::new(&limits(100, 100));
        let running = t.hash_turn().await.expect("first turn");
        // One may wait (hash_queue = 1); the next is refused at once.
        let waiter = t.hash_turn();
        tokio::pin!(waiter);
        assert!(futures_poll_once(waiter.as_mut()).await.is_none(), "the second check waits");
        assert!(matches!(t.hash_turn().await, Err(Denied::Busy)));
        drop(running);
        assert!(waiter.await.is_ok(), "the waiter gets its turn when the first ends");
    }

    /// Polls a future once; `None` if it is still pending.
    async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
        let mut f = f;
        std::future::poll_fn(|cx| match std::pin::Pin::new(&mut f).poll(cx) {
            std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        })
        .await
    }
}

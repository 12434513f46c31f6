//! Prometheus metrics, one registry per server (tests run several in one process): counters
//! and histograms the request path updates, and gauges read when `/metrics` is scraped.
//! docs/OPERATIONS.md lists every metric and the alert to set on it; a test keeps that list
//! and [`Metrics::names`] in step.

use std::time::Duration;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Request-duration buckets, in seconds: a fast pull to a long poll's full wait.
const REQUEST_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Database-wait buckets, in seconds.
const WAIT_BUCKETS: &[f64] = &[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];

/// How long work waited for the database before it could start: a connection from the
/// pool, or the turn of the writes that are serialised (the change log's order). Owned by
/// the `Db`, which measures them; registered with the server's [`Metrics`].
#[derive(Clone)]
pub struct DbWaits {
    pub pool: Histogram,
    pub write_turn: Histogram,
}

impl DbWaits {
    pub fn new() -> DbWaits {
        let histogram = |name: &str, help: &str| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(WAIT_BUCKETS.to_vec()))
                .expect("valid histogram")
        };
        DbWaits {
            pool: histogram("fieldsync_db_pool_wait_seconds", "Time waited for a database connection."),
            write_turn: histogram(
                "fieldsync_db_write_turn_wait_seconds",
                "Time an ordered write waited for its turn (the write lock).",
            ),
        }
    }
}

impl Default for DbWaits {
    fn default() -> Self {
        DbWaits::new()
    }
}

/// What the server counts.
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by route (the path pattern, e.g. `/v1/pull`) and status.
    pub requests: IntCounterVec,
    /// Time to answer, by route (a long poll counts its wait).
    pub request_seconds: HistogramVec,
    /// Pushed mutations by result (`applied`, `merged`, `rejected`) and refusal code.
    pub mutations: IntCounterVec,
    /// Values overwritten by a later edit and written to the conflict log.
    pub conflicts: IntCounter,
    /// Rows (records and deletions) and JSON bytes sent in pull answers.
    pub pulled_rows: IntCounter,
    pub pulled_bytes: IntCounter,
    /// Sign-ins refused for a wrong password or a disabled account.
    pub login_failures: IntCounter,
    /// Requests turned away by a bound, by which (`login_rate`, `login_queue`,
    /// `long_polls`, `imports`).
    pub limited: IntCounterVec,
    /// Read when scraped.
    long_polls_open: IntGauge,
    sessions_active: IntGauge,
    devices: IntGaugeVec,
    fleet_success: Gauge,
    /// Every metric's name, in the order registered.
    names: Vec<String>,
}

/// Registers each metric as it is made, so a metric cannot be made and not exported.
#[derive(Default)]
struct Registering {
    registry: Registry,
    names: Vec<String>,
}

impl Registering {
    fn add<C: prometheus::core::Collector + Clone + 'static>(&mut self, metric: C) -> C {
        self.names.extend(metric.desc().iter().map(|d| d.fq_name.clone()));
        self.registry.register(Box::new(metric.clone())).expect("each metric registered once");
        metric
    }
}

impl Metrics {
    pub fn new(db: &DbWaits) -> Metrics {
        let mut r = Registering::default();
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid counter");
        let counters =
            |name: &str, help: &str, labels: &[&str]| IntCounterVec::new(Opts::new(name, help), labels).expect("valid");
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid gauge");
        r.add(db.pool.clone());
        r.add(db.write_turn.clone());
        Metrics {
            requests: r.add(counters("fieldsync_http_requests_total", "Requests answered.", &["route", "status"])),
            request_seconds: r.add(
                HistogramVec::new(
                    HistogramOpts::new("fieldsync_http_request_duration_seconds", "Time to answer a request.")
                        .buckets(REQUEST_BUCKETS.to_vec()),
                    &["route"],
                )
                .expect("valid histogram"),
            ),
            mutations: r.add(counters("fieldsync_mutations_total", "Pushed mutations by result.", &["result", "code"])),
            conflicts: r.add(counter("fieldsync_conflicts_total", "Overwritten values written to the conflict log.")),
            pulled_rows: r.add(counter("fieldsync_pulled_rows_total", "Rows and deletions sent in pull answers.")),
            pulled_bytes: r.add(counter("fieldsync_pulled_bytes_total", "Uncompressed JSON bytes of pull answers.")),
            login_failures: r
                .add(counter("fieldsync_login_failures_total", "Sign-ins refused: wrong password or disabled.")),
            limited: r.add(counters("fieldsync_limited_total", "Requests turned away by a bound.", &["limit"])),
            long_polls_open: r.add(gauge("fieldsync_long_polls_open", "Clients waiting for changes now.")),
            sessions_active: r.add(gauge("fieldsync_sessions_active", "Sessions neither expired nor revoked.")),
            devices: r.add(
                IntGaugeVec::new(Opts::new("fieldsync_devices", "Devices that reported, by health."), &["health"])
                    .expect("valid gauge"),
            ),
            fleet_success: r.add(
                Gauge::new(
                    "fieldsync_fleet_sync_success_ratio",
                    "Successful syncs over the last 7 days, offline attempts excluded (1 without any).",
                )
                .expect("valid gauge"),
            ),
            registry: r.registry,
            names: r.names,
        }
    }

    /// Every metric name the server exports (histograms add `_bucket`, `_sum`, `_count`).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Counts one answered request.
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        self.requests.with_label_values(&[route, &status.to_string()]).inc();
        self.request_seconds.with_label_values(&[route]).observe(took.as_secs_f64());
    }

    /// The text exposition format, with the gauges set to what they are now.
    pub fn render(&self, long_polls_open: usize, sessions_active: i64, devices: &[crate::devices::Device]) -> String {
        self.long_polls_open.set(long_polls_open as i64);
        self.sessions_active.set(sessions_active);
        let (rate, healthy, unhealthy) = crate::devices::fleet(devices);
        self.devices.with_label_values(&["healthy"]).set(healthy as i64);
        self.devices.with_label_values(&["unhealthy"]).set(unhealthy as i64);
        self.fleet_success.set(rate.unwrap_or(1.0));
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding");
        String::from_utf8(out).expect("UTF-8 metrics")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exported_and_documented() {
        let m = Metrics::new(&DbWaits::new());
        m.request("/v1/pull", 200, Duration::from_millis(3));
        m.mutations.with_label_values(&["applied", ""]).inc();
        m.limited.with_label_values(&["login_rate"]).inc();
        m.conflicts.inc();
        m.pulled_rows.inc();
        m.pulled_bytes.inc();
        m.login_failures.inc();
        let text = m.render(2, 5, &[]);
        assert_eq!(m.names().len(), 14, "{:?}", m.names());
        for name in m.names() {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} is not exported:\n{text}");
        }
        assert!(text.contains("fieldsync_long_polls_open 2") && text.contains("fieldsync_sessions_active 5"));
        let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/OPERATIONS.md")).unwrap();
        for name in m.names() {
            assert!(guide.contains(&format!("`{name}`")), "docs/OPERATIONS.md does not describe {name}");
        }
    }
}

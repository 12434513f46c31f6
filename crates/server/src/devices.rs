//! Per-device sync health, measured where syncs happen: each client reports, after a
//! successful sync, how its syncs went since its last report ([`DeviceReport`]). The server
//! keeps the newest report per device and the outcomes per day, and IT reads them with
//! `fieldsync-server devices` and in `/metrics` (the fleet's success ratio).

use fieldsync_protocol::wire::{DeviceReport, MAX_REPORT_KINDS, MAX_REPORT_TEXT};
use fieldsync_protocol::ErrorCode;
use serde::Serialize;

use crate::args;
use crate::error::AppError;
use crate::sql::Tx;

/// Days of outcomes kept per device; the success rate covers the last [`RATE_DAYS`].
pub const DEVICE_DAYS_KEPT: i64 = 8;
pub const RATE_DAYS: i64 = 7;
/// A device is unhealthy below this share of successful syncs over [`RATE_DAYS`]...
pub const HEALTHY_RATE: f64 = 0.99;
/// ... or when it has not synced successfully for this many days.
pub const STALE_DAYS: i64 = 3;

const DAY_MS: i64 = fieldsync_protocol::time::DAY_MS;

/// One device as IT sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    pub user: String,
    pub client_id: String,
    /// The computer's name, from its newest session.
    pub device: Option<String>,
    pub app_version: Option<String>,
    pub last_report_at: String,
    pub last_ok_at: Option<String>,
    pub pending: i64,
    /// Over the last [`RATE_DAYS`] days.
    pub ok: i64,
    pub failed: i64,
    pub offline: i64,
    /// `ok / (ok + failed)`; offline attempts do not count. `None` without attempts.
    pub success_rate: Option<f64>,
    pub last_error: Option<String>,
    pub healthy: bool,
}

/// Refuses a report with more than the protocol allows.
pub fn check(report: &DeviceReport) -> Result<(), AppError> {
    let bad = |what: &str| AppError::bad(ErrorCode::InvalidRequest, format!("The device report {what}."));
    if report.failed.len() > MAX_REPORT_KINDS {
        return Err(bad(&format!("names more than {MAX_REPORT_KINDS} kinds of failure")));
    }
    let too_long = |t: &str| t.chars().count() > MAX_REPORT_TEXT;
    if too_long(&report.app_version)
        || report.last_error.as_deref().is_some_and(too_long)
        || report.failed.keys().any(|k| too_long(k))
    {
        return Err(bad(&format!("has a text longer than {MAX_REPORT_TEXT} characters")));
    }
    Ok(())
}

/// Records a report from `user_id`'s client at `now_ms`, and forgets days no longer kept.
pub fn record(tx: &Tx<'_>, user_id: &str, report: &DeviceReport, now_ms: i64) -> Result<(), AppError> {
    let client = report.client_id.to_string();
    let failed: i64 = report.failed.values().map(|n| i64::from(*n)).sum();
    let (ok, offline) = (i64::from(report.ok), i64::from(report.offline));
    let last_ok = (ok > 0).then_some(now_ms);
    let last_error = report.last_error.as_deref().filter(|_| failed > 0);
    tx.execute(
        "INSERT INTO devices (client_id, user_id, app_version, pending, last_report_ms, last_ok_ms, last_error, last_error_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (client_id) DO UPDATE SET user_id = excluded.user_id, app_version = excluded.app_version, \
           pending = excluded.pending, last_report_ms = excluded.last_report_ms, \
           last_ok_ms = coalesce(excluded.last_ok_ms, devices.last_ok_ms), \
           last_error = coalesce(excluded.last_error, devices.last_error), \
           last_error_ms = coalesce(excluded.last_error_ms, devices.last_error_ms)",
        args![
            client.as_str(),
            user_id,
            report.app_version.as_str(),
            i64::from(report.pending),
            now_ms,
            last_ok,
            last_error,
            last_error.map(|_| now_ms)
        ],
    )?;
    let today = fieldsync_protocol::time::pricing_day(now_ms);
    tx.execute(
        "INSERT INTO device_days (client_id, day, ok, failed, offline) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (client_id, day) DO UPDATE SET ok = device_days.ok + excluded.ok, \
           failed = device_days.failed + excluded.failed, offline = device_days.offline + excluded.offline",
        args![client.as_str(), today.as_str(), ok, failed, offline],
    )?;
    let oldest = fieldsync_protocol::time::pricing_day(now_ms - (DEVICE_DAYS_KEPT - 1) * DAY_MS);
    tx.execute("DELETE FROM device_days WHERE client_id = ?1 AND day < ?2", args![client.as_str(), oldest.as_str()])?;
    Ok(())
}

/// Every device that reported, least healthy first, then by user.
pub fn list(tx: &Tx<'_>, now_ms: i64) -> Result<Vec<Device>, AppError> {
    let since = fieldsync_protocol::time::pricing_day(now_ms - (RATE_DAYS - 1) * DAY_MS);
    let rows = tx.query(
        "SELECT coalesce(u.username, d.user_id), d.client_id, \
                (SELECT s.host_name FROM sessions s WHERE s.client_id = d.client_id ORDER BY s.created_at_ms DESC LIMIT 1), \
                d.app_version, d.last_report_ms, d.last_ok_ms, d.pending, d.last_error, \
                coalesce(w.ok, 0), coalesce(w.failed, 0), coalesce(w.offline, 0) \
         FROM devices d LEFT JOIN users u ON u.id = d.user_id \
         LEFT JOIN (SELECT client_id, CAST(sum(ok) AS BIGINT) AS ok, CAST(sum(failed) AS BIGINT) AS failed, \
                           CAST(sum(offline) AS BIGINT) AS offline \
                    FROM device_days WHERE day >= ?1 GROUP BY client_id) w ON w.client_id = d.client_id",
        args![since.as_str()],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<Option<String>>(2)?,
                r.get::<Option<String>>(3)?,
                r.get::<i64>(4)?,
                r.get::<Option<i64>>(5)?,
                r.get::<i64>(6)?,
                r.get::<Option<String>>(7)?,
                (r.get::<i64>(8)?, r.get::<i64>(9)?, r.get::<i64>(10)?),
            ))
        },
    )?;
    let time = fieldsync_protocol::time::rfc3339_ms;
    let mut devices: Vec<Device> = rows
        .into_iter()
        .map(|(user, client_id, device, app_version, report_ms, ok_ms, pending, last_error, (ok, failed, offline))| {
            let success_rate = (ok + failed > 0).then(|| ok as f64 / (ok + failed) as f64);
            let fresh = ok_ms.is_some_and(|t| now_ms - t < STALE_DAYS * DAY_MS);
            Device {
                user,
                client_id,
                device,
                app_version,
                last_report_at: time(report_ms),
                last_ok_at: ok_ms.map(time),
                pending,
                ok,
                failed,
                offline,
                success_rate,
                last_error,
                healthy: fresh && success_rate.is_none_or(|r| r >= HEALTHY_RATE),
            }
        })
        .collect();
    devices.sort_by(|a, b| a.healthy.cmp(&b.healthy).then_with(|| a.user.cmp(&b.user)));
    Ok(devices)
}

/// The fleet's share of successful syncs over [`RATE_DAYS`] (offline attempts excluded),
/// and how many devices are healthy and unhealthy: what `/metrics` exports.
pub fn fleet(devices: &[Device]) -> (Option<f64>, usize, usize) {
    let (ok, failed) = devices.iter().fold((0, 0), |(o, f), d| (o + d.ok, f + d.failed));
    let rate = (ok + failed > 0).then(|| ok as f64 / (ok + failed) as f64);
    let healthy = devices.iter().filter(|d| d.healthy).count();
    (rate, healthy, devices.len() - healthy)
}

//! The manager's desk: the team's week in numbers, bulk review and a CSV of the orders.
//! Every figure comes from an aggregating query on the local store (grouped and sorted in
//! SQL, never a scan of rows in the UI), so the dashboard works offline and stays fast on
//! a large team.

use fieldsync_protocol::wire::TeamDevice;
use serde::Serialize;
use serde_json::Value;

use crate::error::{ClientError, Result};
use crate::workflows::ReviewFilter;
use crate::{Engine, Object};

/// Weeks the dashboard covers, this one included.
pub const WEEKS: usize = 8;
/// Customers in the top list.
pub const TOP_CUSTOMERS: usize = 10;
/// Order states that count as taken business (drafts and cancellations do not).
pub const TAKEN: [&str; 3] = ["submitted", "approved", "delivered"];
/// How often a manager's sync refreshes the team's laptop list.
pub const TEAM_DEVICES_REFRESH_MS: i64 = 5 * 60 * 1000;

/// One rep's activity per week, aligned with [`Dashboard::weeks`].
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct RepWeeks {
    pub rep: String,
    #[ts(type = "number[]")]
    pub orders: Vec<i64>,
    #[ts(type = "number[]")]
    pub revenue_cents: Vec<i64>,
    #[ts(type = "number[]")]
    pub visits: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct TopCustomer {
    pub customer_id: String,
    pub customer: String,
    #[ts(type = "number")]
    pub orders: i64,
    #[ts(type = "number")]
    pub revenue_cents: i64,
}

/// A team laptop as the server last reported it (see `GET /v1/team/devices`).
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Laptop {
    pub user: String,
    pub device: Option<String>,
    pub app_version: Option<String>,
    pub last_seen_at: String,
    /// Changes of this user the server refused in the last week.
    #[ts(type = "number")]
    pub rejected_recently: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Dashboard {
    /// Mondays of the weeks covered, oldest first (`YYYY-MM-DD`).
    pub weeks: Vec<String>,
    /// Every rep of the team, by name, with zeros for quiet weeks.
    pub reps: Vec<RepWeeks>,
    /// Orders waiting for review, and their value.
    #[ts(type = "number")]
    pub open_reviews: i64,
    #[ts(type = "number")]
    pub open_review_cents: i64,
    /// Best customers of the period by revenue.
    pub top_customers: Vec<TopCustomer>,
    /// The team's laptops, as of `laptops_as_of` (none before the first sync that
    /// fetched them).
    pub laptops: Vec<Laptop>,
    pub laptops_as_of: Option<String>,
    /// The currency of every amount, when all price lists here share one; `None` when they
    /// mix currencies (the sums then add different money) or there are none.
    pub currency: Option<String>,
}

/// What a bulk review did.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct BulkReview {
    #[ts(type = "number")]
    pub reviewed: usize,
}

fn int(o: &Object, k: &str) -> i64 {
    o.get(k).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f.round() as i64))).unwrap_or(0)
}

fn text(o: &Object, k: &str) -> String {
    o.get(k).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Revenue per order: its lines, each rounded to the cent as the server computes it.
fn order_totals() -> String {
    format!(
        "SELECT order_id, sum({}) AS total FROM order_lines GROUP BY order_id",
        fieldsync_sqlkit::pricing::LINE_TOTAL_SQL
    )
}

impl Engine {
    /// The manager's dashboard for the [`WEEKS`] weeks up to `today` (`YYYY-MM-DD`).
    pub fn dashboard(&self, today: &str) -> Result<Dashboard> {
        let store = self.store();
        // Monday of this week, and the Monday WEEKS-1 weeks before.
        let monday = |offset_days: i64| -> Result<String> {
            let rows = store.query(
                "SELECT date(?1, 'weekday 0', '-6 days', printf('%d days', ?2)) AS d",
                &[&today, &offset_days],
            )?;
            Ok(rows.first().map(|r| text(r, "d")).unwrap_or_default())
        };
        let mut weeks = Vec::with_capacity(WEEKS);
        for w in (0..WEEKS as i64).rev() {
            weeks.push(monday(-7 * w)?);
        }
        let first = weeks.first().cloned().unwrap_or_default();
        let slot = |week: &str| weeks.iter().position(|w| w == week);
        let taken = TAKEN.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
        let order_totals = order_totals();

        let mut reps: Vec<RepWeeks> = store
            .query("SELECT username FROM users WHERE role = 'rep' ORDER BY username", &[])?
            .iter()
            .map(|r| RepWeeks {
                rep: text(r, "username"),
                orders: vec![0; WEEKS],
                revenue_cents: vec![0; WEEKS],
                visits: vec![0; WEEKS],
            })
            .collect();
        let row_of = |reps: &mut Vec<RepWeeks>, rep: String| -> usize {
            match reps.iter().position(|r| r.rep == rep) {
                Some(i) => i,
                None => {
                    reps.push(RepWeeks {
                        rep,
                        orders: vec![0; WEEKS],
                        revenue_cents: vec![0; WEEKS],
                        visits: vec![0; WEEKS],
                    });
                    reps.len() - 1
                }
            }
        };
        let orders = store.query(
            &format!(
                "SELECT coalesce(u.username, o.rep_id) AS rep, date(o.order_date, 'weekday 0', '-6 days') AS week, \
                        count(*) AS orders, coalesce(sum(t.total), 0) AS revenue \
                 FROM orders o LEFT JOIN users u ON u.id = o.rep_id LEFT JOIN ({order_totals}) t ON t.order_id = o.id \
                 WHERE o.status IN ({taken}) AND o.order_date >= ?1 AND o.order_date <= ?2 \
                 GROUP BY rep, week ORDER BY rep, week"
            ),
            &[&first, &today],
        )?;
        for r in &orders {
            let Some(w) = slot(&text(r, "week")) else { continue };
            let i = row_of(&mut reps, text(r, "rep"));
            reps[i].orders[w] = int(r, "orders");
            reps[i].revenue_cents[w] = int(r, "revenue");
        }
        let visits = store.query(
            "SELECT coalesce(u.username, v.rep_id) AS rep, date(substr(v.visited_at, 1, 10), 'weekday 0', '-6 days') AS week, \
                    count(*) AS visits \
             FROM visits v LEFT JOIN users u ON u.id = v.rep_id \
             WHERE substr(v.visited_at, 1, 10) >= ?1 AND substr(v.visited_at, 1, 10) <= ?2 \
             GROUP BY rep, week ORDER BY rep, week",
            &[&first, &today],
        )?;
        for r in &visits {
            let Some(w) = slot(&text(r, "week")) else { continue };
            let i = row_of(&mut reps, text(r, "rep"));
            reps[i].visits[w] = int(r, "visits");
        }

        let open = store.query(
            &format!(
                "SELECT count(*) AS n, coalesce(sum(t.total), 0) AS cents FROM orders o \
                 LEFT JOIN ({order_totals}) t ON t.order_id = o.id WHERE o.status = 'submitted'"
            ),
            &[],
        )?;
        let top = store.query(
            &format!(
                "SELECT o.customer_id, coalesce(c.name, o.customer_id) AS customer, count(*) AS orders, \
                        coalesce(sum(t.total), 0) AS revenue \
                 FROM orders o LEFT JOIN customers c ON c.id = o.customer_id LEFT JOIN ({order_totals}) t ON t.order_id = o.id \
                 WHERE o.status IN ({taken}) AND o.order_date >= ?1 AND o.order_date <= ?2 \
                 GROUP BY o.customer_id ORDER BY revenue DESC, customer LIMIT ?3"
            ),
            &[&first, &today, &(TOP_CUSTOMERS as i64)],
        )?;
        let (laptops, laptops_as_of) = self.cached_team_devices()?;
        let currencies =
            self.store.query("SELECT DISTINCT currency FROM price_lists WHERE currency IS NOT NULL", &[])?;
        let currency = match currencies.as_slice() {
            [only] => Some(text(only, "currency")),
            _ => None,
        };
        Ok(Dashboard {
            currency,
            weeks,
            reps,
            open_reviews: open.first().map_or(0, |r| int(r, "n")),
            open_review_cents: open.first().map_or(0, |r| int(r, "cents")),
            top_customers: top
                .iter()
                .map(|r| TopCustomer {
                    customer_id: text(r, "customer_id"),
                    customer: text(r, "customer"),
                    orders: int(r, "orders"),
                    revenue_cents: int(r, "revenue"),
                })
                .collect(),
            laptops,
            laptops_as_of,
        })
    }

    fn cached_team_devices(&self) -> Result<(Vec<Laptop>, Option<String>)> {
        let Some(json) = self.store().meta("team_devices")? else { return Ok((Vec::new(), None)) };
        let devices: Vec<TeamDevice> = serde_json::from_str(&json).unwrap_or_default();
        let as_of = self
            .store()
            .meta("team_devices_at_ms")?
            .and_then(|ms| ms.parse::<i64>().ok())
            .map(fieldsync_protocol::time::rfc3339_ms);
        let laptops = devices
            .into_iter()
            .map(|d| Laptop {
                user: d.user,
                device: d.device,
                app_version: d.app_version,
                last_seen_at: d.last_seen_at,
                rejected_recently: d.rejected_recently,
            })
            .collect();
        Ok((laptops, as_of))
    }

    /// Approves or rejects several submitted orders with one comment. Checks them all
    /// first: if any is not waiting for review, nothing is done and the error names it.
    pub fn review_many(&mut self, order_ids: &[String], approve: bool, comment: Option<&str>) -> Result<BulkReview> {
        if order_ids.is_empty() {
            return Err(ClientError::BadInput("Select the orders to review first.".into()));
        }
        for id in order_ids {
            let order = self.get("orders", id)?;
            if order.get("status").and_then(Value::as_str) != Some("submitted") {
                let customer = order.get("customer_id").and_then(Value::as_str).unwrap_or_default();
                let name = self
                    .get("customers", customer)
                    .ok()
                    .and_then(|c| c.get("name").and_then(Value::as_str).map(String::from))
                    .unwrap_or_else(|| "a customer".into());
                return Err(ClientError::BadInput(format!(
                    "The order for {name} of {} is {}, not waiting for review; leave it out and try again.",
                    order.get("order_date").and_then(Value::as_str).unwrap_or_default(),
                    order.get("status").and_then(Value::as_str).unwrap_or("unknown"),
                )));
            }
        }
        for id in order_ids {
            self.review(id, approve, comment)?;
        }
        Ok(BulkReview { reviewed: order_ids.len() })
    }

    /// The orders matching `filter` as CSV (date, rep, customer, status, lines, total,
    /// flags), for a spreadsheet. Works offline from the local store.
    pub fn orders_csv(&self, filter: &ReviewFilter) -> Result<String> {
        let rows = self.review_queue(filter)?;
        let mut out = String::from("number,order_date,rep,customer,status,lines,total,flags,order_id\n");
        let cell = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        for r in rows {
            out.push_str(&format!(
                "{},{},{},{},{},{},{}.{:02},{},{}\n",
                cell(r.number.as_deref().unwrap_or_default()),
                cell(&r.order_date),
                cell(&r.rep),
                cell(&r.customer),
                cell(&r.status),
                r.lines,
                r.total_cents / 100,
                r.total_cents % 100,
                cell(r.flags.as_deref().unwrap_or_default()),
                r.id
            ));
        }
        Ok(out)
    }
}

//! Bench data: one territory, one rep, N customers with varied, realistic-looking fields,
//! written straight into a server database (setting up is not what is measured).

use std::path::Path;
use std::time::Instant;

use fieldsync_protocol::{Registry, Role};
use fieldsync_server::{RunningServer, ServerConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-password";

const WORDS: &[&str] = &[
    "Alpine", "Baltic", "Cedar", "Delta", "Eagle", "Fjord", "Granite", "Harbor", "Iris", "Juniper", "Kestrel",
    "Linden", "Maple", "Nordic", "Oak", "Pine", "Quartz", "Raven", "Spruce", "Tundra", "Umber", "Valley", "Willow",
];
const KINDS: &[&str] = &["Market", "Grocers", "Pharmacy", "Hardware", "Foods", "Trading", "Supplies", "Kiosk"];

pub struct Dataset {
    pub dir: tempfile::TempDir,
}

impl Dataset {
    pub fn create(customers: usize) -> anyhow::Result<Dataset> {
        let dir = tempfile::tempdir()?;
        let db = fieldsync_server::db::Db::open(
            &fieldsync_server::db::Location::Sqlite(dir.path().into()),
            &fieldsync_protocol::Registry::standard(),
            &[],
        )?;
        Self::fill_db(&db, customers)?;
        Ok(Dataset { dir })
    }

    /// Writes the bench territory, `customers` customers and the bench user into `db`
    /// (either backend).
    pub fn fill_db(db: &fieldsync_server::db::Db, customers: usize) -> anyhow::Result<()> {
        let reg = Registry::standard();
        db.write_blocking(|tx| fill(tx, &reg, customers))
    }

    pub async fn start(&self) -> anyhow::Result<RunningServer> {
        fieldsync_server::start(ServerConfig::new(self.dir.path()), "127.0.0.1:0".parse()?).await
    }
}

/// One bench territory with `customers` customers, and the bench user.
fn fill(tx: &fieldsync_server::sql::Tx<'_>, reg: &Registry, customers: usize) -> anyhow::Result<()> {
    let def = |name: &str| reg.get(name).copied().ok_or_else(|| anyhow::anyhow!("no {name}"));
    let territory = uuid::Uuid::now_v7().to_string();
    let territories = def("territories")?;
    let bench = serde_json::json!({"code": "BENCH", "name": "Bench"});
    let by_name = |v: &Value| v.as_object().cloned().unwrap_or_default();
    fieldsync_server::records::upsert_object(tx, &territories, &territory, &by_name(&bench))?;
    let customers_def = def("customers")?;
    let mut rng = StdRng::seed_from_u64(1);
    for i in 0..customers {
        let name = format!(
            "{} {} {}",
            WORDS[rng.gen_range(0..WORDS.len())],
            KINDS[rng.gen_range(0..KINDS.len())],
            rng.gen_range(1..10_000)
        );
        let record = serde_json::json!({
            "code": format!("CB-{i:07}"),
            "name": name,
            "territory_id": territory,
            "phone": format!("+47 {:08}", rng.gen_range(10_000_000..99_999_999)),
            "email": format!("buyer{i}@shop{}.example", rng.gen_range(0..5_000)),
            "city": format!("City {}", rng.gen_range(0..300)),
            "credit_limit_cents": rng.gen_range(1..50) * 100_000,
        });
        // By field name: a field added to the registry is simply null here.
        let id = uuid::Uuid::now_v7().to_string();
        fieldsync_server::records::upsert_object(tx, &customers_def, &id, &by_name(&record))?;
    }
    fieldsync_server::admin::save_user(tx, reg, USER, Role::Rep, &["BENCH".to_string()], None, PASSWORD)?;
    Ok(())
}

/// Rows/s of a plain prepared-statement insert of the customers in `client_db` into a
/// fresh database with the same schema, in one transaction: the ceiling for a first sync.
pub fn raw_insert_rate(client_db: &Path) -> anyhow::Result<f64> {
    let src = rusqlite::Connection::open(client_db)?;
    let mut stmt = src.prepare("SELECT * FROM customers ORDER BY id")?;
    let cols = stmt.column_count();
    let rows: Vec<Vec<rusqlite::types::Value>> = stmt
        .query_map([], |r| (0..cols).map(|i| r.get::<_, rusqlite::types::Value>(i)).collect())?
        .collect::<Result<_, _>>()?;
    // The exact schema of a client store (tables and indexes), empty.
    let dir = tempfile::tempdir()?;
    drop(fieldsync_client::Store::open(dir.path(), std::sync::Arc::new(Registry::standard()), &[])?);
    let mut dst = fieldsync_sqlkit::open(&dir.path().join("fieldsync.db"))?;
    let started = Instant::now();
    let tx = dst.transaction()?;
    {
        let params = (1..=cols).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let mut insert = tx.prepare(&format!("INSERT INTO customers VALUES ({params})"))?;
        for row in &rows {
            insert.execute(rusqlite::params_from_iter(row))?;
        }
    }
    tx.commit()?;
    Ok(rows.len() as f64 / started.elapsed().as_secs_f64())
}

/// What users type into the customer search: the first letters of a name, a part from
/// inside a name ("arma" of "Pharmacy"), a number from a name or code ("4711"), or two
/// words ("kiosk 12").
pub fn search_queries(n: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(2);
    (0..n)
        .map(|i| match i % 4 {
            0 => {
                let w = WORDS[rng.gen_range(0..WORDS.len())];
                w[..rng.gen_range(1..=4.min(w.len()))].to_lowercase()
            }
            1 => {
                let k = KINDS[rng.gen_range(0..KINDS.len())];
                let from = rng.gen_range(1..k.len() - 2);
                k[from..from + 3].to_lowercase()
            }
            2 => rng.gen_range(1..10_000).to_string(),
            _ => format!("{} {}", KINDS[rng.gen_range(0..KINDS.len())].to_lowercase(), rng.gen_range(1..100)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The benches (and the acceptance checks that run them) start from this data: it must
    /// follow the registry as fields are added.
    #[test]
    fn the_bench_data_set_is_written_whatever_fields_customers_have() {
        let data = Dataset::create(5).unwrap();
        let db = rusqlite::Connection::open(data.dir.path().join("fieldsync.db")).unwrap();
        let codes: Vec<String> = db
            .prepare("SELECT code FROM customers ORDER BY code")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(codes, ["CB-0000000", "CB-0000001", "CB-0000002", "CB-0000003", "CB-0000004"]);
    }
}

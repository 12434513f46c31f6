//! `scripts/demo-company.sh` builds a company from the CSV files in examples/company/ with
//! the import command only (plus users): its reps and managers then sync exactly their
//! territories' share, and running the script again changes nothing.

use fieldsync_client::{Engine, EngineOptions};
use fieldsync_server::ServerConfig;

use crate::support::{off_runtime, workspace_bin};

fn run_script(data: &std::path::Path) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/demo-company.sh"))
        .arg(data)
        .env("FIELDSYNC_SERVER_BIN", workspace_bin("fieldsync-server"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_company_loads_through_import_and_each_rep_gets_their_territory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("company");
    let first = off_runtime(|| run_script(&data));
    assert!(first.contains("customers: 5000 rows read; 5000 created"), "{first}");
    assert!(first.contains("products: 2000 rows read; 2000 created"), "{first}");
    let again = off_runtime(|| run_script(&data));
    for line in again.lines().filter(|l| l.contains("rows read")) {
        assert!(line.contains("0 created, 0 updated"), "a second run changes nothing: {line}");
    }

    let server = fieldsync_server::start(ServerConfig::new(&data), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let sign_in = |user: &'static str| {
        let url = server.url();
        async move {
            let profile = tempfile::tempdir().unwrap();
            let mut engine = Engine::open_with(profile.path(), EngineOptions::default()).unwrap();
            engine.login(&url, user, "company-demo").await.unwrap();
            engine.sync(&mut |_| {}).await.unwrap();
            (engine, profile)
        }
    };
    let (rep, _p1) = sign_in("rep01").await;
    let count = |e: &Engine, entity: &str| e.store().count(entity).unwrap();
    // rep01 covers NORTH: every third customer, six of the eight categories.
    assert_eq!(count(&rep, "customers"), 1667);
    assert_eq!(count(&rep, "products"), 1500);
    assert_eq!(count(&rep, "price_list_items"), 3000);
    assert_eq!(count(&rep, "inventory_levels"), 4500);
    assert_eq!(count(&rep, "territories"), 1);
    // mgr.north manages the NORTH reps and two CENTRAL ones: both territories.
    let (manager, _p2) = sign_in("mgr.north").await;
    assert_eq!(count(&manager, "customers"), 1667 + 1667);
    assert_eq!(count(&manager, "users"), 7, "the manager and six reps");
    server.stop().await;
}

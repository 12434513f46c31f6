//! Replicas follow the server's history: a server restored from a backup gets back every
//! change a laptop still holds, a database replaced by another is downloaded afresh, a
//! copied profile cannot let its older edit win, and a delete that discards an edit its
//! author never saw is a conflict that can be undone. Each case ends with every profile
//! equal to a fresh download.

use crate::support::{TestClient, TestServer};

fn phone(client: &TestClient, customer: &str) -> String {
    client.get("customers", customer).and_then(|c| c["phone"].as_str().map(String::from)).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_restored_from_a_backup_gets_back_every_change_a_laptop_still_holds() {
    let mut srv = TestServer::demo().await;
    let (mut rep1, mut rep2) = (srv.client("rep1").await, srv.client("rep2").await);
    rep1.sync().await;
    rep2.sync().await;
    let customers = rep1.ids("customers");
    let backup = srv.backup();

    // Acknowledged after the backup: lost by the restore, still held by rep1's laptop.
    rep1.set("customers", &customers[0], &[("phone", "+47 after-backup")]);
    let contact = rep1.create("contacts", &[("customer_id", &customers[0]), ("name", "After Backup")]);
    let visit = rep1.create("visits", &[("customer_id", &customers[1]), ("notes", "after the backup")]);
    let report = rep1.sync().await;
    assert_eq!(report.applied, 3);

    let before = rep2.engine.store().cursor().unwrap();
    let said = srv.restore(&backup).await;
    assert!(said.contains("history epoch 2 begins"), "one restore, one new epoch: {said}");
    let refused = srv.get_json("rep2", &format!("/v1/pull?cursor={before}")).await;
    assert_eq!(refused["error"]["code"], "history_changed", "{refused}");

    // rep1 edits more before it next syncs; rep2 makes 10 edits of its own.
    rep1.set("customers", &customers[1], &[("phone", "+47 pending-1")]);
    rep1.set("customers", &customers[2], &[("phone", "+47 pending-2")]);
    for i in 0..10 {
        rep2.set("customers", &customers[3 + i % 4], &[("notes", &format!("rep2 edit {i}"))]);
    }
    rep2.sync().await;
    let report = rep1.sync().await;
    assert_eq!(report.resent, 3, "the three acknowledged changes are sent again: {report:?}");
    assert_eq!(report.rejected, 0, "{report:?}");
    rep1.sync().await;
    rep2.sync().await;

    assert_eq!(phone(&rep2, &customers[0]), "+47 after-backup", "an acknowledged edit came back");
    assert!(rep2.get("contacts", &contact).is_some(), "an acknowledged contact came back");
    assert!(rep1.get("visits", &visit).is_some() && phone(&rep2, &customers[2]) == "+47 pending-2");
    assert_eq!(rep1.get("customers", &customers[4]).unwrap()["notes"], "rep2 edit 9", "rep1 missed none of rep2's");
    srv.assert_matches_fresh_download(&rep1, "after a restore").await;
    srv.assert_matches_fresh_download(&rep2, "after a restore").await;

    // Sent again means applied once: nothing changes on a further sync.
    assert_eq!(rep1.sync().await.pushed, 0);
    assert_eq!(rep2.list("contacts").iter().filter(|c| c["name"] == "After Backup").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_put_back_by_hand_is_caught_when_the_server_starts() {
    let mut srv = TestServer::demo().await;
    if srv.config.database_url.is_some() {
        // PostgreSQL keeps no mark beside its data; its route back in time is pg_restore
        // followed by `restore --in-place` (the test above, on PostgreSQL).
        return;
    }
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let customer = rep1.ids("customers")[0].clone();
    let backup = srv.backup();
    rep1.set("customers", &customer, &[("phone", "+47 copied over")]);
    rep1.sync().await;

    // IT copies the backup over the database instead of running `restore`.
    let addr = srv.stop_server().await;
    let db = fieldsync_server::db::db_path(&srv.config.data_dir);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    std::fs::copy(&backup, &db).unwrap();
    srv.restart_server(addr).await;

    let report = rep1.sync().await;
    assert_eq!(report.resent, 1, "{report:?}");
    let mut rep2 = srv.client("rep2").await;
    rep2.sync().await;
    assert_eq!(phone(&rep2, &customer), "+47 copied over");
    srv.assert_matches_fresh_download(&rep1, "after a copy over the database").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_replaced_by_another_is_downloaded_afresh_keeping_pending_edits() {
    let mut srv = TestServer::demo().await;
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let old_orders = rep1.list("orders").len();
    assert!(old_orders > 0);
    let customer = rep1.ids("customers")[0].clone();
    let old_contact = rep1.create("contacts", &[("customer_id", &customer), ("name", "Old Company Contact")]);
    rep1.sync().await;
    rep1.set("customers", &customer, &[("phone", "+47 pending")]);

    // The same address now serves another database: re-created and seeded anew.
    let addr = srv.stop_server().await;
    match srv.config.database_url.as_mut() {
        Some(url) => *url = crate::support::fresh_postgres_database().unwrap(),
        None => std::fs::remove_dir_all(&srv.config.data_dir).unwrap(),
    }
    let config = srv.config.clone();
    crate::support::off_runtime(|| {
        let db = fieldsync_server::db::Db::open(&config.location(), &config.registry, &[]).unwrap();
        db.write_blocking(|tx| fieldsync_server::seed::seed_demo(tx, &config.registry)).unwrap();
    });
    srv.restart_server(addr).await;

    let url = srv.url.clone();
    rep1.engine.login(&url, "rep1", "demo").await.expect("sign in again");
    rep1.sync().await;
    srv.assert_matches_fresh_download(&rep1, "after the database was replaced").await;
    assert!(rep1.get("contacts", &old_contact).is_none(), "nothing of the old database is left or sent again");
    // The demo seed gives the new database the same customer ids: the pending edit applies.
    assert_eq!(phone(&rep1, &customer), "+47 pending", "the pending edit was kept and sent");
    assert!(rep1.engine.attention().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copied_profile_cannot_let_its_older_edit_win() {
    let srv = TestServer::demo().await;
    let mut original = srv.client("rep1").await;
    original.sync().await;
    let customer = original.ids("customers")[0].clone();

    // The profile directory, copied to a second laptop.
    let copy_dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(original.profile()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy_dir.path().join(entry.file_name())).unwrap();
    }
    let opts = fieldsync_client::EngineOptions { clock: srv.clock.clone(), ..Default::default() };
    let mut copy = TestClient {
        engine: fieldsync_client::Engine::open_with(copy_dir.path(), opts).unwrap(),
        dir: copy_dir,
        user: "rep1".into(),
    };

    copy.set("customers", &customer, &[("phone", "OLDER")]);
    srv.clock.advance(2_000);
    original.set("customers", &customer, &[("phone", "NEWER")]);
    original.sync().await;
    let refused = copy.engine.sync(&mut |_| {}).await.expect_err("the copy's push is refused");
    assert!(matches!(refused, fieldsync_client::ClientError::NotSignedIn(_)), "{refused:?}");
    assert!(refused.to_string().contains("sign in again"), "{refused}");
    assert_eq!(copy.engine.status().unwrap().pending, 1, "the copy's edit is kept");

    // Signed in again, the copy is a laptop of its own: its older edit loses, visibly.
    copy.engine.login(&srv.url, "rep1", "demo").await.unwrap();
    copy.sync().await;
    original.sync().await;
    assert_eq!(phone(&original, &customer), "NEWER");
    assert_eq!(phone(&copy, &customer), "NEWER");
    let conflicts = original.engine.conflicts().unwrap();
    assert!(
        conflicts.iter().any(|c| c.field == "phone" && c.overwritten == "OLDER" && c.kept == "NEWER"),
        "{conflicts:?}"
    );
    srv.assert_matches_fresh_download(&copy, "the copy").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_that_discards_an_unseen_edit_is_a_conflict_that_can_be_restored() {
    let srv = TestServer::demo().await;
    let (mut rep1, mut rep2) = (srv.client("rep1").await, srv.client("rep2").await);
    rep1.sync().await;
    rep2.sync().await;
    let contact = rep1.list("contacts").into_iter().find(|c| rep2.get("contacts", c["id"].as_str().unwrap()).is_some());
    let contact = contact.expect("a contact both reps see")["id"].as_str().unwrap().to_string();

    rep1.set("contacts", &contact, &[("phone", "+47 edited by rep1")]);
    rep1.sync().await;
    // rep2 never saw that edit when it deleted the contact.
    rep2.engine.delete("contacts", &contact).unwrap();
    assert_eq!(rep2.sync().await.applied, 1);
    rep1.sync().await;
    assert!(rep1.get("contacts", &contact).is_none());
    let conflicts = rep1.engine.conflicts().unwrap();
    let lost = conflicts.iter().find(|c| c.id == contact).unwrap_or_else(|| panic!("no conflict: {conflicts:?}"));
    assert_eq!(lost.field, fieldsync_protocol::wire::DELETED_RECORD);
    assert_eq!(lost.overwritten["phone"], "+47 edited by rep1");
    assert_eq!((lost.kept_by.as_str(), lost.overwritten_by.as_str()), ("rep2", "rep1"));

    // One action brings the contact back, as it was.
    rep1.engine.restore_conflict(&lost.conflict_id).unwrap();
    rep1.sync().await;
    rep2.sync().await;
    let back: Vec<_> = rep2.list("contacts").into_iter().filter(|c| c["phone"] == "+47 edited by rep1").collect();
    assert_eq!(back.len(), 1, "the contact is back for everyone");

    // A delete after seeing the edit is no conflict.
    let again = back[0]["id"].as_str().unwrap().to_string();
    rep2.engine.delete("contacts", &again).unwrap();
    rep2.sync().await;
    rep1.sync().await;
    assert!(!rep1.engine.conflicts().unwrap().iter().any(|c| c.id == again));
    srv.assert_matches_fresh_download(&rep1, "after the delete").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_started_again_on_its_data_keeps_its_address() {
    let dir = tempfile::tempdir().unwrap();
    let config = fieldsync_server::ServerConfig::new(dir.path());
    let any_port: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let first = fieldsync_server::start(config.clone(), any_port).await.unwrap();
    let url = first.url();
    first.stop().await;
    let again = fieldsync_server::start(config.clone(), any_port).await.unwrap();
    assert_eq!(again.url(), url, "laptops keep the address they signed in to");
    // Taken meanwhile: any free port will do.
    let other = fieldsync_server::start(config, any_port).await.unwrap();
    assert_ne!(other.url(), url);
    other.stop().await;
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_online_backup_taken_during_pushes_is_whole_and_consistent() {
    let srv = TestServer::demo().await;
    if srv.config.database_url.is_some() {
        // PostgreSQL is backed up with pg_dump; the command says so.
        let (ok, _, err) = srv.server_cli(&["backup", "--to", "/tmp/never-written.db"]);
        assert!(!ok && err.contains("pg_dump"), "{err}");
        return;
    }
    let mut rep1 = srv.client("rep1").await;
    rep1.sync().await;
    let customers = rep1.ids("customers");
    // rep1 keeps pushing edits while the backup runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pushing = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut pushed = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || pushed < 20 {
                rep1.set("customers", &customers[pushed % customers.len()], &[("notes", &format!("edit {pushed}"))]);
                assert_eq!(rep1.sync().await.applied, 1, "a push during the backup went through");
                pushed += 1;
            }
            pushed
        }
    });
    let before = srv.head().await;
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("online.db");
    let file_arg = file.display().to_string();
    let (ok, out, err) = tokio::task::spawn_blocking({
        let args = srv.database_args();
        move || {
            let out = std::process::Command::new(crate::support::workspace_bin("fieldsync-server"))
                .args(args)
                .args(["backup", "--to", &file_arg])
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    })
    .await
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let pushed = pushing.await.unwrap();
    let after = srv.head().await;
    assert!(ok, "{out}{err}");
    assert!(pushed >= 20, "pushes went on: {pushed}");

    // The copy is whole, private, and a snapshot from within the backup's run.
    let copy = rusqlite::Connection::open(&file).unwrap();
    let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let head: i64 = copy.query_row("SELECT max(seq) FROM changes", [], |r| r.get(0)).unwrap();
    assert!(before <= head && head <= after, "{before} <= {head} <= {after}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o077, 0, "readable by its owner only");
    assert!(out.contains("restore --from"), "it says how to restore: {out}");

    // A second backup to the same name is refused rather than overwriting the first.
    let (ok, _, err) = srv.server_cli(&["backup", "--to", &file.display().to_string()]);
    assert!(!ok && err.contains("already exists"), "{err}");
}

//! No skipped changes: writers whose transactions are slow to commit, while a client
//! pulls continuously, never make the puller miss a change, with one server instance or
//! two on the same database (on PostgreSQL, the out-of-order-commit case: sequences hand
//! out seqs at insert time, not at commit).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::support::TestServer;

/// Every push stalls 0-60 ms between writing and committing, so commits interleave with
/// pulls in every possible way.
fn slow_commits(c: &mut fieldsync_server::ServerConfig) {
    c.before_commit = Some(Arc::new(|| std::thread::sleep(Duration::from_millis(rand::thread_rng().gen_range(0..60)))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_pulling_during_slow_concurrent_commits_receives_every_change() {
    let srv = TestServer::demo_with(slow_commits).await;
    hammer(&srv, std::slice::from_ref(&srv.url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_serve_every_change_while_clients_switch_between_them() {
    let srv = TestServer::demo_with(slow_commits).await;
    let second = srv.another_instance().await;
    hammer(&srv, &[srv.url.clone(), second.url()]).await;

    // Live updates cross instances: a long poll on the second instance wakes when a push
    // commits through the first.
    let mut reader = srv.client("rep2").await;
    let mut writer = srv.client("rep1").await;
    reader.use_instance(&second.url());
    reader.sync().await;
    writer.sync().await;
    let id = writer.ids("customers")[0].clone();
    let waiting = tokio::spawn(async move {
        // Far longer than the test may take: returning early means the change woke it.
        let report = reader.engine.wait_for_changes(60_000, &mut |_| {}).await.unwrap();
        (report, reader)
    });
    writer.set("customers", &id, &[("notes", "written through instance one")]);
    writer.sync().await;
    let (report, reader) = waiting.await.unwrap();
    assert_eq!(report.pulled, 1, "{report:?}");
    assert_eq!(reader.get("customers", &id).unwrap()["notes"], "written through instance one");
    second.stop().await;
}

/// Four writers create 15 visits each, syncing after each one, while a watcher pulls
/// continuously; every sync and pull goes to the next of `instances` in turn. The watcher
/// must end up with every visit.
async fn hammer(srv: &TestServer, instances: &[String]) {
    let mut watcher = srv.client("manager1").await;
    watcher.sync().await;

    let mut writers = Vec::new();
    for user in ["rep1", "rep2", "rep3", "manager1"] {
        let mut w = srv.client(user).await;
        w.sync().await;
        let instances = instances.to_vec();
        writers.push(tokio::spawn(async move {
            let customers = w.ids("customers");
            let me = w.my_id();
            let mut created = Vec::new();
            for (i, customer) in customers.iter().take(15).enumerate() {
                let when = format!("2026-11-25T10:{i:02}:00Z");
                created.push(w.create(
                    "visits",
                    &[("customer_id", customer), ("rep_id", &me), ("visited_at", &when), ("notes", "concurrency")],
                ));
                w.use_instance(&instances[i % instances.len()]);
                w.sync().await;
            }
            created
        }));
    }
    let mut pulls = 0;
    while !writers.iter().all(|w| w.is_finished()) {
        watcher.use_instance(&instances[pulls % instances.len()]);
        watcher.engine.pull(&mut |_| {}).await.unwrap();
        pulls += 1;
    }
    let mut expected = HashSet::new();
    for w in writers {
        expected.extend(w.await.unwrap());
    }
    // One more pull picks up what committed after the last loop iteration, from the
    // cursor; a skipped seq would never come back.
    watcher.engine.pull(&mut |_| {}).await.unwrap();
    let seen: HashSet<String> = watcher.ids("visits").into_iter().collect();
    let missing: Vec<_> = expected.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "after {pulls} concurrent pulls the watcher misses {} of {} visits",
        missing.len(),
        expected.len()
    );
    assert!(pulls > 1, "the watcher never pulled while writers were busy");
}

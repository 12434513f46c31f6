//! The server's tables on whichever backend the suite runs (SQLite, or PostgreSQL with
//! its own migration files) have exactly the registry's columns.

use fieldsync_protocol::Registry;
use fieldsync_server::args;
use fieldsync_server::sql::Backend;

use crate::support::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn entity_tables_match_the_registry_on_this_backend() {
    let srv = TestServer::demo().await;
    srv.with_db(|tx| {
        let sql = match tx.backend() {
            Backend::Sqlite => "SELECT name FROM pragma_table_info(?1)",
            Backend::Postgres => {
                "SELECT column_name::text FROM information_schema.columns WHERE table_name = ?1 ORDER BY ordinal_position"
            }
        };
        for e in Registry::standard().entities() {
            let cols: Vec<String> = tx.query(sql, args![e.name], |r| r.get(0)).unwrap();
            let want: Vec<String> = std::iter::once("id").chain(e.field_names()).map(String::from).collect();
            assert_eq!(cols, want, "table {} differs from its registry entry on {:?}", e.name, tx.backend());
        }
    });
}

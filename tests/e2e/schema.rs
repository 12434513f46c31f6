//! The server's tables on whichever backend the suite runs (SQLite, or PostgreSQL with
//! its own migration files) have exactly the registry's columns, each of the SQL type its
//! field type is stored as, and an index for every reference.

use fieldsync_protocol::{FieldType, Registry};
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

/// The SQL type a field of type `ty` is stored as on `backend`: integers are 64-bit
/// (`BIGINT` on PostgreSQL), booleans 0/1 integers, dates, times and ids text.
fn stored_as(backend: Backend, ty: FieldType) -> &'static str {
    match (backend, ty) {
        (Backend::Sqlite, FieldType::Int | FieldType::Bool) => "INTEGER",
        (Backend::Sqlite, FieldType::Real) => "REAL",
        (Backend::Sqlite, _) => "TEXT",
        (Backend::Postgres, FieldType::Int | FieldType::Bool) => "bigint",
        (Backend::Postgres, FieldType::Real) => "double precision",
        (Backend::Postgres, _) => "text",
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn entity_columns_have_their_field_types_and_every_reference_is_indexed() {
    let srv = TestServer::demo().await;
    srv.with_db(|tx| {
        let (types, indexed) = match tx.backend() {
            Backend::Sqlite => (
                "SELECT name, type FROM pragma_table_info(?1)",
                // The first column of each index on the table.
                "SELECT ii.name FROM pragma_index_list(?1) il, pragma_index_info(il.name) ii WHERE ii.seqno = 0",
            ),
            Backend::Postgres => (
                "SELECT column_name::text, data_type::text FROM information_schema.columns WHERE table_name = ?1",
                "SELECT a.attname::text FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] WHERE t.relname = ?1",
            ),
        };
        for e in Registry::standard().entities() {
            let found: std::collections::HashMap<String, String> =
                tx.query(types, args![e.name], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().into_iter().collect();
            assert_eq!(found.get("id").map(String::as_str), Some(stored_as(tx.backend(), FieldType::Text)));
            for f in e.fields {
                let want = stored_as(tx.backend(), f.ty);
                assert_eq!(
                    found.get(f.name).map(String::as_str),
                    Some(want),
                    "{}.{} should be stored as {want} on {:?}",
                    e.name,
                    f.name,
                    tx.backend()
                );
            }
            let leading: Vec<String> = tx.query(indexed, args![e.name], |r| r.get(0)).unwrap();
            for f in e.fields.iter().filter(|f| f.references().is_some()) {
                assert!(
                    leading.iter().any(|c| c == f.name),
                    "{}.{} refers to {} but no index starts with it on {:?}",
                    e.name,
                    f.name,
                    f.references().unwrap_or_default(),
                    tx.backend()
                );
            }
        }
    });
}

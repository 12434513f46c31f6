//! SQLite helpers shared by the Fieldsync client and server: numbered, checksummed
//! migrations, and conversion between registry-typed JSON values and SQL values, so that
//! both sides read and write entity tables through one generic path.

mod migrate;
pub mod pricing;
mod rows;

pub use migrate::{migrate, Migration, MigrationError};
pub use rows::{column_list, json_to_sql, sql_to_json, upsert_sql, EntityRow};

/// Opens (creating if needed) a SQLite database tuned for our workload: WAL journal,
/// NORMAL sync (durable at checkpoints, crash-safe), foreign keys off (the server checks
/// references itself so it can name them in errors), and a busy timeout for concurrent
/// writers.
pub fn open(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; \
         PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;",
    )?;
    Ok(conn)
}

/// The entity tables of the standard registry, applied on both server and client.
pub const ENTITY_MIGRATIONS: &[Migration] = &[Migration {
    set: "entities",
    version: 1,
    name: "standard_entities",
    sql: include_str!("../../../migrations/entities/001_standard_entities.sql"),
}];

#[cfg(test)]
mod schema_tests {
    use fieldsync_protocol::Registry;

    /// The migration and the registry must describe the same tables and columns.
    #[test]
    fn entity_tables_match_the_registry() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::migrate(&mut conn, crate::ENTITY_MIGRATIONS).unwrap();
        for e in Registry::standard().entities() {
            let mut stmt = conn.prepare(&format!("SELECT name FROM pragma_table_info('{}')", e.name)).unwrap();
            let cols: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
            let want: Vec<String> = std::iter::once("id").chain(e.field_names()).map(String::from).collect();
            assert_eq!(cols, want, "table {} differs from its registry entry", e.name);
        }
    }
}

//! SQLite helpers shared by the Fieldsync client and server: numbered, checksummed
//! migrations, and conversion between registry-typed JSON values and SQL values, so that
//! both sides read and write entity tables through one generic path.

mod migrate;
pub mod pricing;
mod rows;

pub use migrate::{checksum, migrate, run as run_migrations, Migration, MigrationError, MigrationTarget};
pub use rows::{column_list, json_to_sql, sql_to_json, upsert_sql, EntityRow};

/// Prepared statements each connection keeps compiled (rusqlite's default is 16).
pub const STATEMENT_CACHE: usize = 256;

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
    conn.create_scalar_function(
        "fold",
        1,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8 | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(ctx.get::<Option<String>>(0)?.map(|t| fold(&t))),
    )?;
    // A statement's text never holds a user's values, so the distinct statements are the
    // code's (per entity type and operation): keep them all compiled.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Text folded for comparing without case, beyond ASCII ("ÆRØ" and "ærø" fold alike),
/// which SQLite's `LIKE` and `lower` do not do. Connections from [`open`] have it as the
/// SQL function `fold(text)`.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// Makes `dir` (created if missing) a directory only its owner can enter (0700).
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(())
}

/// Makes the database at `path` and its WAL and shared-memory files readable by their
/// owner only (0600), creating the database file so if it does not exist yet (SQLite gives
/// the WAL files the database's mode). Existing files with looser modes are fixed.
///
/// An existing database is never opened here: closing any descriptor of a database file
/// drops every POSIX lock this process holds on it, including those of SQLite connections
/// already open in the process (a server, with an admin tool in the same process), and
/// another process could then check the WAL file out from under them.
pub fn private_database(path: &std::path::Path) -> std::io::Result<()> {
    if !path.exists() {
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        opts.open(path)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        private_file(&file)?;
    }
    Ok(())
}

/// Sets an existing file to 0600; a missing one is fine.
pub fn private_file(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    match std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    Ok(())
}

/// The entity tables of the standard registry, applied on both server and client.
pub const ENTITY_MIGRATIONS: &[Migration] = &[
    Migration {
        set: "entities",
        version: 1,
        name: "standard_entities",
        sql: include_str!("../../../migrations/entities/001_standard_entities.sql"),
    },
    Migration {
        set: "entities",
        version: 2,
        name: "erp_fields",
        sql: include_str!("../../../migrations/entities/002_erp_fields.sql"),
    },
    Migration {
        set: "entities",
        version: 3,
        name: "order_numbers",
        sql: include_str!("../../../migrations/entities/003_order_numbers.sql"),
    },
];

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
